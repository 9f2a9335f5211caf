"""Pull-back: Wasserstein error of a perturbed generator against its smoothed Fisher divergence.

MAGT Theorem 1: in the reach tube,
``W2(P_h*, P_h) <= C_PB(t) sqrt(E_MAG(t))`` with ``E_MAG = t^2/(1-t) J(p_t || p_t^h)`` and
``C_PB(t) = O(1/t)``; the LSI-only step ``W2(p_t, p_t^h) <= C_LSI(t) sqrt(J)`` has the explicit
constant ``C_LSI(t) = ((1-t) M^2 + t) / min(C_LSI(pi), 1)`` (``M`` the largest singular value of
``J_h``; ``C_LSI(pi) = 1`` for a standard normal base) [MAGT].

We perturb the exact generator, ``h = h* + eps * delta`` with a fixed smooth bounded field
``delta(u) = B f(Phi(u))`` (``f`` low Fourier modes, ``B`` a fixed random matrix normalised so that
``E|delta|^2 = 1``; it has tangent and normal components), and measure

- ``w2``: exact W2 between ``h*(u_i)`` and ``h(u_i)`` samples (common latents; exact OT),
- ``w2_smoothed``: exact W2 between the smoothed laws (common latents and noise),
- ``fisher_J``: ``E_{y ~ p_t} |s_t(y) - s_t^h(y)|^2`` with ``s_t`` closed form and ``s_t^h`` an
  SNIS estimate over ``K`` anchors ``h(u_k)``, corrected for anchor noise by common random
  numbers: the same anchors pushed through ``h*`` give ``s~_t``, and we use
  ``|s~_t - s~_t^h|^2`` (``anchor_floor`` reports ``E|s~_t - s_t|^2`` for reference),
- ``e_mag``, ``ratio_w2_sqrtJ``, ``ratio_w2_sqrt_emag`` and ``lsi_rhs``.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import _xp, manifolds, smoothing
from ..anchors import snis
from ..metrics import wasserstein
from ._common import resolve, rows

NAME = "pullback"
DEFAULTS = {
    "manifold": "circle",
    "D": None,
    "t": 0.05,
    "eps": [0.01, 0.03, 0.1],
    "n_w2": 1500,
    "n_fisher": 1000,
    "K": 8192,
    "n_modes": 3,
    "seed": 0,
}


class Perturbation:
    """Fixed smooth bounded field ``delta(u) = B f(Phi(u))`` on the latent space.

    ``f`` stacks ``sin/cos(2 pi j v_i)`` for ``j = 1..n_modes`` over the coordinates of
    ``v = Phi(u)``; ``B`` (``D x 2 k n_modes``) is Gaussian with a fixed seed, scaled so that
    ``E|delta(U)|^2 = 1`` exactly (the features are orthogonal with mean square 1/2).
    """

    def __init__(self, latent_dim: int, ambient_dim: int, n_modes: int = 3, seed: int = 12345):
        n_feat = 2 * latent_dim * n_modes
        B = np.random.default_rng(seed).standard_normal((ambient_dim, n_feat))
        self.B = B / np.sqrt(0.5 * np.sum(B * B))
        self.freqs = 2 * np.pi * np.arange(1, n_modes + 1)

    def __call__(self, u):
        xp = _xp.namespace(u)
        v = _xp.ndtr(u)
        freqs = self.freqs if xp is np else torch.as_tensor(self.freqs, dtype=u.dtype)
        arg = v[..., :, None] * freqs  # (n, k, modes)
        feats = xp.concatenate([xp.sin(arg), xp.cos(arg)], -1).reshape(u.shape[0], -1)
        B = self.B if xp is np else torch.as_tensor(self.B, dtype=u.dtype)
        return feats @ B.T


def _max_singular_value(h, u: np.ndarray) -> float:
    """Largest singular value of ``J_h`` over the latent points ``u`` (torch.func)."""
    ut = torch.as_tensor(u, dtype=torch.float64)
    jac = torch.func.vmap(torch.func.jacrev(lambda z: h(z[None])[0]))(ut)
    return float(torch.linalg.matrix_norm(jac, ord=2).max())


def run(params: dict):
    """Measure W2, Fisher divergence and the pull-back ratios for a grid of ``eps``."""
    p = resolve(DEFAULTS, params, NAME)
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    if not M.has_generator:
        raise ValueError(f"manifold must have an exact generator h*; {p['manifold']!r} has none")
    k, D = M.generator_latent_dim, M.ambient_dim
    alpha, sigma = smoothing.vp(p["t"])
    delta = Perturbation(k, D, p["n_modes"])
    rng = np.random.default_rng(p["seed"])
    u_w2 = rng.standard_normal((p["n_w2"], k))
    z_w2 = rng.standard_normal((p["n_w2"], D))
    u_q = rng.standard_normal((p["n_fisher"], k))
    y = alpha * M.generator(u_q) + sigma * rng.standard_normal((p["n_fisher"], D))
    exact = M.smoothed_score(y, sigma=sigma, alpha=alpha)
    u_anc = rng.standard_normal((p["K"], k))
    ref = snis(y, M.generator(u_anc), alpha=alpha, sigma=sigma).score
    x_star = M.generator(u_w2)
    base = {
        "experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": D, "seed": p["seed"],
        "t": p["t"], "sigma": sigma, "alpha": alpha, "K": p["K"],
    }
    out = [{"eps": 0.0, "quantity": "anchor_floor", "value": np.mean(np.sum((ref - exact) ** 2, 1))}]
    for eps in p["eps"]:
        def h(u, eps=eps):
            return M.generator(u) + eps * delta(u)

        x_h = h(u_w2)
        w2 = wasserstein(x_star, x_h, p=2)
        w2_s = wasserstein(alpha * x_star + sigma * z_w2, alpha * x_h + sigma * z_w2, p=2)
        s_h = snis(y, h(u_anc), alpha=alpha, sigma=sigma).score
        J = float(np.mean(np.sum((ref - s_h) ** 2, axis=1)))
        e_mag = p["t"] ** 2 / (1 - p["t"]) * J
        m_sv = _max_singular_value(h, u_w2[:256])
        c_lsi = (1 - p["t"]) * m_sv**2 + p["t"]
        out += [
            {"eps": eps, "quantity": q, "value": v}
            for q, v in [
                ("w2", w2), ("w2_smoothed", w2_s), ("fisher_J", J), ("e_mag", e_mag),
                ("ratio_w2_sqrtJ", w2 / np.sqrt(J)), ("ratio_w2_sqrt_emag", w2 / np.sqrt(e_mag)),
                ("lsi_rhs", c_lsi * np.sqrt(J)), ("max_singular_value", m_sv),
            ]
        ]
    return rows(base, out)
