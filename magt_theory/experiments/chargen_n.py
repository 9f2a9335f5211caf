"""Characteristic generator trained on n samples: W2 vs n and the error decomposition [CharGen].

One job trains :class:`magt_theory.models.chargen.CharGen` (learned velocity, Euler
characteristics, one-step map) on ``n`` (optionally jittered) samples of a known manifold and
measures

- ``w2``: exact W2 between ``n_eval`` one-step samples ``g(0, T, z)`` and fresh clean samples of
  the manifold law, with ``w2_noise_floor`` (two clean samples) and ``w2_empirical`` (the ``n``
  training points themselves: the memorising reference; CharGen's rate
  ``W2 <~ n^{-1/(d+3)} log n`` is slower than the empirical measure's [CharGen]);
- ``w2_floor``: ``w2_noise_floor`` plus the measured horizon term: with a fixed horizon ``T``
  the W2 to ``mu_1`` cannot go below the horizon bias, so n-values near this floor say
  nothing about the rate in ``n``;
- ``w2_T``: the same against exact draws of ``mu_T`` (the law the characteristics target; the
  horizon bias removed);
- the error decomposition of :func:`~magt_theory.models.chargen.error_decomposition` measured
  term by term (``err_velocity``, ``err_euler``, ``err_fitting``, ``err_horizon``, ``err_sum``,
  ``horizon_bound``), the RMS ``semigroup_defect`` and ``off_manifold_rate``.

Negative control (``control="shrinking_budget"``): the training budget shrinks like ``1/n``
above ``n = 100`` (``steps * 100 / n`` velocity and fitting steps, at least 1), a rate
experiment whose larger samples are trained less. The bound ``W2 <~ n^{-1/(d+3)} log n`` has
its own slope near ``-0.1`` over ``n`` in the hundreds to thousands (``-1/(d+3) + 1/log n``),
so only a W2 that *grows* with ``n`` can fail it; under the control ``w2_T`` grows (circle,
``steps=200``, ``n = 100..1600``: slope about +0.08) and its row of
slope claim (``SPEC.claims``) turns ``inconsistent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import manifolds
from ..metrics import off_manifold_rate, wasserstein
from ._common import rows
from ._spec import Experiment, param

NAME = "chargen_n"
CONTROLS = ("none", "shrinking_budget")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``chargen_n`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('circle', 'manifold')
    D: int | None = param(None, 'D')
    n: int = param(1000, 'n')
    T: float = param(0.99, 'unit_open')
    K: int = param(128, 'posint')
    width: int = param(128, 'posint')
    depth: int = param(3, 'posint')
    steps: int = param(2000, 'posint')
    batch_size: int = param(256, 'posint')
    lr: float = param(0.002, 'lr')
    semigroup: float = param(0.0, 'nonneg_num')
    jitter: float = param(0.0, 'jitter')
    n_eval: int = param(1000, 'n')
    n_decomp: int = param(500, 'n')
    seed: int = param(0, 'seed')
    control: str = param('none', {"enum": list(CONTROLS)})


SPEC = Experiment(
    NAME, Params,
    claims=(
        # CharGen W2 <~ n^{-1/(d+3)} log n (v5 intrinsic reading), an upper bound judged against
        # its own slope over the fitted n (the log n factor included; asymptotic exponent in the
        # note). The bound's own slope is about -0.1 over the swept n (d = 1: -1/4 + 1/log n),
        # so only a W2 growing with n can fail it: control "shrinking_budget" (training steps
        # ~ 1/n) is shown turning the w2_T row inconsistent (slope about +0.08 against an
        # allowed <= 0.02). Band 0.1: the bound is an order-of-magnitude statement whose
        # constants and log factor are not pinned down; 0.1 is the curvature of log(bound)
        # over one decade of n (local slope -0.11 to -0.03 over n = 100..1600).
        # w2 against mu_1 (floor: noise floor + horizon bias, which a fixed T cannot beat):
        # every point lies within a factor 3 of that floor at the configured T, so the slope
        # is not fitted and no control can be shown failing it: a diagnostic.
        dict(quantity="w2", swept="n", bound="chargen_rate", floor_quantity="w2_floor",
             band=0.1),
        dict(quantity="w2_T", swept="n", bound="chargen_rate", floor_quantity="w2_noise_floor",
             band=0.1, control="shrinking_budget"),
    ),
    figures={
        "chargen_vs_n": "fig_chargen_n",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()


def run(params: dict):
    """Train CharGen at one ``n`` and measure it (see the module docstring)."""
    from ..models import chargen as cg

    p = SPEC.resolve(params)
    steps = p["steps"]
    if p["control"] == "shrinking_budget":
        steps = max(1, round(steps * 100 / max(p["n"], 100)))
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    D = M.ambient_dim
    rng = np.random.default_rng([p["seed"], 3])
    data = M.sample(p["n"], rng)
    if p["jitter"] > 0:
        data = data + p["jitter"] * rng.standard_normal(data.shape)
    cfg = cg.CharGenConfig(T=p["T"], n_steps=p["K"], width=p["width"], depth=p["depth"],
                           velocity_steps=steps, fit_steps=steps,
                           batch_size=p["batch_size"], lr=p["lr"], semigroup=p["semigroup"],
                           seed=p["seed"])
    model = cg.CharGen(cfg).fit(data)
    x = model.sample(p["n_eval"], seed=p["seed"] + 1)
    ref, ref2 = M.sample(p["n_eval"], rng), M.sample(p["n_eval"], rng)
    T = cfg.T
    ref_T = T * ref2 + math.sqrt(1 - T * T) * rng.standard_normal(ref2.shape)
    dec = cg.error_decomposition(model, M, n=p["n_decomp"], seed=p["seed"] + 2,
                                 jitter=p["jitter"])
    base = {"experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": D, "seed": p["seed"],
            "n": p["n"], "T": T, "K": p["K"], "jitter": p["jitter"], "n_eval": p["n_eval"],
            "semigroup": p["semigroup"], "steps": steps, "control": p["control"]}
    meas = [
        ("w2", wasserstein(x, ref)),
        ("w2_noise_floor", wasserstein(ref2, ref)),
        ("w2_empirical", wasserstein(data, ref)),
        ("w2_T", wasserstein(x, ref_T)),
        ("off_manifold_rate", off_manifold_rate(x, M, threshold=0.1)),
        ("semigroup_defect", cg.semigroup_defect(model, n=p["n_decomp"], seed=p["seed"] + 3)),
        ("seconds_train", model.seconds_),
    ] + [(f"err_{k}" if k not in ("horizon_bound",) else k, v) for k, v in dec.items()]
    meas.append(("w2_floor", meas[1][1] + dec["horizon"]))
    return rows(base, [{"quantity": q, "value": v} for q, v in meas])
