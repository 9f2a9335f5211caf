"""SNIS means and scores of a generator, area-formula and smoothed log densities [MAGT §3]."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from ..._validation import as_points, check_int, check_positive
from ...anchors import snis, snis_per_query
from ..mlp import resolve_dtype
from ..proposals import (
    PROPOSALS,
    Proposal,
    base_log_prob,
    batched_jacobian,
    check_base,
    make_proposal,
)
from ._loss import Generator, _forward_chunks

logger = logging.getLogger("magt_theory.models.magt")


def _as_tensor(x, name, dim, dtype, device):
    if isinstance(x, torch.Tensor):
        if x.dim() != 2 or (dim is not None and x.shape[1] != dim):
            raise ValueError(f"{name} must have shape (n, {dim or 'D'}); got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
        return x.to(dtype=dtype, device=device)
    return torch.as_tensor(as_points(x, name, dim), dtype=dtype, device=device)


def _h_dtype(h, default=torch.float64):
    if isinstance(h, torch.nn.Module):
        for p in h.parameters():
            return p.dtype, p.device
    return default, torch.device("cpu")


def _check_alpha(alpha):
    a = float(alpha)
    if not math.isfinite(a) or not 0.0 < a <= 1.0:
        raise ValueError(f"alpha must be in (0, 1]; got {alpha!r}")
    return a


def _draw(proposal, h, y, K, d, alpha, sigma, base, gen):
    if isinstance(proposal, str):
        proposal = make_proposal(proposal)
    if not isinstance(proposal, Proposal):
        raise TypeError(
            f"proposal must be a Proposal or one of {sorted(PROPOSALS)}; got {proposal!r}"
        )
    return proposal, proposal.draw(h, y, K, d, alpha, sigma, base, gen)


def _snis_blocks(h, y, alpha, sigma, n_anchors, latent_dim, proposal, base, seed, chunk_size,
                 query_chunk):
    """Validated arguments, then the SNIS of :mod:`magt_theory.anchors` over the anchor images.

    Shared proposals (MC, QMC) draw one set of ``K`` anchors for all queries (from ``y[:1]``)
    and call ``snis`` once; per-query proposals (MAP) draw ``K`` anchors for each query, one
    block of ``query_chunk`` queries at a time, and call
    :func:`~magt_theory.anchors.snis_per_query` on each block.

    Returns
    -------
    yt : (n, D) torch.Tensor
        The queries in the generator's dtype and device.
    numpy_in : bool
        Whether ``y`` was not a tensor (the caller returns numpy float64).
    results : list of SNISResult
        In query order.
    """
    alpha = _check_alpha(alpha)
    sigma = check_positive(sigma, "sigma")
    K = check_int(n_anchors, "n_anchors", low=1)
    d = check_int(latent_dim, "latent_dim", low=1)
    check_base(base)
    seed = check_int(seed, "seed", low=0)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    query_chunk = check_int(query_chunk, "query_chunk", low=1)
    numpy_in = not isinstance(y, torch.Tensor)
    dtype, device = _h_dtype(h)
    yt = _as_tensor(y, "y", None, dtype, device)
    gen = torch.Generator(device=device).manual_seed(seed)
    proposal = make_proposal(proposal) if isinstance(proposal, str) else proposal
    if not proposal.per_query:
        _, shared = _draw(proposal, h, yt[:1], K, d, alpha, sigma, base, gen)
        H = _forward_chunks(h, shared.u[0], chunk_size)
        lw = None if shared.log_weights is None else shared.log_weights[0]
        return yt, numpy_in, [snis(yt, H, alpha, sigma, lw, chunk_size=query_chunk)]
    results = []
    for i in range(0, yt.shape[0], query_chunk):
        yb = yt[i : i + query_chunk]
        _, anchors = _draw(proposal, h, yb, K, d, alpha, sigma, base, gen)
        G = anchors.u.shape[0]
        H = _forward_chunks(h, anchors.u.reshape(G * K, d), chunk_size).reshape(G, K, -1)
        results.append(snis_per_query(yb, H, alpha, sigma, anchors.log_weights))
    return yt, numpy_in, results


def snis_mean(
    h: Generator,
    y,
    alpha: float,
    sigma: float,
    n_anchors: int,
    latent_dim: int,
    proposal="mc",
    base: str = "normal",
    seed: int = 0,
    chunk_size: int = 1024,
    query_chunk: int = 1024,
):
    """SNIS posterior mean ``m~(y) = sum_k w_k h(u_k)`` of a generator (no gradients).

    .. math:: w_k \\propto \\frac{\\pi(u_k)}{\\tilde\\pi(u_k)}
              \\exp\\Big(-\\frac{|y-\\alpha h(u_k)|^2}{2\\sigma^2}\\Big)

    Shared proposals (MC, QMC) draw one set of ``K`` anchors for all queries; MAP draws per
    query. The weights are those of :func:`magt_theory.anchors.snis` over the anchor images
    ``h(u_k)`` (streaming log-sum-exp). Works with any ``h``: an ``MLP`` or a manifold's exact
    generator (``lambda u: M.generator(u)``).

    Parameters
    ----------
    h : callable
        ``(n, d) torch.Tensor -> (n, D) torch.Tensor``.
    y : (n, D) array_like or torch.Tensor
        Queries. Numpy input gives numpy float64 output.
    alpha, sigma : float
        Level: ``alpha`` in (0, 1], ``sigma > 0``.
    n_anchors, latent_dim : int
        ``K >= 1`` and ``d >= 1``.
    proposal : {"mc", "qmc", "map"} or Proposal
    base : {"normal", "uniform"}
    seed : int
        Seed of the anchor draws.
    chunk_size, query_chunk : int
        Anchors per forward chunk of ``h``; queries (and anchors) per block of the streaming
        SNIS (working memory ``O(query_chunk^2 + query_chunk D + K)``).

    Returns
    -------
    mean : (n, D) ndarray or torch.Tensor
    ess : (n,) ndarray or torch.Tensor
        Kish effective sample size ``(sum w)^2 / sum w^2`` per query.
    """
    _, numpy_in, results = _snis_blocks(
        h, y, alpha, sigma, n_anchors, latent_dim, proposal, base, seed, chunk_size, query_chunk
    )
    mean = torch.cat([r.posterior_mean for r in results])
    ess = torch.cat([r.ess for r in results])
    if numpy_in:
        return mean.double().cpu().numpy(), ess.double().cpu().numpy()
    return mean, ess


def snis_score(
    h: Generator, y, alpha: float, sigma: float, n_anchors: int, latent_dim: int, **kwargs
):
    """SNIS score ``s~(y) = (alpha m~(y) - y) / sigma^2`` of a generator [MAGT §3].

    Same parameters as :func:`snis_mean`; returns ``(n, D)`` (numpy for numpy input).
    """
    m, _ = snis_mean(h, y, alpha, sigma, n_anchors, latent_dim, **kwargs)
    if isinstance(m, torch.Tensor):
        yt = y.to(dtype=m.dtype, device=m.device)
        return (alpha * m - yt) / sigma**2
    return (alpha * m - np.asarray(y, dtype=np.float64).reshape(m.shape)) / sigma**2


def area_log_density(h: Generator, u, base: str = "normal", chunk_size: int = 1024, dtype=None):
    """Intrinsic log density of ``h_# pi`` at ``h(u)`` by the area formula [MAGT §3].

    .. math:: \\log p_{\\mathcal M}(h(u)) = \\log \\pi(u) - \\tfrac12 \\log\\det\\big(J_h(u)^T J_h(u)\\big)

    valid where ``h`` is injective with full-rank Jacobian (otherwise the density at a point sums
    over its preimages and this is one preimage's term). ``1/2 log det(J^T J)`` is computed as
    the sum of the log singular values of ``J`` (batched ``torch.func.vmap(jacrev)``).

    Parameters
    ----------
    h : callable
        ``(n, d) torch.Tensor -> (n, D) torch.Tensor`` with ``D >= d``: an ``MLP`` or a
        manifold's exact generator (``lambda u: M.generator(u)``).
    u : (n, d) array_like or torch.Tensor
        Latent points. Numpy input gives a numpy float64 output.
    base : {"normal", "uniform"}
        Base law ``pi``.
    chunk_size : int
        Points per Jacobian batch.
    dtype : torch dtype or str, optional
        Compute dtype; default the parameter dtype of an ``nn.Module`` ``h``, else float64.

    Returns
    -------
    (n,) ndarray or torch.Tensor
        ``+inf`` where ``J`` is rank deficient (a warning is logged); ``-inf`` outside the
        support of a uniform base.
    """
    check_base(base)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    numpy_in = not isinstance(u, torch.Tensor)
    dt, device = _h_dtype(h)
    if dtype is not None:
        dt = resolve_dtype(dtype)
    ut = _as_tensor(u, "u", None, dt, device)
    out = []
    with torch.no_grad():
        for i in range(0, ut.shape[0], chunk_size):
            uc = ut[i : i + chunk_size]
            J = batched_jacobian(h, uc)  # (n, D, d)
            if J.shape[1] < J.shape[2]:
                raise ValueError(
                    "area formula needs ambient dim >= latent dim; "
                    f"got D={J.shape[1]} < d={J.shape[2]}"
                )
            half_logdet = torch.log(torch.linalg.svdvals(J)).sum(-1)
            out.append(base_log_prob(uc, base) - half_logdet)
    res = torch.cat(out) if out else torch.zeros(0, dtype=dt)
    if torch.isposinf(res).any():
        logger.warning(
            "area_log_density: rank-deficient Jacobian at %d points (+inf)",
            int(torch.isposinf(res).sum()),
        )
    if torch.isnan(res).any():
        raise FloatingPointError("area_log_density produced NaN; check the generator's Jacobian")
    return res.double().cpu().numpy() if numpy_in else res


def smoothed_log_density(
    h: Generator,
    y,
    alpha: float,
    sigma: float,
    n_anchors: int,
    latent_dim: int,
    proposal="mc",
    base: str = "normal",
    seed: int = 0,
    chunk_size: int = 1024,
    query_chunk: int = 1024,
):
    """Anchor Monte Carlo estimate of the smoothed log density of ``h_# pi`` [MAGT §3].

    .. math::

        \\hat p_t(y) = \\frac1K \\sum_k \\frac{\\pi(u_k)}{\\tilde\\pi(u_k)}
            (2\\pi\\sigma^2)^{-D/2} \\exp\\Big(-\\frac{|y - \\alpha h(u_k)|^2}{2\\sigma^2}\\Big)

    (an unbiased estimate of ``p_t(y)``; its log is biased low by ``O(1/ESS)``): the
    ``log_norm`` of :func:`magt_theory.anchors.snis` over the anchor images. Parameters as
    in :func:`snis_mean`; returns ``(n,)``, numpy float64 for numpy input.
    """
    _, numpy_in, results = _snis_blocks(
        h, y, alpha, sigma, n_anchors, latent_dim, proposal, base, seed, chunk_size, query_chunk
    )
    res = torch.cat([r.log_norm for r in results])
    return res.double().cpu().numpy() if numpy_in else res
