"""Injected errors for the robustness of support: a smooth random error field, a perturbed
denoiser (score or denoiser site) and the normal/tangent split of a displacement [CdC]."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _xp, smoothing
from .._validation import as_points, as_rng, check_int, check_positive



class SmoothErrorField:
    """A smooth, bounded random vector field ``chi: R^D -> R^D`` (random Fourier features).

    .. math:: \\chi(x) = \\sqrt{2/F}\\, A \\cos(W x + b),\\quad
        W_{lj} \\sim N(0, \\ell^{-2}),\\ b_l \\sim U[0, 2\\pi),\\ A_{il} \\sim N(0, 1/D),

    an approximate sample of a Gaussian process with squared-exponential kernel of length scale
    ``ell``, normalised so that ``E|chi(x)|^2 = 1`` at every ``x`` in expectation over the draw of
    the field (then ``eps chi`` has RMS size ``eps``). Bounded by ``sqrt(2/F) sum_l |A_{:,l}|``;
    Lipschitz constant ``O(1/ell)``.
    Works on numpy arrays and torch tensors (differentiable).

    Parameters
    ----------
    dim : int
        ``D``.
    seed : int
    n_features : int
        ``F``.
    lengthscale : float
        ``ell > 0``.
    """

    def __init__(self, dim: int, seed: int = 0, n_features: int = 64, lengthscale: float = 1.0):
        self.dim = check_int(dim, "dim", low=1)
        self.n_features = check_int(n_features, "n_features", low=1)
        self.lengthscale = check_positive(lengthscale, "lengthscale")
        rng = as_rng(seed)
        self.W = rng.standard_normal((self.n_features, self.dim)) / self.lengthscale
        self.b = rng.uniform(0.0, 2 * np.pi, self.n_features)
        self.A = rng.standard_normal((self.dim, self.n_features)) / math.sqrt(self.dim)
        self.scale = math.sqrt(2.0 / self.n_features)

    def __call__(self, x):
        if _xp.is_torch(x):
            W = torch.as_tensor(self.W, dtype=x.dtype, device=x.device)
            b = torch.as_tensor(self.b, dtype=x.dtype, device=x.device)
            A = torch.as_tensor(self.A, dtype=x.dtype, device=x.device)
            return self.scale * torch.cos(x @ W.T + b) @ A.T
        x = np.asarray(x, dtype=np.float64)
        return self.scale * np.cos(x @ self.W.T + self.b) @ self.A.T


SITES = ("score", "denoiser")


class PerturbedDenoiser:
    """A denoiser with an injected error ``eps chi(x)`` [CdC].

    * ``site="score"``: the score becomes ``s + eps chi``; through Tweedie,
      ``s = (alpha x0_hat - x)/sigma^2``, this is ``x0_hat + (sigma_t^2 / alpha_t) eps chi(x)``.
    * ``site="denoiser"`` (negative control): ``x0_hat + eps chi(x)``.

    Parameters
    ----------
    base : callable ``(x, t) -> x0_hat``
        Unperturbed denoiser (numpy or torch).
    field : callable ``x -> chi(x)``
        E.g. :class:`SmoothErrorField`.
    eps : float
        Magnitude ``>= 0``.
    site : {"score", "denoiser"}
    """

    def __init__(self, base, field, eps: float, site: str):
        if not callable(base) or not callable(field):
            raise TypeError("base and field must be callables")
        eps = float(eps)
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps must be a finite number >= 0; got {eps!r}")
        if site not in SITES:
            raise ValueError(f"site must be one of {SITES}; got {site!r}")
        self.base, self.field, self.eps, self.site = base, field, eps, site

    def __call__(self, x, t):
        x0 = self.base(x, t)
        if self.eps == 0.0:
            return x0
        alpha, sigma = smoothing.vp(t, allow_zero=True)
        c = self.eps * (sigma**2 / alpha if self.site == "score" else 1.0)
        return x0 + c * self.field(x)


def displacement_split(x_ref, x_pert, manifold, *, alpha_out: float = 1.0) -> dict:
    """Split ``dx = x_pert - x_ref`` into parts normal and tangent to the manifold.

    ``P_T = T T^T`` with ``T`` the tangent basis at ``project(x_ref / alpha_out)``,
    ``P_N = I - P_T``.

    Returns
    -------
    dict with (n,) arrays ``normal = |P_N dx|``, ``tangent = |P_T dx|``,
    ``ratio = |P_N dx| / |P_T dx|`` (``inf`` where ``P_T dx = 0``) and
    ``delta_distance = dist(x_pert) - dist(x_ref)``.
    """
    D = manifold.ambient_dim
    x_ref = as_points(x_ref, "x_ref", D)
    x_pert = as_points(x_pert, "x_pert", D)
    if x_ref.shape != x_pert.shape:
        raise ValueError(f"x_pert must have the shape of x_ref {x_ref.shape}; got {x_pert.shape}")
    alpha_out = check_positive(alpha_out, "alpha_out")
    dx = x_pert - x_ref
    T = manifold.tangent_basis(manifold.project(x_ref / alpha_out))
    tan = np.einsum("nDd,nd->nD", T, np.einsum("nDd,nD->nd", T, dx))
    nt = np.linalg.norm(tan, axis=1)
    nn_ = np.linalg.norm(dx - tan, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nt > 0, nn_ / np.where(nt > 0, nt, 1.0), np.inf)
    dd = manifold.distance(x_pert) - manifold.distance(x_ref)
    return {"normal": nn_, "tangent": nt, "ratio": ratio, "delta_distance": dd}
