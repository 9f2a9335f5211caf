"""Shared body of the experiments that train MAGT: sample_size, smoothing_level, ambient_dim.

One job trains MAGT at one VP level ``t`` on ``n`` jittered samples of a known manifold embedded
in ``R^D`` and evaluates the one-step samples against fresh clean samples of the manifold law:

- ``w2``: exact W2 between ``n_eval`` generated and ``n_eval`` reference points,
- ``w2_noise_floor``: exact W2 between two independent reference samples of size ``n_eval``
  (W2 values at or below it are not resolved),
- ``w2_empirical``: exact W2 between the ``n`` training points and the reference (the
  memorising "empirical measure" baseline; jitter included),
- ``off_manifold_rate`` at threshold 0.1, ``seconds_train``, ``seconds_sampling``.

The three experiments differ only in which parameter their configs sweep (Corollary 2 of MAGT
predicts the n-rate; the smoothing-level sweep looks for the interior optimum; the ambient sweep
checks that the n-slope does not depend on D).
"""

from __future__ import annotations

import time

import numpy as np

from .. import manifolds
from ..metrics import off_manifold_rate, wasserstein
from ..models.magt import MAGTConfig, MAGT
from ._common import resolve, rows

DEFAULTS = {
    "manifold": "circle",
    "D": None,
    "t": 0.05,
    "n": 1000,
    "K": 512,
    "steps": 600,
    "width": 128,
    "depth": 3,
    "batch_size": 128,
    "lr": 2e-3,
    "jitter": 0.0,
    "n_eval": 1000,
    "chunk_size": 512,
    "seed": 0,
}


def train_point(experiment: str, params: dict):
    """Train and evaluate MAGT at one sweep point; tidy rows (see module docstring)."""
    p = resolve(DEFAULTS, params, experiment)
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    rng = np.random.default_rng(p["seed"])
    data = M.sample(p["n"], rng)
    if p["jitter"] > 0:
        data = data + p["jitter"] * rng.standard_normal(data.shape)
    ref = M.sample(p["n_eval"], rng)
    ref2 = M.sample(p["n_eval"], rng)
    cfg = MAGTConfig(
        latent_dim=M.dim, t=p["t"], n_anchors=p["K"],
        steps=p["steps"], width=p["width"], depth=p["depth"], batch_size=p["batch_size"],
        lr=p["lr"], chunk_size=p["chunk_size"], seed=p["seed"],
    )
    model = MAGT(cfg).fit(data, progress=False)
    seconds_train = model.seconds_
    t0 = time.perf_counter()
    gen = model.sample(p["n_eval"], seed=p["seed"] + 1)
    seconds_sampling = time.perf_counter() - t0
    base = {
        "experiment": experiment, "manifold": p["manifold"], "d": M.dim, "D": M.ambient_dim,
        "seed": p["seed"], "t": p["t"], "n": p["n"], "K": p["K"], "jitter": p["jitter"],
        "steps": p["steps"], "n_eval": p["n_eval"],
    }
    out = [
        ("w2", wasserstein(gen, ref)),
        ("w2_noise_floor", wasserstein(ref2, ref)),
        ("w2_empirical", wasserstein(data, ref)),
        ("off_manifold_rate", off_manifold_rate(gen, M, threshold=0.1)),
        ("seconds_train", seconds_train),
        ("seconds_sampling", seconds_sampling),
    ]
    return rows(base, [{"quantity": q, "value": v} for q, v in out])
