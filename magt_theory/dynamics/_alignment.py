"""Alignment of output-side singular vectors with the tangent space; one-step generators
(:func:`one_step_alignment`, :func:`parameter_displacement`) [CdC, MAGT, CharGen]."""

from __future__ import annotations

import numpy as np
import torch

from .._validation import as_points, as_rng, check_int, check_positive
from ._svd import flow_map_svd



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
    from .. import metrics

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


def _single(G):
    """``G`` on one latent ``(k,) -> (D,)``, whether ``G`` is batched or not."""

    def f(z):
        return G(z[None])[0]

    return f


def one_step_alignment(G, z, manifold, *, d: int | None = None, score_sigma: float | None = None,
                       dtype=torch.float64) -> dict:
    """Alignment metrics of a one-step generator ``G: R^k -> R^D`` [CdC; MAGT, CharGen].

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
    ``project(G(z))`` (CdC: ``dx = J_theta xi`` into normal/tangent parts).

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
