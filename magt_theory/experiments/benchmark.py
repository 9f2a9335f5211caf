"""MAGT's synthetic benchmark: one job = one (dataset, method, seed) [MAGT §5].

Protocol (MAGT §5, every size a parameter so that small configs can shrink it): ``n``
training points of a known manifold law with Gaussian jitter ``N(0, jitter^2 I)`` (the paper:
0.02), ``n_valid`` jittered validation points (MAGT's t selection), ``n_gen`` generated points;
MLPs of ``depth`` hidden layers of ``width`` units for every network (the paper: 5 x 512): ReLU
(the protocol's backbone) for MAGT, the score and velocity networks of the diffusion and
flow-matching baselines, WGAN-GP and the characteristic generator, SiLU for the proximal-flow
potential, whose gradient and time derivative must be smooth; Adam at learning rate ``lr`` for
every method except WGAN-GP (whose optimiser settings are part of the protocol); MAGT with
``K`` anchors and ``t`` chosen on the validation set over ``t_grid`` by W2.

Datasets and their constants
----------------------------
The paper states the formulas of its six datasets but not all their constants; the ones used
here (:data:`DATASET_CONSTANTS`, keyword arguments of :func:`magt_theory.manifolds.make`,
overridable per dataset through the ``geometry`` parameter) are:

==========  ===========================================================  ====================
dataset     law (uniform in arc length / area unless stated)             constants
==========  ===========================================================  ====================
rings2d     three concentric circles, mass proportional to length         radii 1, 2, 3
spiral2d    ``scale * u (cos u, sin u)``, uniform in ``u``                u in [pi, 4 pi],
                                                                         scale 1/pi (radius
                                                                         1 to 4)
moons2d     ``sklearn.datasets.make_moons`` arcs: ``(cos s, sin s)`` and  fixed: inner moon
            ``(1 - cos s, 1/2 - sin s)``, ``s in [0, pi]``                offset (1, 1/2)
checker2d   black cells of a ``grid x grid`` board of side ``cell``       grid 4, cell 1
helix3d     ``(cos u, sin u, u)`` (the paper's formula)                   u in [0, 4 pi]
                                                                         (height 4 pi)
torus3d     donut ``R = 2, r = 1`` (the paper's constants)                R 2, r 1
==========  ===========================================================  ====================

**Scale convention** (``scale``): ``"native"`` keeps the formulas' literal units (the jitter
0.02 and the off-manifold threshold 0.1 of the protocol are then in those units);
``"unit_diameter"`` multiplies every dataset by ``1 / diam(M)`` (:func:`dataset_diameter`) so
that W2 values are comparable across datasets; a positive number multiplies by that factor.
Jitter and threshold are always in the scaled units. Every measurement is taken on ``x / c``
against the unscaled manifold and multiplied back by ``c`` (W2 is 1-homogeneous: exact).
Whatever the scale, ``w2_rel = W2 / diam`` is reported as well, so the table can compare
datasets; the paper does not say whether it reports W2 or W2^2, so both are reported.

Methods (:data:`METHODS`; NFE = network evaluations per sample):

========== ====================================================================== =========
method     what                                                                   NFE
========== ====================================================================== =========
magt       MAGT (:func:`~magt_theory.models.magt.select_t`), one forward pass      1
magt_ddim  MAGT samples noised to ``refine_t`` (VP), ``refine_steps`` DDIM steps   1 + r + 1
           with a learned score, Tweedie denoising at the end
ddim1000   DDIM, 999 steps + final denoising, learned score                       1000
dpmpp20    DPM-Solver++(2M), 19 steps + final denoising                           20
dpmpp40    DPM-Solver++(2M), 39 steps + final denoising                           40
fm20       flow matching (linear path), 10 midpoint steps                         20
wgan_gp    WGAN-GP (5 critic steps, GP 10, Adam 1e-4, betas (0.5, 0.999))         1
chargen    characteristic generator ``g(0, T, z)``                                1
w1w2       W1⊕W2 proximal flow, ``w1w2_K`` Euler steps of ``-grad U/lambda``      K
========== ====================================================================== =========

**Equal budget.** ``steps`` (when not None) sets the number of gradient steps of every network
of every method (MAGT: each candidate ``t``; WGAN-GP: generator steps, each with 5 critic
steps; the characteristic generator: its velocity and its one-step networks), overriding the
per-method ``*_steps``; with the same ``width``/``depth`` this is the paper's equal-budget
comparison.

**Convergence check** (:func:`plateau`). Each trained network's per-step training loss (a
fresh noise/anchor draw every step: an unbiased minibatch estimate of the population loss on
the training set) is averaged over two windows of ``max(1, steps // 10)`` steps: the window
ending at half the steps and the last one. The network has *plateaued* when its loss fell by at
most ``plateau_tol`` (relative, default 1%) over the second half of training, or by no more
than twice the standard error of that difference. A method is ``under_trained`` (1.0) when any
of its networks has not plateaued. Monitored losses: MAGT's DSM loss (the selected ``t``), the
score network's and the velocity network's losses, the WGAN-GP critic's W1 estimate, both
losses of the characteristic generator, the proximal flow's DV objective. Limits, stated
plainly: it is a minibatch training loss, not a held-out one; the relative drop is measured
against the whole loss, which for denoising losses is dominated by their irreducible part, and
at short budgets the 2-SE guard lets noise hide remaining progress; with the cosine
learning-rate decay the second half moves slowly by construction. ``under_trained = 1`` is
therefore a reliable "not converged"; ``under_trained = 0`` is only "no resolved progress over
the second half", not a proof of convergence.

Measurements (tidy rows, one per quantity):

- ``w2`` -- W2 of the generated sample to the dataset's law, by ``w2_method``:
  ``"law"``: one-sample ``W2(mu_n, nu)`` of all ``n_gen`` points against the known law
  (:func:`magt_theory.metrics.wasserstein_to_law`, curve method; also ``w2_lower``,
  ``w2_upper``, its bracket); ``"exact"``: exact two-sample W2 (POT network simplex) between the
  first ``n_w2`` generated points and ``n_w2`` fresh clean samples; ``"auto"``: ``"law"`` for
  the curves that function supports (when it is available), else ``"exact"``;
  ``w2_method_law`` is 1.0 for the one-sample method, 0.0 for exact OT;
- ``w2_sq`` (= ``w2^2``), ``w2_rel`` (= ``w2 / diameter``), ``diameter``;
- ``w2_noise_floor`` -- the estimator's value at exact samples of the same size: the mean over
  ``floor_repeats`` clean samples for ``"law"``, the W2 between two independent clean samples
  of ``n_w2`` for ``"exact"`` (a value within the floor is not resolved);
- ``off_manifold_rate`` -- fraction of all ``n_gen`` samples farther than ``threshold`` from
  the (scaled) manifold; ``nfe``; ``seconds_per_1e4`` -- wall time of generating the ``n_gen``
  samples (after a warm-up call; the minimum over repeated calls until 0.5 s have elapsed, at
  most 7, see :func:`time_sampler`), scaled to 10^4 samples; ``seconds_train``;
- ``under_trained`` (0/1), ``loss_rel_drop`` (the largest relative second-half loss drop over
  the method's networks), ``grad_steps`` (gradient steps per network);
- ``t_selected`` for the MAGT methods; and ``n_scatter`` generated points as rows
  ``sample_x0, sample_x1, ...`` with a ``sample_index`` column (for the scatter-grid figure).

Negative controls (``control``; used by the tests of :mod:`magt_theory.benchmark_claims` to show
that each verdict row can fail): ``"noisy_magt"`` adds ``N(0, (0.5 diam)^2 I)`` to MAGT's
samples (a visibly worse MAGT: it must lose the lowest-W2 and lowest-off-manifold rows);
``"slow_magt"`` times MAGT's sampler as 1000 forward passes (a 1000-NFE MAGT: it must lose the
speed-ratio row). ``"none"`` (default) is the benchmark.

Layout: this module declares the experiment (``Params``, ``SPEC``) and runs one job; the
datasets and the W2 measurement live in :mod:`._bench_data`, the methods' builders, the
convergence check and the sampler timing in :mod:`._bench_methods` (both private, shared with
the ``sensitivity`` and ``equal_time`` experiments, and re-exported here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..metrics import off_manifold_rate
from ._bench_data import (
    DATASET_CONSTANTS,
    DATASETS,
    GEOMETRY_SCHEMA,
    SCALE_SCHEMA,
    W2_METHOD_SCHEMA,
    W2_METHODS,
    dataset_diameter,
    dataset_setup,
    jittered_sample,
    make_dataset,
    measure_w2,
    resolve_w2_method,
)
from ._bench_methods import (
    BUILDERS,
    _apply_control,
    _build,
    _convergence,
    ddim_refine,
    plateau,
    time_sampler,
)
from ._common import rows
from ._spec import Experiment, param

__all__ = ["BUILDERS", "CONTROLS", "DATASETS", "DATASET_CONSTANTS", "DEFAULTS", "METHODS", "NAME",
           "SPEC", "W2_METHODS", "Params", "dataset_diameter", "dataset_setup", "ddim_refine",
           "jittered_sample", "make_dataset", "measure_w2", "plateau", "resolve_w2_method",
           "run", "time_sampler"]

NAME = "benchmark"

#: every method of the benchmark, in table order (the keys of ``BUILDERS``)
METHODS = ("magt", "magt_ddim", "ddim1000", "dpmpp20", "dpmpp40", "fm20", "wgan_gp", "chargen",
           "w1w2")

#: negative controls of the benchmark's verdict rows (see the module docstring)
CONTROLS = ("none", "noisy_magt", "slow_magt")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``benchmark`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('rings2d', 'manifold')
    method: str = param('magt', {"enum": list(METHODS)})
    seed: int = param(0, 'seed')
    geometry: dict | None = param(None, GEOMETRY_SCHEMA, grid=False)
    scale: str = param("native", SCALE_SCHEMA)
    n: int = param(10000, 'n')
    n_valid: int = param(5000, 'n')
    jitter: float = param(0.02, 'jitter')
    n_gen: int = param(10000, 'n')
    w2_method: str = param("auto", W2_METHOD_SCHEMA)
    n_w2: int = param(4000, 'n')
    floor_repeats: int = param(4, {"type": "integer", "minimum": 2}, grid=False)
    n_scatter: int = param(1000, {"type": "integer", "minimum": 0})
    threshold: float = param(0.1, 'posnum')
    width: int = param(512, 'posint')
    depth: int = param(5, 'posint')
    batch_size: int = param(256, 'posint')
    lr: float = param(0.001, 'lr')
    steps: int | None = param(
        None, {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/posint"}], "description": "equal budget: gradient steps of every network (None: per method)"})
    plateau_tol: float = param(0.01, 'unit_open', grid=False)
    control: str = param(
        'none', {"enum": list(CONTROLS), "description": "negative control of the benchmark's claim rows"})
    t_grid: list[float] = param([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], 't_list')
    K: int = param(1024, 'K')
    magt_steps: int = param(4000, 'posint')
    n_select: int = param(2000, 'n')
    score_steps: int = param(8000, 'posint')
    refine_t: float = param(0.05, 'unit_open')
    refine_steps: int = param(5, 'posint')
    fm_steps: int = param(8000, 'posint')
    wgan_steps: int = param(8000, 'posint')
    chargen_T: float = param(0.999, 'unit_open')
    chargen_K: int = param(1024, 'posint')
    chargen_steps: int = param(8000, 'posint')
    chargen_semigroup: float = param(0.0, 'nonneg_num')
    w1w2_steps: int = param(4000, 'posint')
    w1w2_K: int = param(10, 'posint')
    w1w2_lam: float = param(0.05, 'posnum')
    w1w2_L: float = param(1.0, 'posnum')


SPEC = Experiment(
    NAME, Params,
    claims=(
        "benchmark_rows",
    ),
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

_STEP_KEYS = ("magt_steps", "score_steps", "fm_steps", "wgan_steps", "chargen_steps",
              "w1w2_steps")

def _validate(p: dict) -> None:
    """The checks the declared schema cannot express (``SPEC.resolve`` has checked each value
    against its field: types, ranges, enums)."""
    if p["n_w2"] > p["n_gen"]:
        raise ValueError(f"n_w2 must be <= n_gen = {p['n_gen']}; got {p['n_w2']}")
    if p["n_scatter"] > p["n_gen"]:
        raise ValueError(f"n_scatter must be in [0, n_gen = {p['n_gen']}]; got {p['n_scatter']}")


def run(params: dict):
    """Train one method on one dataset and measure it (see the module docstring)."""
    import torch

    p = SPEC.resolve(params)
    _validate(p)
    M, c, diam, w2_method = dataset_setup(p)
    if p["steps"] is not None:
        p.update({k: int(p["steps"]) for k in _STEP_KEYS})
    d, D = M.dim, M.ambient_dim
    rng = np.random.default_rng([p["seed"], 0])
    data = jittered_sample(M, c, p["n"], p["jitter"], rng)
    valid = jittered_sample(M, c, p["n_valid"], p["jitter"], rng)
    ref_rng = np.random.default_rng([p["seed"], 1])

    t0 = time.perf_counter()
    sampler, extra, histories = _build(p["method"], data, valid, p, d, D)
    seconds_train = time.perf_counter() - t0
    sampler = _apply_control(sampler, p, diam)
    sampler(8, p["seed"] + 100)  # warm-up (allocations, first-call overheads)
    with torch.no_grad():  # the proximal flow re-enables autograd for grad U itself
        (x, nfe), seconds, _ = time_sampler(lambda: sampler(p["n_gen"], p["seed"] + 1))
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(f"benchmark: {p['method']} produced non-finite samples")

    base = {"experiment": NAME, "manifold": p["manifold"], "d": d, "D": D, "seed": p["seed"],
            "method": p["method"], "control": p["control"], "n": p["n"], "jitter": p["jitter"],
            "n_gen": p["n_gen"], "n_w2": p["n_w2"], "scale": str(p["scale"])}
    steps_used = {"magt": p["magt_steps"], "magt_ddim": p["magt_steps"],
                  "ddim1000": p["score_steps"], "dpmpp20": p["score_steps"],
                  "dpmpp40": p["score_steps"], "fm20": p["fm_steps"], "wgan_gp": p["wgan_steps"],
                  "chargen": p["chargen_steps"], "w1w2": p["w1w2_steps"]}[p["method"]]
    meas = measure_w2(x, M, c, w2_method, p, ref_rng)
    meas += [
        ("w2_rel", meas[0][1] / diam),
        ("diameter", diam),
        ("off_manifold_rate", off_manifold_rate(x / c, M, threshold=p["threshold"] / c)),
        ("nfe", float(nfe)),
        ("seconds_per_1e4", seconds * 1e4 / p["n_gen"]),
        ("seconds_train", seconds_train),
        ("grad_steps", float(steps_used)),
    ] + _convergence(histories, p["plateau_tol"]) + extra
    out = [{"quantity": q, "value": v} for q, v in meas]
    for i in range(p["n_scatter"]):
        for j in range(D):
            out.append({"quantity": f"sample_x{j}", "sample_index": i, "value": x[i, j]})
    return rows(base, out)
