"""Tangent dynamics of generative samplers: Lyapunov vectors, alignment, robustness of support.

CdC's mechanism (THEORY.md §5): along a sampler ``x_{i+1} = F_i(x_i)`` the tangent propagator
``dF^{0->N} = dF_{N-1} ... dF_0`` compresses directions normal to the data manifold and keeps the
tangent ones, so its top ``d`` left singular vectors at the output align with the tangent space
and score errors move samples mostly *along* the manifold. This module measures that.

One DDIM step (VP schedule ``alpha_t = sqrt(1-t)``, ``sigma_t = sqrt(t)``; see
:mod:`magt_theory.models.diffusion`) and its exact Jacobian for a closed-form posterior
[derived; checked against central finite differences in ``tests/test_dynamics.py``]:

.. math::

    F(x) = c_1 x + c_2\\, \\mathbb E[Y_0 \\mid Y_t = x],\\qquad
    dF(x) = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2} \\operatorname{Cov}[Y_0 \\mid Y_t = x],

    c_1 = \\frac{\\sigma_{t'}}{\\sigma_t},\\qquad c_2 = \\alpha_{t'} - c_1 \\alpha_t,

using ``d E[Y_0|y] / dy = (alpha/sigma^2) Cov[Y_0|y]`` (differentiate Tweedie). The ``c_1`` factors
telescope: directions orthogonal to the span of the data are contracted by exactly
``prod c_1 = sigma_{t_N} / sigma_{t_0}``.

Contents
--------
* exact step Jacobians (:func:`ddim_step_jacobian`), oracle tangent propagation with Benettin QR
  and the full flow-map Jacobian (:func:`oracle_tangent_dynamics`); the same for a learned
  denoiser through ``torch.func`` (:func:`learned_tangent_dynamics`);
* frame-independent SVD of the flow-map Jacobian (:func:`flow_map_svd`, full product; and
  :func:`subspace_iteration` with JVP/VJP for large ``D``);
* alignment metrics (:func:`alignment_metrics`, :func:`estimate_intrinsic_dim`,
  :func:`alignment_table`);
* robustness of support under injected errors (:class:`SmoothErrorField`,
  :class:`PerturbedDenoiser`, :func:`displacement_split`, :func:`support_robustness`);
* one-step generators ``G: R^k -> R^D`` (:func:`one_step_alignment`,
  :func:`parameter_displacement`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _xp
from ._validation import as_points, as_rng, check_int, check_positive
from .models.diffusion import (
    OracleDenoiser,
    ScoreNetwork,
    _check_grid,
    ddim_sample,
    ddpm_sample,
    prior_noise,
    time_grid,
    vp_alpha_sigma,
)

log = logging.getLogger(__name__)

__all__ = [
    "step_coefficients",
    "ddim_step_jacobian",
    "random_frame",
    "TangentDynamics",
    "oracle_tangent_dynamics",
    "learned_tangent_dynamics",
    "lyapunov_exponents",
    "flow_map_svd",
    "subspace_iteration",
    "learned_flow_map",
    "learned_flow_map_svd",
    "alignment_metrics",
    "estimate_intrinsic_dim",
    "alignment_table",
    "SmoothErrorField",
    "PerturbedDenoiser",
    "displacement_split",
    "support_robustness",
    "one_step_alignment",
    "parameter_displacement",
]


# ============================================================================ one-step Jacobians


def step_coefficients(t: float, t_next: float) -> tuple[float, float]:
    """DDIM step coefficients ``(c1, c2) = (sigma_{t'}/sigma_t, alpha_{t'} - c1 alpha_t)``.

    ``t`` in (0, 1), ``t_next`` in ``[0, t)`` (``t_next = 0`` is the Tweedie denoising step,
    ``c1 = 0, c2 = 1``).
    """
    a, s = vp_alpha_sigma(t)
    if s == 0.0:
        raise ValueError(f"t must lie in (0, 1); got {t!r}")
    an, sn = vp_alpha_sigma(t_next)
    if not float(t_next) < float(t):
        raise ValueError(f"t_next must be < t = {t}; got {t_next!r}")
    c1 = sn / s
    return c1, an - c1 * a


def ddim_step_jacobian(manifold, x, t: float, t_next: float) -> np.ndarray:
    """Exact Jacobian of one oracle DDIM step ``t -> t_next`` at ``x``.

    .. math:: dF(x) = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2}\\operatorname{Cov}[Y_0 \\mid Y_t = x]

    (THEORY.md §5, CdC; ``c1, c2`` from :func:`step_coefficients`).

    Parameters
    ----------
    manifold : Manifold
        Must provide ``posterior_cov``.
    x : (n, D) array_like
    t, t_next : float
        ``0 <= t_next < t < 1``.

    Returns
    -------
    (n, D, D) ndarray, float64
    """
    c1, c2 = step_coefficients(t, t_next)
    x = as_points(x, "x", manifold.ambient_dim)
    a, s = vp_alpha_sigma(t)
    cov = manifold.posterior_cov(x, s, a)
    J = (c2 * a / s**2) * cov
    idx = np.arange(x.shape[1])
    J[:, idx, idx] += c1
    return J


def random_frame(n: int, dim: int, k: int, seed=0) -> np.ndarray:
    """``n`` independent Haar-random orthonormal ``dim x k`` frames, shape ``(n, dim, k)``."""
    n = check_int(n, "n", low=1)
    dim = check_int(dim, "dim", low=1)
    k = check_int(k, "k", low=1, high=dim)
    g = as_rng(seed).standard_normal((n, dim, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _qr_positive(A):
    """Batched QR with ``diag(R) >= 0``; returns ``Q, log|diag R|``."""
    q, r = np.linalg.qr(A)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    sgn = np.where(d < 0, -1.0, 1.0)
    with np.errstate(divide="ignore"):
        return q * sgn[..., None, :], np.log(np.abs(d))


# ============================================================================ tangent propagation


@dataclass
class TangentDynamics:
    """Tangent propagation along one sampler run.

    Attributes
    ----------
    samples : (n, D) ndarray
        Output ``x_{t_N}`` (no final denoising: its Jacobian has rank ``d``).
    grid : (N + 1,) ndarray
    log_r : (N, n, k) ndarray
        ``log |diag R_i|`` of the Benettin QR steps ``Q_{i+1} R_{i+1} = dF_i Q_i``.
    frame : (n, D, k) ndarray
        Final Benettin frame ``Q_N`` (its first ``j`` columns span ``dF^{0->N} Q_0[:, :j]``).
    jacobian : (n, D, D) ndarray or None
        Flow-map Jacobian ``dF^{0->N} = d x_{t_N} / d x_{t_0}`` (``full=True``).
    frames, partial_jacobians : list or None
        ``Q_i`` and ``dF^{0->i}`` after every step (``record=True``).
    """

    samples: np.ndarray
    grid: np.ndarray
    log_r: np.ndarray
    frame: np.ndarray
    jacobian: np.ndarray | None = None
    frames: list | None = None
    partial_jacobians: list | None = None

    def exponents(self, normalize: str = "log_sigma") -> np.ndarray:
        """Finite-time Lyapunov exponents, see :func:`lyapunov_exponents`."""
        return lyapunov_exponents(self.log_r, self.grid, normalize)


def lyapunov_exponents(log_r, grid, normalize: str = "log_sigma") -> np.ndarray:
    """Finite-time Lyapunov exponents from the Benettin ``log |diag R|`` of every step.

    .. math:: \\lambda_j = \\frac{1}{T}\\sum_{i=0}^{N-1} \\log |R_i|_{jj}

    with the clock ``T``:

    * ``"log_sigma"`` (default): ``T = log(sigma_{t_0} / sigma_{t_N})``, the natural clock of the
      VP sampler: a direction orthogonal to the span of the data is contracted exactly like
      ``sigma`` (``prod c_1 = sigma_N / sigma_0``), so the corresponding *singular* value of the
      flow map gives exponent ``-1``; tangent directions give about ``0``. Finite-time Benettin
      exponents depend on the random start ``Q_0`` (the first vector needs
      ``(s_2/s_1) tan angle(Q_0, v_1) << 1`` to have converged); their sum over ``k = D``
      vectors is exactly ``log|det dF^{0->N}| / T``;
    * ``"none"``: ``T = 1``, the total log-stretch (comparable to the log singular values of the
      flow-map Jacobian);
    * ``"step"``: ``T = N``, per step;
    * ``"time"``: ``T = t_0 - t_N``.

    Returns
    -------
    (n, k) ndarray
    """
    log_r = np.asarray(log_r, dtype=np.float64)
    g = _check_grid(grid)
    if log_r.ndim != 3 or log_r.shape[0] != g.size - 1:
        raise ValueError(f"log_r must have shape (N={g.size - 1}, n, k); got {log_r.shape}")
    total = log_r.sum(axis=0)
    if normalize == "log_sigma":
        T = 0.5 * math.log(g[0] / g[-1])
    elif normalize == "none":
        T = 1.0
    elif normalize == "step":
        T = float(g.size - 1)
    elif normalize == "time":
        T = float(g[0] - g[-1])
    else:
        raise ValueError(
            f"normalize must be one of 'log_sigma', 'none', 'step', 'time'; got {normalize!r}")
    return total / T


def _default_k(d: int, D: int, k, m: int) -> int:
    if k is None:
        k = min(D, d + check_int(m, "m", low=0))
    return check_int(k, "k", low=1, high=D)


def oracle_tangent_dynamics(manifold, x_init, grid, *, k: int | None = None, m: int = 2,
                            seed=0, full: bool = True, record: bool = False) -> TangentDynamics:
    """Propagate tangent vectors along the oracle DDIM flow with exact step Jacobians.

    Benettin QR on ``k = d + m`` vectors: ``Q_{i+1} R_{i+1} = dF_i(x_i) Q_i``, ``Q_0`` a random
    orthonormal frame (``seed``). With ``full=True`` the flow-map Jacobian ``prod_i dF_i`` is
    accumulated as well (``O(n D^2)`` memory; fine for ``D`` up to a few hundred).

    Parameters
    ----------
    manifold : Manifold
    x_init : (n, D) array_like
        Starting points at ``t_0`` (e.g. :func:`~magt_theory.models.diffusion.prior_noise`).
    grid : (N + 1,) array_like
        Decreasing times in (0, 1) (:func:`~magt_theory.models.diffusion.time_grid`).
    k, m : int
        Number of propagated vectors; ``k = min(D, d + m)`` by default.
    seed : int
        Seed of ``Q_0``.
    full, record : bool
        Accumulate the flow-map Jacobian; keep ``Q_i`` and ``dF^{0->i}`` after every step.
    """
    x = as_points(x_init, "x_init", manifold.ambient_dim)
    g = _check_grid(grid)
    n, D = x.shape
    k = _default_k(manifold.dim, D, k, m)
    Q = random_frame(n, D, k, seed)
    den = OracleDenoiser(manifold)
    P = np.broadcast_to(np.eye(D), (n, D, D)).copy() if full else None
    log_r = np.empty((g.size - 1, n, k))
    frames = [Q] if record else None
    partial = [P.copy()] if (record and full) else None
    for i in range(g.size - 1):
        t, tn = float(g[i]), float(g[i + 1])
        J = ddim_step_jacobian(manifold, x, t, tn)
        c1, c2 = step_coefficients(t, tn)
        x = c1 * x + c2 * den(x, t)
        Q, log_r[i] = _qr_positive(J @ Q)
        if full:
            P = J @ P
        if record:
            frames.append(Q)
            if full:
                partial.append(P.copy())
    if not (np.all(np.isfinite(log_r)) and np.all(np.isfinite(x))):
        raise FloatingPointError(
            "oracle_tangent_dynamics: non-finite values (degenerate Jacobian?)")
    return TangentDynamics(x, g, log_r, Q, P, frames, partial)


def _torch_step(denoiser, t: float, tn: float):
    c1, c2 = step_coefficients(t, tn)

    def F(x):
        return c1 * x + c2 * denoiser(x, t)

    return F


def _as_torch_denoiser(denoiser):
    if isinstance(denoiser, ScoreNetwork):
        return denoiser.x0
    if not callable(denoiser):
        raise TypeError("denoiser must be a ScoreNetwork or a torch callable (x, t) -> x0_hat; "
                        f"got {type(denoiser).__name__}")
    return denoiser


def learned_flow_map(denoiser, grid):
    """The DDIM flow map ``x_{t_0} -> x_{t_N}`` of a torch denoiser, as a pure torch function.

    Suitable for ``torch.func`` (``jacrev``, ``jvp``, ``vjp``, ``vmap``); works on ``(n, D)`` or a
    single point ``(D,)``.
    """
    den = _as_torch_denoiser(denoiser)
    g = _check_grid(grid)
    steps = [_torch_step(den, float(g[i]), float(g[i + 1])) for i in range(g.size - 1)]

    def flow(x):
        for F in steps:
            x = F(x)
        return x

    return flow


def _params_dtype(denoiser):
    if isinstance(denoiser, torch.nn.Module):
        return next(denoiser.parameters()).dtype
    return torch.float64


def _jvp(f, x, v):
    """``J_f(x) v`` with ``torch.func``: the transpose of the VJP (``vjp`` of ``u -> J^T u``).

    Equivalent to ``torch.func.jvp`` and several times faster on CPU builds, where forward-mode
    AD runs through Python decompositions.
    """
    from torch.func import vjp

    out, vjp_fn = vjp(f, x)
    _, tjvp_fn = vjp(lambda u: vjp_fn(u)[0], torch.zeros_like(out))
    return tjvp_fn(v)[0].detach()


def learned_tangent_dynamics(denoiser, x_init, grid, *, d: int, k: int | None = None, m: int = 2,
                             seed=0, full: bool = True, record: bool = False) -> TangentDynamics:
    """:func:`oracle_tangent_dynamics` for a learned (torch) denoiser, via ``torch.func``.

    Each step propagates the frame with one batched JVP (``torch.func``, as the transpose of the
    VJP; the ``k`` columns of every sample are stacked as extra rows, valid because samples are
    independent); with ``full=True`` the step Jacobians come from ``vmap(jacrev(F_i))``.
    Computed in the network's dtype; returned as float64 numpy arrays.

    Parameters
    ----------
    denoiser : ScoreNetwork or callable ``(x: Tensor, t: float) -> Tensor``
    d : int
        Intrinsic dimension (sets ``k = d + m``).
    """
    from torch.func import jacrev, vmap

    den = _as_torch_denoiser(denoiser)
    x_np = as_points(x_init, "x_init")
    g = _check_grid(grid)
    n, D = x_np.shape
    d = check_int(d, "d", low=1, high=D)
    k = _default_k(d, D, k, m)
    dt = _params_dtype(denoiser)
    x = torch.as_tensor(x_np, dtype=dt)
    Q = random_frame(n, D, k, seed)
    P = np.broadcast_to(np.eye(D), (n, D, D)).copy() if full else None
    log_r = np.empty((g.size - 1, n, k))
    frames = [Q] if record else None
    partial = [P.copy()] if (record and full) else None
    for i in range(g.size - 1):
        F = _torch_step(den, float(g[i]), float(g[i + 1]))
        # samples are independent: the k tangents of every sample form one flat batch
        tangents = torch.as_tensor(np.moveaxis(Q, 2, 0).reshape(k * n, D), dtype=dt)
        JQ = _jvp(F, x.repeat(k, 1), tangents).reshape(k, n, D)
        with torch.no_grad():
            if full:
                J = vmap(jacrev(F))(x).double().numpy()
            x = F(x)
        Q, log_r[i] = _qr_positive(np.moveaxis(JQ.double().numpy(), 0, 2))
        if full:
            P = J @ P
        if record:
            frames.append(Q)
            if full:
                partial.append(P.copy())
    out = x.double().numpy()
    if not (np.all(np.isfinite(log_r)) and np.all(np.isfinite(out))):
        raise FloatingPointError("learned_tangent_dynamics: non-finite values")
    return TangentDynamics(out, g, log_r, Q, P, frames, partial)


# ============================================================================ SVD of the flow map


def flow_map_svd(jacobian):
    """Frame-independent singular vectors of a batch of flow-map Jacobians.

    ``J = U diag(s) V^T``; the columns of ``U`` (output side) are the finite-time "forward"
    Lyapunov vectors at the sample, ``log s`` the total finite-time exponents.

    Parameters
    ----------
    jacobian : (n, D_out, D_in) array_like

    Returns
    -------
    U : (n, D_out, r), s : (n, r) descending, V : (n, D_in, r) with ``r = min(D_out, D_in)``
    """
    J = np.asarray(jacobian, dtype=np.float64)
    if J.ndim != 3 or not np.all(np.isfinite(J)):
        raise ValueError(
            f"jacobian must be a finite array of shape (n, D_out, D_in); got {J.shape}")
    U, s, Vt = np.linalg.svd(J, full_matrices=False)
    return U, s, np.swapaxes(Vt, 1, 2)


def subspace_iteration(jvp, vjp, n: int, d_in: int, k: int, *, n_iter: int = 30, seed=0):
    """Top-``k`` singular triplets of a batch of linear maps given only JVPs and VJPs.

    Block power iteration on ``J J^T`` (Halko, Martinsson & Tropp 2011):
    ``V <- orth(J^T orth(J V))`` repeated ``n_iter`` times, then a Rayleigh-Ritz SVD of ``J V``.
    The error of the top-``j`` subspace decays like ``(s_{k+1}/s_j)^{2 n_iter}``.

    Parameters
    ----------
    jvp : callable
        ``(k, n, d_in) -> (k, n, d_out)``, tangent vectors per sample (``J_i v`` for each
        sample ``i``), numpy in / numpy out.
    vjp : callable
        ``(k, n, d_out) -> (k, n, d_in)`` (``J_i^T u``).
    n, d_in, k : int
        Batch size, input dimension, number of triplets.
    n_iter : int
        Number of power iterations.
    seed : int
        Seed of the starting frame.

    Returns
    -------
    U : (n, d_out, k), s : (n, k), V : (n, d_in, k)
    """
    n = check_int(n, "n", low=1)
    d_in = check_int(d_in, "d_in", low=1)
    k = check_int(k, "k", low=1, high=d_in)
    n_iter = check_int(n_iter, "n_iter", low=0)
    V = random_frame(n, d_in, k, seed)

    def apply(f, M):  # M: (n, D, k) -> f on (k, n, D) -> (n, D', k)
        out = np.asarray(f(np.moveaxis(M, 2, 0)), dtype=np.float64)
        return np.moveaxis(out, 0, 2)

    for _ in range(n_iter):
        U, _r = np.linalg.qr(apply(jvp, V))
        V, _r = np.linalg.qr(apply(vjp, U))
    W = apply(jvp, V)  # (n, d_out, k) = J V
    Uw, s, Vwt = np.linalg.svd(W, full_matrices=False)
    return Uw, s, V @ np.swapaxes(Vwt, 1, 2)


def learned_flow_map_svd(denoiser, x_init, grid, *, k: int | None = None, method: str = "full",
                         n_iter: int = 30, seed=0):
    """SVD of the flow-map Jacobian of a learned DDIM sampler (no final denoising).

    ``method="full"``: ``vmap(jacrev(flow))`` then a dense SVD (small ``D``);
    ``method="subspace"``: :func:`subspace_iteration` with ``torch.func`` JVPs/VJPs through the
    whole sampler (memory ``O(N n width)``, no ``D x D`` matrix).

    Returns
    -------
    samples : (n, D) ndarray, U : (n, D, k), s : (n, k), V : (n, D, k)
    """
    from torch.func import jacrev, vjp, vmap

    x_np = as_points(x_init, "x_init")
    n, D = x_np.shape
    k = D if k is None else check_int(k, "k", low=1, high=D)
    flow = learned_flow_map(denoiser, grid)
    dt = _params_dtype(denoiser)
    x = torch.as_tensor(x_np, dtype=dt)
    with torch.no_grad():
        out = flow(x).double().numpy()
    if method == "full":
        with torch.no_grad():
            J = vmap(jacrev(flow))(x).double().numpy()
        U, s, V = flow_map_svd(J)
        return out, U[:, :, :k], s[:, :k], V[:, :, :k]
    if method != "subspace":
        raise ValueError(f"method must be 'full' or 'subspace'; got {method!r}")
    # samples are independent, so k tangents per sample = one flat batch of k*n rows
    x_rep = x.repeat(k, 1)
    out_rep, vjp_fn = vjp(flow, x_rep)
    # JVP by transposing the (linear) VJP once: much faster than forward-mode AD on CPU
    _, tjvp_fn = vjp(lambda u: vjp_fn(u)[0], torch.zeros_like(out_rep))

    def jv(T):
        tt = torch.as_tensor(T, dtype=dt).reshape(k * n, D)
        return tjvp_fn(tt)[0].detach().reshape(k, n, D).double().numpy()

    def vj(T):
        tt = torch.as_tensor(T, dtype=dt).reshape(k * n, D)
        return vjp_fn(tt)[0].detach().reshape(k, n, D).double().numpy()

    U, s, V = subspace_iteration(jv, vj, n, D, k, n_iter=n_iter, seed=seed)
    return out, U, s, V


# ============================================================================ alignment metrics


def estimate_intrinsic_dim(s) -> np.ndarray:
    """Intrinsic dimension from the largest gap of the log singular values.

    .. math:: \\hat d = \\arg\\max_{1 \\le j < r} (\\log s_j - \\log s_{j+1})

    Parameters
    ----------
    s : (n, r) array_like
        Singular values in descending order, ``r >= 2``.

    Returns
    -------
    (n,) int ndarray
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"s must have shape (n, r) with r >= 2; got {s.shape}")
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("s must hold finite singular values > 0")
    gaps = -np.diff(np.log(s), axis=1)
    return np.argmax(gaps, axis=1) + 1


def alignment_metrics(U, s, x_out, manifold, *, d: int | None = None, score=None,
                      alpha_out: float = 1.0) -> dict:
    """Alignment of the top-``d`` output-side singular vectors with the tangent space.

    With ``E_d = U[:, :, :d]`` and ``T`` the tangent basis of ``manifold`` at
    ``p = project(x_out / alpha_out)``:

    * ``sin_theta_max = |(I - T T^T) E_d|_2`` and all principal angles
      (:func:`magt_theory.metrics.principal_angles`);
    * ``spectral_gap = log s_d - log s_{d+1}`` (when ``s`` has more than ``d`` entries);
    * ``intrinsic_dim`` = :func:`estimate_intrinsic_dim` (when ``s`` has >= 2 entries);
    * with a ``score`` ``s_hat`` at ``x_out``: ``score_tangent = |E_d^T s_hat|`` and
      ``score_tangent_rel = |E_d^T s_hat| / |s_hat|`` (score orthogonality, CdC).

    Parameters
    ----------
    U : (n, D, r) array_like
        Output-side singular vectors (descending singular values), ``r >= d``.
    s : (n, r) array_like
    x_out : (n, D) array_like
        Sampler outputs (level ``t_N``).
    manifold : Manifold
    d : int, optional
        Defaults to ``manifold.dim``.
    score : (n, D) array_like, optional
    alpha_out : float
        Signal scale of ``x_out`` (``alpha_{t_N}``; 1 after a final denoising).

    Returns
    -------
    dict of (n,) or (n, d) ndarrays
    """
    from . import metrics

    x_out = as_points(x_out, "x_out", manifold.ambient_dim)
    U = np.asarray(U, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    n, D = x_out.shape
    d = manifold.dim if d is None else check_int(d, "d", low=1, high=D)
    if U.ndim != 3 or U.shape[:2] != (n, D) or U.shape[2] < d:
        raise ValueError(f"U must have shape ({n}, {D}, r >= {d}); got {U.shape}")
    if s.shape != (n, U.shape[2]):
        raise ValueError(f"s must have shape ({n}, {U.shape[2]}); got {s.shape}")
    alpha_out = check_positive(alpha_out, "alpha_out")
    p = manifold.project(x_out / alpha_out)
    T = manifold.tangent_basis(p)
    E = U[:, :, :d]
    ang = metrics.principal_angles(T, E)
    out = {"sin_theta_max": np.sin(ang[:, -1]), "principal_angles": ang}
    if s.shape[1] > d:
        with np.errstate(divide="ignore"):
            gap = np.log(s[:, d - 1]) - np.log(s[:, d])
        out["spectral_gap"] = gap
    if s.shape[1] >= 2 and np.all(s > 0):
        out["intrinsic_dim"] = estimate_intrinsic_dim(s)
    if score is not None:
        sc = as_points(score, "score", D)
        proj = np.linalg.norm(np.einsum("nDd,nD->nd", E, sc), axis=1)
        out["score_tangent"] = proj
        out["score_tangent_rel"] = proj / np.maximum(np.linalg.norm(sc, axis=1), 1e-300)
    return out


def alignment_table(manifold, *, n: int = 64, n_steps: int = 200, t_max: float = 0.9999,
                    t_min: float = 1e-4, m: int = 2, seed: int = 0,
                    experiment: str = "lyapunov_alignment"):
    """Oracle-DDIM alignment diagnostics as tidy rows (one sweep point).

    Runs :func:`oracle_tangent_dynamics` from ``n`` prior-noise points (``seed``) on a
    log-SNR grid, then reports medians over the samples of: ``sin_theta_max_svd`` (top-``d``
    left singular vectors of the flow-map Jacobian vs the tangent space), ``sin_theta_max_qr``
    (first ``d`` Benettin vectors), ``spectral_gap``, ``intrinsic_dim``, ``score_tangent_rel``
    (with the exact score at ``t_min``), ``lyapunov_svd_top`` / ``lyapunov_svd_min`` (log of the
    largest / smallest singular value of the flow map over ``T = log(sigma_0/sigma_min)``;
    directions orthogonal to the data span give exactly -1) and ``lyapunov_qr_top`` /
    ``lyapunov_qr_min`` (first and last of the ``k = d + m`` Benettin exponents, same clock).

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, n_steps, quantity, value``.
    """
    import pandas as pd

    g = time_grid(n_steps, t_max, t_min)
    x0 = prior_noise(n, manifold.ambient_dim, seed)
    dyn = oracle_tangent_dynamics(manifold, x0, g, m=m, seed=seed + 1)
    U, s, _ = flow_map_svd(dyn.jacobian)
    a_min, s_min = vp_alpha_sigma(t_min)
    score = manifold.smoothed_score(dyn.samples, s_min, a_min)
    met = alignment_metrics(U, s, dyn.samples, manifold, score=score, alpha_out=a_min)
    d = manifold.dim
    p = manifold.project(dyn.samples / a_min)
    qr_sin = np.sin(_angles(manifold.tangent_basis(p), dyn.frame[:, :, :d])[:, -1])
    lyap = dyn.exponents("log_sigma")
    T = 0.5 * math.log(g[0] / g[-1])
    vals = {
        "sin_theta_max_svd": np.median(met["sin_theta_max"]),
        "sin_theta_max_qr": np.median(qr_sin),
        "score_tangent_rel": np.median(met["score_tangent_rel"]),
        "lyapunov_svd_top": np.median(np.log(s[:, 0])) / T,
        "lyapunov_svd_min": np.median(np.log(s[:, -1])) / T,
        "lyapunov_qr_top": np.median(lyap[:, 0]),
        "lyapunov_qr_min": np.median(lyap[:, -1]),
    }
    if "spectral_gap" in met:
        vals["spectral_gap"] = np.median(met["spectral_gap"])
    if "intrinsic_dim" in met:
        vals["intrinsic_dim"] = np.median(met["intrinsic_dim"])
    base = {"experiment": experiment, "manifold": manifold.name, "d": d,
            "D": manifold.ambient_dim, "seed": seed, "sigma_min": s_min, "n_steps": n_steps}
    return pd.DataFrame([{**base, "quantity": q, "value": float(v)} for q, v in vals.items()])


def _angles(A, B):
    from . import metrics

    return metrics.principal_angles(A, B)


# ============================================================================ robustness of support


class SmoothErrorField:
    """A smooth, bounded random vector field ``chi: R^D -> R^D`` (random Fourier features).

    .. math:: \\chi(x) = \\sqrt{2/F}\\, A \\cos(W x + b),\\quad
        W_{lj} \\sim N(0, \\ell^{-2}),\\ b_l \\sim U[0, 2\\pi),\\ A_{il} \\sim N(0, 1/D),

    an approximate sample of a Gaussian process with squared-exponential kernel of length scale
    ``ell``, normalised so that ``E|chi(x)|^2 = 1`` at every ``x`` in expectation over the draw of
    the field (then ``eps chi`` has RMS size ``eps``). Bounded by ``sqrt(2/F) sum_l |A_{:,l}|``; Lipschitz constant ``O(1/ell)``.
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
    """A denoiser with an injected error ``eps chi(x)`` (THEORY.md §5, CdC).

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
        alpha, sigma = vp_alpha_sigma(t)
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


def support_robustness(manifold, *, eps=(1e-3, 1e-2, 1e-1), sites=SITES, n: int = 512,
                       n_steps: int = 100, t_max: float = 0.9999, t_min: float = 1e-4,
                       sampler: str = "ddim", denoise_final: bool = False, seed: int = 0,
                       field_seed: int | None = None, lengthscale: float = 1.0,
                       threshold: float = 0.1, w2_method: str = "exact",
                       experiment: str = "support_robustness", denoiser=None):
    """Robustness of the generated support to injected errors, as tidy rows (one sweep point).

    Runs the sampler (oracle posterior mean of ``manifold``, or ``denoiser``) once from prior noise
    (``seed``; DDPM step noise ``seed + 1``, frozen), then reruns it from the *same* noise with :class:`PerturbedDenoiser` for every
    ``site`` and ``eps``, and reports for the perturbed output:

    * ``normal_displacement``, ``tangent_displacement``: mean ``|P_N dx|``, ``|P_T dx|`` (the
      split is linear response: for large tangent moves ``P_N dx`` also contains the chord term
      ``~ kappa |P_T dx|^2 / 2`` of a curved manifold; ``abs_delta_distance`` does not);
    * ``normal_tangent_ratio``: ``sum |P_N dx| / sum |P_T dx|`` (ratio of the means; CdC predicts
      ``<< 1`` for the score and ``O(1)`` for the denoiser);
    * ``normal_tangent_ratio_median``: median of the per-sample ratios;
    * ``delta_distance``, ``abs_delta_distance``: mean (signed) and mean absolute change of the
      distance to the manifold;
    * ``w2``: ``W2`` to a reference sample of size ``n`` (``seed + 2``), ``off_manifold_rate``.

    The unperturbed run gives rows with ``site="none"``, ``eps=0`` (``w2``, ``off_manifold_rate``,
    ``mean_distance``) and the two-sample ``w2_noise_floor``. Without final denoising the outputs
    live at level ``t_min``; the reference sample is then smoothed the same way
    (``alpha_min Y0 + sigma_min Z``), and the tangent space is taken at
    ``project(x / alpha_min)``.

    Parameters
    ----------
    manifold : Manifold
        Ground truth (projection, tangent spaces, reference samples).
    eps : sequence of float > 0
        Error magnitudes (RMS size of ``eps chi``).
    sites : subset of {"score", "denoiser"}
    n, n_steps, t_max, t_min : sampler size and log-SNR grid.
    sampler : {"ddim", "ddpm"}
    denoise_final : bool
        Append the Tweedie denoising step.
    seed, field_seed, lengthscale : noise / error-field seeds and the field's length scale.
    threshold : float
        Off-manifold threshold.
    w2_method : str
        :func:`magt_theory.metrics.wasserstein` method.
    experiment : str
        Value of the ``experiment`` column.
    denoiser : callable ``(x, t) -> x0_hat`` (numpy), optional
        E.g. ``ScoreNetwork.denoise`` of a learned model; defaults to the oracle.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, eps, site, n, n_steps, quantity,
        value``.
    """
    import pandas as pd

    from . import metrics

    eps = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=np.float64))]
    if not eps or any(not math.isfinite(e) or e <= 0 for e in eps):
        raise ValueError(f"eps must be a non-empty list of finite numbers > 0; got {eps!r}")
    sites = [sites] if isinstance(sites, str) else list(sites)
    if not sites or any(s not in SITES for s in sites):
        raise ValueError(f"sites must be a non-empty subset of {SITES}; got {sites!r}")
    if sampler not in ("ddim", "ddpm"):
        raise ValueError(f"sampler must be 'ddim' or 'ddpm'; got {sampler!r}")
    seed = check_int(seed, "seed", low=0)
    n = check_int(n, "n", low=2)
    g = time_grid(n_steps, t_max, t_min)
    D = manifold.ambient_dim
    a_min, s_min = vp_alpha_sigma(t_min)
    alpha_out = 1.0 if denoise_final else a_min
    field = SmoothErrorField(D, seed=seed + 3 if field_seed is None else field_seed,
                             lengthscale=lengthscale)
    if denoiser is None:
        base = OracleDenoiser(manifold)
    elif isinstance(denoiser, ScoreNetwork):
        base = denoiser.denoise
    elif callable(denoiser):
        base = denoiser
    else:
        raise TypeError(f"denoiser must be callable (x, t) -> x0_hat; got {type(denoiser).__name__}")
    x0 = prior_noise(n, D, seed)

    def run(den):
        if sampler == "ddim":
            return ddim_sample(den, x0, g, denoise_final=denoise_final).samples
        return ddpm_sample(den, x0, g, seed=seed + 1, denoise_final=denoise_final).samples

    def reference(rng_seed):
        r = as_rng(rng_seed)
        y = manifold.sample(n, r)
        if not denoise_final:
            y = a_min * y + s_min * r.standard_normal(y.shape)
        return y

    ref, ref2 = reference(seed + 2), reference(seed + 1000)
    clean = run(base)
    base_row = {"experiment": experiment, "manifold": manifold.name, "d": manifold.dim, "D": D,
                "seed": seed, "sigma_min": s_min, "n": n, "n_steps": n_steps}
    rows = []

    def add(e, site, q, v):
        rows.append({**base_row, "eps": e, "site": site, "quantity": q, "value": float(v)})

    add(0.0, "none", "w2", metrics.wasserstein(clean, ref, method=w2_method))
    add(0.0, "none", "w2_noise_floor", metrics.wasserstein(ref2, ref, method=w2_method))
    add(0.0, "none", "off_manifold_rate", metrics.off_manifold_rate(clean, manifold, threshold))
    add(0.0, "none", "mean_distance", manifold.distance(clean).mean())
    for site in sites:
        for e in eps:
            pert = run(PerturbedDenoiser(base, field, e, site))
            sp = displacement_split(clean, pert, manifold, alpha_out=alpha_out)
            add(e, site, "normal_displacement", sp["normal"].mean())
            add(e, site, "tangent_displacement", sp["tangent"].mean())
            add(e, site, "normal_tangent_ratio",
                sp["normal"].sum() / max(sp["tangent"].sum(), 1e-300))
            add(e, site, "normal_tangent_ratio_median",
                np.median(sp["ratio"][np.isfinite(sp["ratio"])]))
            add(e, site, "delta_distance", sp["delta_distance"].mean())
            add(e, site, "abs_delta_distance", np.abs(sp["delta_distance"]).mean())
            add(e, site, "w2", metrics.wasserstein(pert, ref, method=w2_method))
            add(e, site, "off_manifold_rate", metrics.off_manifold_rate(pert, manifold, threshold))
    cols = ["experiment", "manifold", "d", "D", "seed", "sigma_min", "eps", "site", "n", "n_steps",
            "quantity", "value"]
    return pd.DataFrame(rows, columns=cols)


# ============================================================================ one-step generators


def _single(G):
    """``G`` on one latent ``(k,) -> (D,)``, whether ``G`` is batched or not."""

    def f(z):
        return G(z[None])[0]

    return f


def one_step_alignment(G, z, manifold, *, d: int | None = None, score_sigma: float | None = None,
                       dtype=torch.float64) -> dict:
    """Alignment metrics of a one-step generator ``G: R^k -> R^D`` (THEORY.md §5; MAGT, CharGen).

    ``J_G(z)`` from ``torch.func.jacrev`` (vmapped over the batch), ``J = U diag(s) V^T``; the
    top-``d`` left singular vectors are compared with the tangent space at ``project(G(z))``
    (:func:`alignment_metrics`). The spectral gap ``log s_d - log s_{d+1}`` exists for ``k > d``.

    Parameters
    ----------
    G : callable
        Torch function mapping a batch ``(n, k) -> (n, D)`` (e.g. an ``nn.Module``).
    z : (n, k) array_like
        Latent points.
    manifold : Manifold
    d : int, optional
        Defaults to ``manifold.dim``.
    score_sigma : float, optional
        If given, also report the orthogonality of the exact smoothed score at this ``sigma``
        (``alpha = 1``) at ``G(z)``.
    dtype : torch.dtype
        Dtype of ``z`` fed to ``G`` (must match its parameters).

    Returns
    -------
    dict
        ``x`` (n, D), ``U``, ``s``, and the entries of :func:`alignment_metrics`.
    """
    from torch.func import jacrev, vmap

    if not callable(G):
        raise TypeError(f"G must be a torch callable (n, k) -> (n, D); got {type(G).__name__}")
    z_np = as_points(z, "z")
    zt = torch.as_tensor(z_np, dtype=dtype)
    with torch.no_grad():
        x = G(zt).double().numpy()
        J = vmap(jacrev(_single(G)))(zt).double().numpy()
    if x.shape != (z_np.shape[0], manifold.ambient_dim):
        raise ValueError(f"G must map (n, k) -> (n, {manifold.ambient_dim}); got output {x.shape}")
    U, s, V = flow_map_svd(J)
    score = None
    if score_sigma is not None:
        score = manifold.smoothed_score(x, check_positive(score_sigma, "score_sigma"), 1.0)
    met = alignment_metrics(U, s, x, manifold, d=d, score=score)
    return {"x": x, "U": U, "s": s, **met}


def parameter_displacement(G, z, manifold, *, scale: float = 1e-3, n_draws: int = 8, seed=0,
                           relative: bool = True, dtype=torch.float64) -> dict:
    """Normal/tangent split of the output change under random parameter perturbations.

    For ``xi`` Gaussian in parameter space (each tensor scaled by ``scale`` times its RMS when
    ``relative``, else by ``scale``), the first-order output change ``dx = J_theta(z) xi`` is
    computed by ``torch.func.jvp`` through ``torch.func.functional_call`` and split at
    ``project(G(z))`` (THEORY.md §5: ``dx = J_theta xi`` into normal/tangent parts).

    Parameters
    ----------
    G : torch.nn.Module
        Batched generator ``(n, k) -> (n, D)``.
    z : (n, k) array_like
    manifold : Manifold
    scale : float
    n_draws : int
    seed : int
    relative : bool
    dtype : torch.dtype

    Returns
    -------
    dict with (n_draws, n) arrays ``normal``, ``tangent``, ``ratio`` and the scalar
    ``ratio_of_means = sum normal / sum tangent``.
    """
    from torch.func import functional_call, jvp

    if not isinstance(G, torch.nn.Module):
        raise TypeError(f"G must be a torch.nn.Module; got {type(G).__name__}")
    scale = check_positive(scale, "scale")
    n_draws = check_int(n_draws, "n_draws", low=1)
    z_np = as_points(z, "z")
    zt = torch.as_tensor(z_np, dtype=dtype)
    params = {k: v.detach() for k, v in G.named_parameters()}
    rng = as_rng(seed)
    with torch.no_grad():
        x = G(zt).double().numpy()
    D = manifold.ambient_dim
    if x.shape != (z_np.shape[0], D):
        raise ValueError(f"G must map (n, k) -> (n, {D}); got output {x.shape}")
    T = manifold.tangent_basis(manifold.project(x))

    def f(p):
        return functional_call(G, p, (zt,))

    normal, tangent = [], []
    for _ in range(n_draws):
        xi = {}
        for name, p in params.items():
            sd = scale * (float(p.pow(2).mean().sqrt()) if relative else 1.0)
            sd = sd if sd > 0 else scale
            xi[name] = torch.as_tensor(rng.standard_normal(tuple(p.shape)) * sd, dtype=p.dtype)
        with torch.no_grad():
            dx = jvp(f, (params,), (xi,))[1].double().numpy()
        tan = np.einsum("nDd,nd->nD", T, np.einsum("nDd,nD->nd", T, dx))
        tangent.append(np.linalg.norm(tan, axis=1))
        normal.append(np.linalg.norm(dx - tan, axis=1))
    normal, tangent = np.array(normal), np.array(tangent)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tangent > 0, normal / np.where(tangent > 0, tangent, 1.0), np.inf)
    return {"normal": normal, "tangent": tangent, "ratio": ratio,
            "ratio_of_means": float(normal.sum() / max(tangent.sum(), 1e-300))}
