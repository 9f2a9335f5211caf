"""Self-normalised importance sampling (SNIS) over generator anchors (docs/conventions.md §4-5; MAGT §3).

MAGT replaces the intractable posterior over the latent space by ``K`` anchors
``u_1..u_K ~ pi~`` pushed through the generator, ``c_k = h(u_k)``. For a query ``y`` at one
smoothing level ``Y = alpha Y0 + sigma Z`` the anchor posterior is

.. math::

    w_{bk} \\propto \\exp\\Big(\\ell_k - \\frac{|y_b - \\alpha c_k|^2}{2\\sigma^2}\\Big),
    \\qquad \\ell_k = \\log\\frac{\\pi(u_k)}{\\tilde\\pi(u_k)},

    \\tilde m(y_b) = \\sum_k w_{bk} c_k, \\qquad
    \\tilde s(y_b) = \\frac{\\alpha \\tilde m(y_b) - y_b}{\\sigma^2}
    \\quad\\text{(Tweedie)}.

Everything is evaluated with a streaming (online) log-sum-exp over anchor chunks, so no
``B x K x D`` tensor (nor a full copy of the anchors) is formed and the peak working memory
beyond the ``B x D`` outputs is ``O(chunk_size^2 + chunk_size D + K)``.

The quality of the estimate is summarised by Kish's effective sample size
``ESS = (sum_k w_k)^2 / sum_k w_k^2``. Near a d-dimensional manifold with MC anchors
(``pi~ = pi``) the second-moment ratio of the weights grows like ``sigma^{-d}``, hence
**[derived]**

.. math::

    \\mathrm{ESS}(y) \\sim K \\sigma^{d}\\quad
    (K\\sigma^d \\gg 1,\\ \\sigma \\ll \\text{reach}),

e.g. ``ESS ~ K sigma / sqrt(pi)`` for uniform anchors on the unit circle (d = 1), which is the
source of the ``1/(K sigma^{d+4})`` anchor-error bound of MAGT Lemma 1.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.special as sc

from . import _xp
from ._validation import as_points, check_alpha, check_int, check_positive

__all__ = ["SNISResult", "snis", "snis_per_query", "kish_ess"]


class SNISResult(NamedTuple):
    """Output of :func:`snis` (numpy float64 arrays, or torch tensors for torch input).

    Attributes
    ----------
    posterior_mean : (B, D)
        ``m~(y) = sum_k w_k c_k``, the anchor estimate of ``E[Y0 | Y = y]``.
    ess : (B,)
        Kish effective sample size ``(sum w)^2 / sum w^2``, in ``[1, K]``.
    score : (B, D)
        ``(alpha m~(y) - y) / sigma^2``.
    log_norm : (B,)
        ``log (1/K) sum_k exp(l_k) phi(y; alpha c_k, sigma^2 I_D)``.
    """

    posterior_mean: object
    ess: object
    score: object
    log_norm: object


def kish_ess(log_w, axis: int = -1):
    """Kish effective sample size of unnormalised log weights, computed in log space.

    .. math::

        \\mathrm{ESS} = \\frac{(\\sum_k w_k)^2}{\\sum_k w_k^2}
        = \\exp\\big(2\\,\\mathrm{LSE}(\\log w) - \\mathrm{LSE}(2 \\log w)\\big)

    Invariant to adding a constant to ``log_w``; ``1 <= ESS <= K``. Near a d-dimensional
    manifold the SNIS weights of :func:`snis` give ``ESS ~ K sigma^d`` (docs/conventions.md §4-5, MAGT
    Lemma 1) **[derived]**.

    Parameters
    ----------
    log_w : (..., K) array_like or torch.Tensor
        Log weights; ``-inf`` entries (zero weight) are allowed, NaN and ``+inf`` are not, and
        every slice needs at least one finite entry.
    axis : int
        Axis holding the K weights.

    Returns
    -------
    ess : (...) ndarray (float64) or torch.Tensor
    """
    if _xp.is_torch(log_w):
        import torch

        if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
            raise ValueError("log_w must not contain NaN or +inf")
        if log_w.ndim == 0 or log_w.shape[axis] == 0:
            raise ValueError("log_w must have at least one weight along axis")
        out = torch.exp(2 * torch.logsumexp(log_w, axis) - torch.logsumexp(2 * log_w, axis))
        if not torch.isfinite(out).all():
            raise ValueError("every slice of log_w needs at least one finite entry")
        return out
    lw = np.asarray(log_w, dtype=np.float64)
    if np.isnan(lw).any() or np.isposinf(lw).any():
        raise ValueError("log_w must not contain NaN or +inf")
    if lw.ndim == 0 or lw.shape[axis] == 0:
        raise ValueError("log_w must have at least one weight along axis")
    with np.errstate(invalid="ignore"):
        out = np.exp(2 * sc.logsumexp(lw, axis=axis) - sc.logsumexp(2 * lw, axis=axis))
    if not np.all(np.isfinite(out)):
        raise ValueError("every slice of log_w needs at least one finite entry")
    return out


# ---------------------------------------------------------------------------------------------
# core: streaming log-sum-exp over anchor chunks (backend-generic)
# ---------------------------------------------------------------------------------------------
def _snis_core(xp, y, c, lw, alpha, sigma, chunk, want_weights):
    """Return ``(mean, ess, log_norm, weights or None)`` for one backend ``xp``.

    Distances use ``|y - a|^2 = |y|^2 - 2 y.a + |a|^2`` after subtracting the centroid of the
    scaled anchors ``a = alpha c`` from both ``y`` and ``a`` (reduces cancellation when the
    cloud is far from the origin); the result is clipped at 0. The ``|y|^2`` term cancels in
    the weights, so the weights' rounding error is ``~ eps |y| |a| / sigma^2`` in the logits.

    Memory: the centred, scaled blocks ``alpha c_k - shift`` and ``y_b - shift`` are formed one
    chunk at a time (never a full ``K x D`` or ``B x D`` copy of the inputs), so the working
    memory beyond the ``B x D`` output is ``O(chunk^2 + chunk D + K)``; recomputing an anchor
    block once per query block costs ``K D`` flops per ``chunk K D`` of the matmul.
    """
    B, D = y.shape
    K = c.shape[0]
    if B == 0:  # no queries: empty results of the documented shapes
        weights = None
        if want_weights:
            weights = xp.zeros((0, K), dtype=y.dtype) if xp is np else y.new_zeros((0, K))
        return y * 0.0, y.sum(1), y.sum(1), weights
    inv2s2 = 0.5 / (sigma * sigma)
    shift = alpha * c.mean(0)
    is_t = xp is not np

    def a_block(k0):
        ak = alpha * c[k0 : k0 + chunk] - shift
        return ak, (ak * ak).sum(1)

    means, esss, lognorms = [], [], []
    for b0 in range(0, B, chunk):
        yb = y[b0 : b0 + chunk] - shift
        y_sq = (yb * yb).sum(1)
        run_max = None
        s0 = s2 = s1 = None
        for k0 in range(0, K, chunk):
            ak, a_sq = a_block(k0)
            d2 = y_sq[:, None] - 2.0 * (yb @ ak.T) + a_sq[None, :]
            d2 = xp.clip(d2, 0.0, None) if not is_t else d2.clamp_min(0.0)
            logits = lw[None, k0 : k0 + chunk] - d2 * inv2s2
            cmax = logits.max(1)
            if is_t:
                cmax = cmax.values
            if run_max is None:
                new_max = cmax
                e = xp.exp(logits - new_max[:, None])
                s0 = e.sum(1)
                s2 = (e * e).sum(1)
                s1 = e @ c[k0 : k0 + chunk]
            else:
                new_max = xp.maximum(run_max, cmax)
                scale = xp.exp(run_max - new_max)
                e = xp.exp(logits - new_max[:, None])
                s0 = s0 * scale + e.sum(1)
                s2 = s2 * (scale * scale) + (e * e).sum(1)
                s1 = s1 * scale[:, None] + e @ c[k0 : k0 + chunk]
            run_max = new_max
        means.append(s1 / s0[:, None])
        esss.append(s0 * s0 / s2)
        lognorms.append(run_max + xp.log(s0))

    cat = (lambda xs: xp.cat(xs)) if is_t else (lambda xs: np.concatenate(xs))
    mean = cat(means)
    ess = cat(esss)
    lse = cat(lognorms)  # log sum_k exp(l_k - |y - a_k|^2 / 2 sigma^2)
    log_norm = lse - math.log(K) - 0.5 * D * math.log(2.0 * math.pi * sigma * sigma)

    weights = None
    if want_weights:
        # second pass, dense B x K (only on request)
        ac = alpha * c - shift
        yc = y - shift
        d2 = (yc * yc).sum(1)[:, None] - 2.0 * (yc @ ac.T) + (ac * ac).sum(1)[None, :]
        d2 = xp.clip(d2, 0.0, None) if not is_t else d2.clamp_min(0.0)
        weights = xp.exp(lw[None, :] - d2 * inv2s2 - lse[:, None])
    return mean, ess, log_norm, weights


def snis(
    y,
    centers,
    alpha: float = 1.0,
    sigma: float | None = None,
    log_weights=None,
    chunk_size: int = 1024,
    return_weights: bool = False,
):
    """SNIS posterior mean, score, ESS and log density over ``K`` anchor images.

    .. math::

        w_{bk} = \\frac{\\exp(\\ell_k - |y_b - \\alpha c_k|^2 / 2\\sigma^2)}
                       {\\sum_j \\exp(\\ell_j - |y_b - \\alpha c_j|^2 / 2\\sigma^2)},\\qquad
        m_b = \\sum_k w_{bk} c_k,\\qquad
        s_b = \\frac{\\alpha m_b - y_b}{\\sigma^2},

        \\mathrm{ESS}_b = \\frac{(\\sum_k e^{\\lambda_{bk}})^2}{\\sum_k e^{2\\lambda_{bk}}},\\qquad
        \\log\\hat p(y_b) = \\log \\frac1K \\sum_k e^{\\ell_k}\\,
            \\varphi(y_b;\\ \\alpha c_k,\\ \\sigma^2 I_D)

    (MAGT §3, docs/conventions.md §4-5.) ``lambda_bk`` is the unnormalised log weight.

    Parameters
    ----------
    y : (B, D) array_like or torch.Tensor
        Noisy queries ``y = alpha y0 + sigma z``.
    centers : (K, D) array_like or torch.Tensor
        Anchor images ``c_k = h(u_k)`` (not multiplied by ``alpha``).
    alpha : float in (0, 1]
        Signal scale of the smoothing level (``1`` for plain Gaussian convolution).
    sigma : float > 0
        Noise scale of the smoothing level (required; no default).
    log_weights : (K,) array_like or torch.Tensor, optional
        Log importance ratios ``l_k = log(pi(u_k) / pi~(u_k))``; ``None`` means ``pi~ = pi``
        (all zero). ``posterior_mean``, ``score`` and ``ess`` are invariant to adding a
        constant to ``log_weights``; ``log_norm`` shifts by that constant.
    chunk_size : int >= 1
        Rows of ``y`` and of ``centers`` per block; peak working memory beyond the ``(B, D)``
        outputs is ``O(chunk_size^2 + chunk_size * D + K)`` numbers (no copy of ``centers``).
    return_weights : bool
        Also return the dense ``(B, K)`` normalised weight matrix (memory ``B K``).

    Returns
    -------
    SNISResult
        ``(posterior_mean (B, D), ess (B,), score (B, D), log_norm (B,))``; with
        ``return_weights=True`` the pair ``(SNISResult, weights (B, K))``.

    Notes
    -----
    *Normalisation of* ``log_norm``: it is the log of the anchor Monte Carlo estimate of the
    smoothed density (Lebesgue on ``R^D``, Gaussian constant ``(2 pi sigma^2)^{-D/2}``
    included). When ``log_weights`` are the exact log ratio of two *normalised* densities the
    estimate inside the log is unbiased for ``p_t(y) = ∫ phi(y; alpha h(u), sigma^2 I) pi(du)``
    (MAGT §3, "intrinsic density"); its log is biased low by Jensen. With unnormalised
    ``log_weights`` it is correct only up to that additive constant.

    *Backends*: numpy input (or array-likes) gives float64 numpy output. If ``y`` or
    ``centers`` is a torch tensor, the computation runs in torch under ``torch.no_grad()`` on
    the device and dtype of the first tensor argument and returns detached tensors:
    **gradients do not flow** through this function (MAGT training uses the exact chunked
    gradient of ``magt_theory.models`` instead). In float32 the logits carry a rounding error
    of about ``1e-7 |y| |alpha c| / sigma^2``; prefer float64 at tiny ``sigma``.

    *Stability*: a streaming log-sum-exp (running maximum, rescaled accumulators) keeps every
    exponent ``<= 0``, so at ``sigma -> 0`` the weights tend to the nearest-anchor indicator
    without overflow or NaN.
    """
    sigma = check_positive(sigma, "sigma")
    alpha = check_alpha(alpha)
    chunk = check_int(chunk_size, "chunk_size", low=1)
    if not isinstance(return_weights, (bool, np.bool_)):
        raise TypeError(f"return_weights must be a bool; got {return_weights!r}")

    use_torch = _xp.is_torch(y) or _xp.is_torch(centers) or _xp.is_torch(log_weights)
    if use_torch:
        return _snis_torch(y, centers, alpha, sigma, log_weights, chunk, bool(return_weights))

    c = as_points(centers, "centers")
    if c.shape[0] < 1:
        raise ValueError("centers must hold at least one anchor (K >= 1); got K = 0")
    yy = as_points(y, "y", c.shape[1])
    if log_weights is None:
        lw = np.zeros(c.shape[0])
    else:
        lw = _check_log_weights(np.asarray(log_weights, dtype=np.float64), c.shape[0])
    mean, ess, log_norm, w = _snis_core(np, yy, c, lw, alpha, sigma, chunk, return_weights)
    score = (alpha * mean - yy) / (sigma * sigma)
    res = SNISResult(mean, ess, score, log_norm)
    for name, v in zip(res._fields, res):
        if not np.all(np.isfinite(v)):  # pragma: no cover - guarded by construction
            raise FloatingPointError(f"snis produced a non-finite {name}; please report this")
    return (res, w) if return_weights else res


def _check_log_weights(lw, K):
    if lw.shape != (K,):
        raise ValueError(f"log_weights must have shape (K,) = ({K},); got {tuple(lw.shape)}")
    if not np.all(np.isfinite(lw)):
        raise ValueError("log_weights contains NaN or inf; all entries must be finite")
    return lw


def _snis_torch(y, centers, alpha, sigma, log_weights, chunk, return_weights):
    import torch

    ref = next(t for t in (y, centers, log_weights) if _xp.is_torch(t))
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    dev = ref.device

    def to_t(x, name):
        if x is None:
            if name != "log_weights":
                raise TypeError(f"{name} must be a real array or tensor; got None")
            return None
        try:
            t = torch.as_tensor(x, device=dev).detach()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"{name} must be a real array or tensor; got {type(x).__name__}"
            ) from exc
        if t.is_complex():
            raise TypeError(f"{name} must be real; got a complex tensor")
        return t.to(dtype)

    with torch.no_grad():
        c = to_t(centers, "centers")
        yy = to_t(y, "y")
        if c.ndim != 2 or c.shape[0] < 1:
            raise ValueError(f"centers must have shape (K, D) with K >= 1; got {tuple(c.shape)}")
        D = c.shape[1]
        if yy.ndim == 1 and yy.shape[0] == D:
            yy = yy[None, :]
        if yy.ndim != 2 or yy.shape[1] != D:
            raise ValueError(f"y must have shape (B, {D}); got {tuple(yy.shape)}")
        if not torch.isfinite(c).all():
            raise ValueError("centers contains NaN or inf; all entries must be finite")
        if not torch.isfinite(yy).all():
            raise ValueError("y contains NaN or inf; all entries must be finite")
        if log_weights is None:
            lw = torch.zeros(c.shape[0], dtype=dtype, device=dev)
        else:
            lw = to_t(log_weights, "log_weights")
            if tuple(lw.shape) != (c.shape[0],):
                raise ValueError(
                    f"log_weights must have shape (K,) = ({c.shape[0]},); got {tuple(lw.shape)}"
                )
            if not torch.isfinite(lw).all():
                raise ValueError("log_weights contains NaN or inf; all entries must be finite")
        mean, ess, log_norm, w = _snis_core(torch, yy, c, lw, alpha, sigma, chunk, return_weights)
        score = (alpha * mean - yy) / (sigma * sigma)
        res = SNISResult(mean, ess, score, log_norm)
        for name, v in zip(res._fields, res):
            if not torch.isfinite(v).all():
                raise ValueError(
                    f"snis: the {name} overflows {dtype} at sigma={sigma:.3g} for these y and "
                    "centers; pass float64 tensors (or a larger sigma)"
                )
    return (res, w) if return_weights else res


def snis_per_query(y, centers, alpha: float = 1.0, sigma: float | None = None, log_weights=None,
                   return_weights: bool = False):
    """:func:`snis` with each query's own anchors (per-query proposals such as MAP/Laplace).

    .. math::

        w_{bk} = \\operatorname{softmax}_k\\Big(\\ell_{bk}
            - \\frac{|y_b - \\alpha c_{bk}|^2}{2\\sigma^2}\\Big),\\qquad
        m_b = \\sum_k w_{bk} c_{bk},\\qquad s_b = \\frac{\\alpha m_b - y_b}{\\sigma^2}

    with ``ESS_b`` and ``log_norm_b`` as in :func:`snis` (MAGT §3). Dense over ``(B, K, D)``
    (the distances are formed directly, no expansion), with a per-row log-sum-exp.

    Parameters
    ----------
    y : (B, D) array_like or torch.Tensor
    centers : (B, K, D) array_like or torch.Tensor
        Anchor images of every query, ``K >= 1``.
    alpha, sigma : float
        ``alpha`` in (0, 1], ``sigma > 0`` (required).
    log_weights : (B, K) array_like or torch.Tensor, optional
        ``l_bk = log(pi(u_bk) / pi~_b(u_bk))``; ``None`` means zero.
    return_weights : bool
        Also return the normalised weights ``w`` (B, K).

    Returns
    -------
    SNISResult, or the pair ``(SNISResult, weights)`` with ``return_weights``
        numpy float64 for array input; torch (no gradients, dtype and device of the first
        tensor argument) when any argument is a tensor.
    """
    if not isinstance(return_weights, (bool, np.bool_)):
        raise TypeError(f"return_weights must be a bool; got {return_weights!r}")
    sigma = check_positive(sigma, "sigma")
    alpha = check_alpha(alpha)
    if _xp.is_torch(y) or _xp.is_torch(centers) or _xp.is_torch(log_weights):
        import torch

        ref = next(t for t in (y, centers, log_weights) if _xp.is_torch(t))
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        conv = lambda x: torch.as_tensor(x, device=ref.device).detach().to(dtype)  # noqa: E731
        with torch.no_grad():
            res, w = _per_query(torch, conv(y), conv(centers),
                                None if log_weights is None else conv(log_weights), alpha, sigma)
    else:
        lw = None if log_weights is None else np.asarray(log_weights, dtype=np.float64)
        res, w = _per_query(np, np.asarray(y, dtype=np.float64),
                            np.asarray(centers, dtype=np.float64), lw, alpha, sigma)
    return (res, w) if return_weights else res


def _per_query(xp, y, c, lw, alpha, sigma):
    is_t = xp is not np
    if c.ndim != 3 or c.shape[1] < 1:
        raise ValueError(f"centers must have shape (B, K, D) with K >= 1; got {tuple(c.shape)}")
    B, K, D = c.shape
    if tuple(y.shape) != (B, D):
        raise ValueError(f"y must have shape (B, D) = ({B}, {D}); got {tuple(y.shape)}")
    finite = (lambda a: bool(a.isfinite().all())) if is_t else (lambda a: bool(np.isfinite(a).all()))
    for name, a in (("y", y), ("centers", c)):
        if not finite(a):
            raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
    if lw is not None and (tuple(lw.shape) != (B, K) or not finite(lw)):
        raise ValueError(f"log_weights must be finite of shape (B, K) = ({B}, {K}); "
                         f"got shape {tuple(lw.shape)}")
    diff = y[:, None, :] - alpha * c
    logits = -0.5 * (diff * diff).sum(-1) / (sigma * sigma)
    if lw is not None:
        logits = logits + lw
    if is_t:
        lse = xp.logsumexp(logits, 1)
    else:
        lse = sc.logsumexp(logits, axis=1)
    w = xp.exp(logits - lse[:, None])
    mean = (w[:, :, None] * c).sum(1)
    ess = 1.0 / (w * w).sum(1)
    log_norm = lse - math.log(K) - 0.5 * D * math.log(2.0 * math.pi * sigma * sigma)
    res = SNISResult(mean, ess, (alpha * mean - y) / (sigma * sigma), log_norm)
    for name, v in zip(res._fields, res):
        if not finite(v):
            raise ValueError(f"snis_per_query: the {name} overflows at sigma={sigma:.3g}; "
                             "pass float64 inputs (or a larger sigma)")
    return res, w
