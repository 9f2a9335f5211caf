"""Error decomposition, horizon term and semigroup defect of a fitted CharGen [CharGen]."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..._validation import as_points, check_in_open_interval, check_int
from ._model import CharGen
from ._oracle import oracle_velocity
from ._rollouts import euler_rollout, midpoint_rollout


# ---------------------------------------------------------------------------- diagnostics
def _rms(a, b) -> float:
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=1))))


def horizon_rms(x1, z, T: float) -> float:
    """Coupled RMS ``sqrt(E|X_T - X_1|^2)`` with ``X_T = T X_1 + a_T Z`` (same ``X_1``).

    An upper bound on ``W2(mu_T, mu_1)``; its expectation is
    ``sqrt((1 - T)^2 E|X_1|^2 + (1 - T^2) D)`` [derived].
    """
    T = check_in_open_interval(T, "T", 0.0, 1.0)
    x1 = as_points(x1, "x1")
    z = as_points(z, "z", x1.shape[1])
    return _rms(T * x1 + math.sqrt(1 - T * T) * z, x1)


def error_decomposition(model: CharGen, manifold, n: int = 1000, seed: int = 0,
                        n_ref_steps: int | None = None, jitter: float = 0.0) -> dict:
    """Measure the four error terms of the characteristic generator, term by term.

    Returns a dict with ``velocity``, ``euler``, ``fitting``, ``horizon`` (coupled RMS
    distances, see the module docstring), ``sum`` (their sum, an upper bound on the W2 of
    the generator to the data law by the triangle inequality) and ``horizon_bound``
    ``sqrt((1 - T)^2 E|X_1|^2 + (1 - T^2) D)`` (evaluated with a sample of ``X_1``).

    Parameters
    ----------
    model : CharGen (fitted)
    manifold : Manifold
        Provides the oracle velocity and samples of ``X_1`` (plus ``jitter``).
    n : int
        Number of latent points ``z`` (common to every term).
    seed : int
    n_ref_steps : int, optional
        Midpoint steps of the reference flow (default ``8 K``).
    jitter : float
        Jitter ``s0`` of the data law seen by the oracle.
    """
    model._check_fitted()
    n = check_int(n, "n", low=2)
    cfg = model.config
    K = cfg.n_steps
    n_ref = check_int(n_ref_steps or 8 * K, "n_ref_steps", low=1)
    z = model.latent(n, seed).double().numpy()
    oracle = lambda x, s: oracle_velocity(manifold, x, s, jitter)  # noqa: E731
    x_learned = model.rollout(z)
    x_oracle = euler_rollout(oracle, z, cfg.T, K)
    x_ref = midpoint_rollout(oracle, z, cfg.T, n_ref)
    x_map = model.transport(z)
    rng = np.random.default_rng(seed)
    x1 = manifold.sample(n, rng)
    if jitter > 0:
        x1 = x1 + jitter * rng.standard_normal(x1.shape)
    z2 = rng.standard_normal(x1.shape)
    T = cfg.T
    out = {
        "velocity": _rms(x_learned, x_oracle),
        "euler": _rms(x_oracle, x_ref),
        "fitting": _rms(x_map, x_learned),
        "horizon": horizon_rms(x1, z2, T),
        "horizon_bound": math.sqrt((1 - T) ** 2 * np.mean(np.sum(x1**2, 1))
                                   + (1 - T * T) * x1.shape[1]),
    }
    out["sum"] = out["velocity"] + out["euler"] + out["fitting"] + out["horizon"]
    return out


def semigroup_defect(model: CharGen, n: int = 1000, seed: int = 0) -> float:
    """RMS semigroup defect ``sqrt(E|g(u, s, g(t, u, x)) - g(t, s, x)|^2)``.

    ``0 <= t < u < s <= T`` are sorted uniform draws (one triple per point) and ``x = g(0, t, z)``
    with ``z ~ N(0, I)`` (the model's own state at time ``t``). Zero for an exact flow map.
    """
    model._check_fitted()
    n = check_int(n, "n", low=1)
    z = model.latent(n, seed)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0) + 1)
    ts = torch.sort(model.config.T * torch.rand((n, 3), generator=gen, dtype=z.dtype), 1)[0]
    t, u, s = ts[:, 0], ts[:, 1], ts[:, 2]
    g = model.map_
    with torch.no_grad():
        x = g(torch.zeros_like(t), t, z)
        two = g(u, s, g(t, u, x))
        one = g(t, s, x)
    return float(torch.sqrt(((two - one) ** 2).sum(1).mean()))
