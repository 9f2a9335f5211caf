"""SVD of flow-map Jacobians: dense (:func:`flow_map_svd`), by subspace iteration with JVPs and
VJPs (:func:`subspace_iteration`), and through a learned DDIM sampler
(:func:`learned_flow_map_svd`) [CdC]."""

from __future__ import annotations

import numpy as np
import torch

from .._validation import as_points, check_int
from ._steps import random_frame
from ._tangent import _params_dtype, learned_flow_map



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
