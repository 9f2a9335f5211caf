"""MAGT's sensitivity to the training size n, the anchor count K and the level t [MAGT §5].

The paper's sensitivity figure: MAGT's W2 against ``n``, ``K`` and ``t`` on the six synthetic
datasets of :mod:`magt_theory.experiments.benchmark` (same constants, scale convention, W2
estimators and convergence check). One job = one ``(manifold, axis, level, seed)``: the
parameter ``axis`` (``"n"``, ``"K"`` or ``"t"``) takes the value ``<axis>_grid[level]`` and the
two others their base values ``n``, ``K``, ``t`` (a one-at-a-time sweep around the base
point). MAGT is trained once at ``t`` (no t selection: ``t`` is the swept or base level) on
``n`` jittered points with ``K`` anchors per step; with ``refine`` the same samples are also
refined by ``refine_steps`` DDIM steps from ``refine_t`` with a learned score network trained on
the same data (``method = "magt_ddim"``; the score network's ``score_steps`` default to
``steps``, the equal-budget convention).

Rows (``method`` in ``magt``, ``magt_ddim``): ``w2``, ``w2_sq``, ``w2_rel``, ``w2_noise_floor``
(plus ``w2_lower``/``w2_upper`` for the one-sample method), ``off_manifold_rate``,
``under_trained``, ``loss_rel_drop``, ``seconds_train``; the columns ``axis``, ``level`` and the
job's nominal ``n``, ``K``, ``t``.

Negative control (``control="growing_noise"``): the generated samples are replaced by exact
draws of the law plus ``N(0, s^2 I)`` with ``s = 0.1 diam (v / v_min)``, ``v`` the swept
variable's nominal value and ``v_min`` the smallest value of its grid (a generator whose error
is known to grow with the swept variable; the model is still trained, so the job's cost is
unchanged). The error then grows with ``n``, ``K`` and ``t``, so the rows "W2 decreases in n / in K" and "an interior t is best" of
:mod:`magt_theory.benchmark_claims` must turn ``inconsistent``; the tests show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..metrics import off_manifold_rate
from ._bench_data import (
    GEOMETRY_SCHEMA,
    SCALE_SCHEMA,
    W2_METHOD_SCHEMA,
    dataset_setup,
    jittered_sample,
    measure_w2,
)
from ._bench_methods import _convergence, _score, ddim_refine
from ._common import rows
from ._spec import Experiment, param

NAME = "sensitivity"

AXES = ("n", "K", "t")
CONTROLS = ("none", "growing_noise")

@dataclass(frozen=True)
class Params:
    """Parameters of one ``sensitivity`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('rings2d', 'manifold')
    seed: int = param(0, 'seed')
    geometry: dict | None = param(None, GEOMETRY_SCHEMA, grid=False)
    scale: str = param("native", SCALE_SCHEMA)
    axis: str = param("n", {"enum": list(AXES), "description": "the swept parameter"})
    level: int = param(0, {"type": "integer", "minimum": 0,
                           "description": "index into <axis>_grid"})
    n_grid: list[int] = param([1000, 3162, 10000], {"type": "array", "minItems": 1,
                                                    "items": {"$ref": "#/$defs/n"}}, grid=False)
    K_grid: list[int] = param([64, 256, 1024], {"type": "array", "minItems": 1,
                                                "items": {"$ref": "#/$defs/K"}}, grid=False)
    t_grid: list[float] = param([0.1, 0.3, 0.5, 0.7, 0.9], 't_list', grid=False)
    n: int = param(10000, 'n')
    K: int = param(1024, 'K')
    t: float = param(0.3, 'unit_open')
    jitter: float = param(0.02, 'jitter')
    n_gen: int = param(10000, 'n')
    w2_method: str = param("auto", W2_METHOD_SCHEMA)
    n_w2: int = param(4000, 'n')
    floor_repeats: int = param(4, {"type": "integer", "minimum": 2})
    threshold: float = param(0.1, 'posnum')
    width: int = param(512, 'posint')
    depth: int = param(5, 'posint')
    batch_size: int = param(256, 'posint')
    lr: float = param(0.001, 'lr')
    steps: int = param(4000, 'posint')
    plateau_tol: float = param(0.01, 'unit_open')
    refine: bool = param(True, {"type": "boolean"})
    refine_t: float = param(0.05, 'unit_open')
    refine_steps: int = param(5, 'posint')
    score_steps: int | None = param(None, {"oneOf": [{"type": "null"},
                                                     {"$ref": "#/$defs/posint"}]})
    control: str = param("none", {"enum": list(CONTROLS),
                                  "description": "negative control of the sensitivity claim rows"})


SPEC = Experiment(
    NAME, Params,
    claims=(
        "sensitivity_rows",
    ),
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()


def _validate(p: dict) -> None:
    """The checks the declared schema cannot express (``SPEC.resolve`` has checked each value
    against its field)."""
    grid = p[f"{p['axis']}_grid"]
    if not p["level"] < len(grid):
        raise ValueError(f"level must be an integer in [0, {len(grid) - 1}] (an index of "
                         f"{p['axis']}_grid); got {p['level']!r}")
    if p["n_w2"] > p["n_gen"]:
        raise ValueError(f"n_w2 must be <= n_gen = {p['n_gen']}; got {p['n_w2']}")


def run(params: dict):
    """Train MAGT at one sensitivity point and measure it (see the module docstring)."""
    import torch

    from ..models.magt import MAGT, MAGTConfig

    p = SPEC.resolve(params)
    _validate(p)
    M, c, diam, w2_method = dataset_setup(p)
    d, D = M.dim, M.ambient_dim
    axis, grid = p["axis"], list(p[f"{p['axis']}_grid"])
    point = {"n": int(p["n"]), "K": int(p["K"]), "t": float(p["t"])}
    point[axis] = grid[p["level"]]
    rng = np.random.default_rng([p["seed"], 0])
    data = jittered_sample(M, c, point["n"], p["jitter"], rng)
    cfg = MAGTConfig(latent_dim=d, t=float(point["t"]), n_anchors=int(point["K"]),
                     width=p["width"], depth=p["depth"], batch_size=p["batch_size"],
                     steps=p["steps"], lr=p["lr"], chunk_size=min(int(point["K"]), 1024),
                     seed=p["seed"])
    t0 = time.perf_counter()
    model = MAGT(cfg).fit(data, progress=False)
    secs = {"magt": time.perf_counter() - t0}
    hist = {"magt": [model.history_["loss"].to_numpy()]}
    samples = {"magt": model.sample(p["n_gen"], seed=p["seed"] + 1)}
    if p["refine"]:
        t0 = time.perf_counter()
        # the benchmark's ReLU score network (magt_ddim), ``score_steps`` defaulting to ``steps``
        net = _score(data, dict(p, score_steps=p["score_steps"] or p["steps"]))
        with torch.no_grad():
            out = ddim_refine(net, samples["magt"], p["refine_t"], p["refine_steps"],
                              np.random.default_rng([p["seed"], 2]))
        samples["magt_ddim"] = np.asarray(out.samples, dtype=np.float64)
        secs["magt_ddim"] = secs["magt"] + time.perf_counter() - t0
        hist["magt_ddim"] = hist["magt"] + [net.train_losses_]
    if p["control"] == "growing_noise":
        s = 0.1 * diam * float(point[axis]) / float(min(grid))
        crng = np.random.default_rng([p["seed"], 3])
        exact = c * M.sample(p["n_gen"], crng)
        samples = {k: exact + s * crng.standard_normal(exact.shape) for k in samples}

    base = {"experiment": NAME, "manifold": p["manifold"], "d": d, "D": D, "seed": p["seed"],
            "axis": axis, "level": int(p["level"]), "n": int(point["n"]), "K": int(point["K"]),
            "t": float(point["t"]), "control": p["control"], "scale": str(p["scale"])}
    out = []
    for method, x in samples.items():
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise FloatingPointError(f"sensitivity: {method} produced non-finite samples")
        meas = measure_w2(x, M, c, w2_method, p, np.random.default_rng([p["seed"], 1]))
        meas += [("w2_rel", meas[0][1] / diam),
                 ("off_manifold_rate", off_manifold_rate(x / c, M, threshold=p["threshold"] / c)),
                 ("seconds_train", secs[method])]
        meas += _convergence(hist[method], p["plateau_tol"])
        out += [{"method": method, "quantity": q, "value": v} for q, v in meas]
    return rows(base, out)
