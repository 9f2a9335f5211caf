"""Shared body of the experiments that train MAGT: sample_size, smoothing_level, ambient_dim,
memorisation.

One job trains MAGT at one VP level ``t`` on ``n`` samples of a known manifold embedded in
``R^D`` and measures its one-step samples against the manifold's *exact* law with
:func:`magt_theory.metrics.wasserstein_to_law` (one-sample W2: no reference sample, so no
two-sample noise floor):

- ``w2``: one-sample W2 of ``n_gen`` generated points to the law; ``w2_lower``/``w2_upper``:
  its bracket; ``w2_floor`` (curves): the estimator's value at ``n_gen`` exact samples (the
  part of ``w2`` that is the evaluation sample's own, not the model's, error); ``n_gen`` is
  ``n_gen`` for curves and ``n_gen_max`` for ``d > 1`` (semi-discrete OT costs ``O(n_gen)``
  per solver step);
- ``w2_empirical``: the same estimator on the ``n`` training points (the memorising
  "empirical measure" generator; jitter included), next to ``w2`` at the same ``n``;
  ``w2_train``: the same for the points the generator was actually trained on (equal to
  ``w2_empirical`` except under the ``shrinking_data`` control);
- ``off_manifold_rate`` (threshold 0.1), ``seconds_train``, ``seconds_sampling``;
- training budget and convergence: ``steps`` = ``clip(round(epochs * n / batch_size),
  min_steps, max_steps)``; ``loss_rel_drop`` = relative decrease of the mean training loss
  from the second-to-last to the last fifth of the steps, and ``under_trained`` = 1 when that
  drop exceeds ``converge_tol`` plus twice its standard error (the loss was still falling when
  training stopped), else 0.

``n = 0`` is the **n = infinity control**: the generator trains on a fresh pool of
``fresh_factor * max_steps * batch_size`` exact samples for ``max_steps`` steps (batches drawn
with replacement from a pool ``fresh_factor`` times larger than all the draws, so almost every
draw is a new point), capped at ``pool_mb`` MiB of float64 data (``2^26 / D`` points at the
default 512 MiB: 131,072 points at ``D = 512``, whose own empirical-measure W2 on the circle,
about 0.005, is 4x below the ``n = 10^4`` training set's); its ``w2`` measures the n-independent part of the error (smoothing level,
anchors, network, optimisation) against which the n-dependent excess ``w2(n) - w2(oo)`` is
fitted (MAGT Corollary 2: the statistical term is the only one that depends on n).

The latent base law is uniform on ``[0, 1]^d`` by default (``base``): Corollary 2 assumes a
bounded latent support, and with the Gaussian base a ReLU generator extrapolates the rare
tail latents linearly far off the manifold (measured on the circle, D = 8, n = 10^4, seed 2:
one-sample W2 2.62 with the Gaussian base against 0.021 with the uniform one; the loss does not
see those 0.3% of samples).

The experiments differ only in what their configs sweep (Corollary 2 of MAGT predicts the
n-rate; the smoothing-level sweep looks for the interior optimum in t; the ambient sweep checks
that the n-slope does not depend on D; the memorisation sweep compares MAGT with the empirical
measure across intrinsic dimensions).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import manifolds
from ..law_distance import wasserstein_to_law
from ..metrics import off_manifold_rate
from ._common import rows
from ._spec import param

#: negative controls (wrong ingredients) a test shows turning the rate rows ``inconsistent``:
#: ``shrinking_data`` trains the finite-n generator on only the first
#: ``clip(round(n_stale^2 / n), 8, n)`` points, fewer as n grows (its error and that of
#: ``w2_train``, the measure of the points it saw, grow with n);
#: ``ambient_blur`` adds isotropic Gaussian noise of total RMS ``blur log2(D/2) (n/100)^{1/2}``
#: to the finite-n generators' samples (an error whose n-slope depends on D: zero at D = 2,
#: growing with n above; absent from the n = infinity control)
CONTROLS = ("none", "shrinking_data", "ambient_blur")


@dataclass(frozen=True)
class Params:
    """Parameters of one training-experiment sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('circle', 'manifold')
    k: int | None = param(None, 'k_opt')
    D: int | None = param(None, 'D')
    t: float = param(0.05, 't')
    n: int = param(1000, 'n_or_inf')
    K: int = param(256, 'K')
    epochs: int = param(40, 'posnum')
    min_steps: int = param(2000, 'posint')
    max_steps: int = param(4000, 'posint')
    width: int = param(64, 'posint')
    depth: int = param(3, 'posint')
    batch_size: int = param(128, 'posint')
    lr: float = param(0.002, 'lr')
    base: str = param('uniform', 'latent_base')
    jitter: float = param(0.0, 'jitter')
    n_gen: int = param(20000, 'n')
    n_gen_max: int = param(2000, 'n')
    fresh_factor: int = param(8, 'posint')
    pool_mb: int = param(512, 'posint')
    converge_tol: float = param(0.01, 'nonneg_num')
    chunk_size: int = param(512, 'posint')
    sd_iter: int = param(1500, 'posint')
    control: str = param('none', {"enum": list(CONTROLS)})
    n_stale: int = param(100, 'n')
    blur: float = param(0.02, 'nonneg_num')
    seed: int = param(0, 'seed')


#: every parameter with its default
DEFAULTS = asdict(Params())



def budget_steps(n: int, epochs: float, batch_size: int, min_steps: int, max_steps: int) -> int:
    """Optimiser steps for ``n`` training points: ``clip(round(epochs n / B), min, max)``;
    ``n = 0`` (the infinity control) gets ``max_steps``."""
    if n == 0:
        return int(max_steps)
    return int(min(max(round(epochs * n / batch_size), min_steps), max_steps))


def convergence(losses, tol: float) -> tuple[float, int]:
    """Relative drop of the mean loss between the last two fifths of training, and a flag.

    Returns ``(rel_drop, under_trained)`` with ``under_trained = 1`` when
    ``rel_drop > tol + 2 se`` (``se`` the standard error of the drop from the two windows'
    standard deviations).
    """
    loss = np.asarray(losses, dtype=np.float64)
    m = loss.size // 5
    if m < 5:
        return float("nan"), 1
    prev, last = loss[-2 * m:-m], loss[-m:]
    ml = float(np.mean(last))
    drop = (float(np.mean(prev)) - ml) / abs(ml)
    se = math.sqrt(np.var(prev, ddof=1) / m + np.var(last, ddof=1) / m) / abs(ml)
    return drop, int(drop > tol + 2.0 * se)


def _make_manifold(p):
    """The manifold of a training point; its random embedding in ``R^D`` is always seed 0
    (``magt-theory train --embedding-seed`` defaults to the same)."""
    kw = {} if p["k"] is None else {"k": int(p["k"])}
    if p["manifold"] == "flat_torus" and p["k"] is not None:
        kw = {"radii": tuple([1.0] * int(p["k"]))}
    return manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0, **kw)


def law_w2(x, M, seed: int, sd_iter: int, floor: bool):
    """One-sample ``W2`` of the points ``x`` to the exact law of ``M``
    (:func:`magt_theory.law_distance.wasserstein_to_law`, with its bracket).

    The floor (the evaluation sample's own error, ``floor_repeats = 8`` evaluations) is
    measured for curves only (seconds); for ``d > 1`` it is not measured (NaN) and the
    memorisation row at ``n = n_gen`` plays that role. Used by the training experiments and by
    ``magt-theory train``, so both report the same quantity.
    """
    return wasserstein_to_law(x, M, seed=seed, max_iter=sd_iter,
                              floor="measured" if floor and M.dim == 1 else "none",
                              floor_repeats=8)


def train_point(spec, params: dict):
    """Train and evaluate MAGT at one sweep point of the training experiment ``spec``.

    ``spec`` is the calling experiment's :class:`._spec.Experiment` (its ``params`` are
    :class:`Params`); the parameters are checked against it before any work. Tidy rows: see
    the module docstring.
    """
    from ..models.magt import MAGT, MAGTConfig  # torch: only when a job trains

    experiment = spec.name
    p = spec.resolve(params)
    M = _make_manifold(p)
    rng = np.random.default_rng(p["seed"])
    n = int(p["n"])
    steps = budget_steps(n, p["epochs"], p["batch_size"], p["min_steps"], p["max_steps"])
    pool = n if n > 0 else min(int(p["fresh_factor"]) * steps * int(p["batch_size"]),
                               int(p["pool_mb"]) * 2**20 // (8 * M.ambient_dim))
    data = M.sample(pool, rng)
    if p["jitter"] > 0:
        data = data + p["jitter"] * rng.standard_normal(data.shape)
    cfg = MAGTConfig(
        latent_dim=M.dim, t=p["t"], n_anchors=p["K"],
        steps=steps, width=p["width"], depth=p["depth"], batch_size=p["batch_size"],
        lr=p["lr"], chunk_size=p["chunk_size"], seed=p["seed"], base=p["base"],
    )
    train = data
    if p["control"] == "shrinking_data" and n > 0:
        train = data[: min(n, max(8, round(int(p["n_stale"]) ** 2 / n)))]
    model = MAGT(cfg).fit(train, progress=False)
    seconds_train = model.seconds_
    drop, under = convergence(model.history_["loss"].to_numpy(), p["converge_tol"])
    n_gen = int(p["n_gen"]) if M.dim == 1 else int(p["n_gen_max"])
    t0 = time.perf_counter()
    gen = model.sample(n_gen, seed=p["seed"] + 1)
    seconds_sampling = time.perf_counter() - t0
    if p["control"] == "ambient_blur" and n > 0:
        blur_rng = np.random.default_rng([p["seed"], 7])
        rms = float(p["blur"]) * math.log2(M.ambient_dim / 2.0) * math.sqrt(n / 100.0)
        gen = gen + rms / math.sqrt(M.ambient_dim) * blur_rng.standard_normal(gen.shape)
    w = law_w2(gen, M, p["seed"], p["sd_iter"], floor=True)
    base = {
        "experiment": experiment, "manifold": p["manifold"], "d": M.dim, "D": M.ambient_dim,
        "seed": p["seed"], "t": p["t"], "n": n, "K": p["K"], "jitter": p["jitter"],
        "n_gen": n_gen, "method": w.method, "control": p["control"],
    }
    out = [
        ("w2", w.value), ("w2_lower", w.lower), ("w2_upper", w.upper),
        ("off_manifold_rate", off_manifold_rate(gen, M, threshold=0.1)),
        ("seconds_train", seconds_train), ("seconds_sampling", seconds_sampling),
        ("steps", steps), ("loss_rel_drop", drop if np.isfinite(drop) else 1.0),
        ("under_trained", under),
    ]
    if np.isfinite(w.floor):
        out.append(("w2_floor", w.floor))
    if n > 0:
        e = law_w2(data, M, p["seed"], p["sd_iter"], floor=False)
        e_train = e if train is data else law_w2(train, M, p["seed"], p["sd_iter"], floor=False)
        out += [("w2_empirical", e.value), ("w2_train", e_train.value)]
    return rows(base, [{"quantity": q, "value": v} for q, v in out])
