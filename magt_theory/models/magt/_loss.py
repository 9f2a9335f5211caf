"""The MAGT loss and its exact chunked gradient (two phases; see the package docstring) [MAGT]."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...anchors import snis_per_query
from ..proposals import AnchorSet

Generator = Callable[[torch.Tensor], torch.Tensor]


def _forward_chunks(h: Generator, u: torch.Tensor, chunk: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([h(u[i : i + chunk]) for i in range(0, u.shape[0], chunk)], 0)


def _shared_logits(y, H, alpha, sigma, log_w):
    """``lambda_k - |y_b - alpha H_k|^2/(2 sigma^2)`` up to a per-row constant, (B, K)."""
    logits = (alpha / sigma**2) * (y @ H.T) - (0.5 * alpha**2 / sigma**2) * (H * H).sum(-1)[None]
    return logits if log_w is None else logits + log_w


def _snis_phase1(h, y, anchors: AnchorSet, alpha, sigma, chunk):
    """Anchor images ``H``, weights ``w`` and posterior means ``m`` (no autograd).

    Per-query anchors go through :func:`magt_theory.anchors.snis_per_query`. Shared anchors
    keep the dense ``(B, K)`` softmax here: the gradient needs every weight, which the
    streaming :func:`magt_theory.anchors.snis` forms only in a second pass.
    """
    G, K, d = anchors.u.shape
    H = _forward_chunks(h, anchors.u.reshape(G * K, d), chunk)
    H = H.reshape(G, K, -1)
    lw = anchors.log_weights
    with torch.no_grad():
        if G == 1:  # shared anchors (any B); per-query with B = 1 is the same computation
            H = H[0]
            logits = _shared_logits(y, H, alpha, sigma, None if lw is None else lw[0][None])
            w = torch.softmax(logits, dim=1)
            m = w @ H
        else:  # per-query anchors: the dense SNIS of magt_theory.anchors
            try:
                (m, *_), w = snis_per_query(y, H, alpha, sigma, lw, return_weights=True)
            except ValueError as exc:  # non-finite images or weights
                raise FloatingPointError(f"non-finite SNIS inputs or outputs: {exc}") from exc
    if not torch.isfinite(m).all():
        raise FloatingPointError(
            "non-finite SNIS posterior mean (all anchor weights zero or overflow in h); "
            "check the proposal, sigma and the generator's outputs"
        )
    return H, w, m


def magt_loss_and_grad(
    h: Generator,
    y0: torch.Tensor,
    yt: torch.Tensor,
    anchors: AnchorSet,
    alpha: float,
    sigma: float,
    chunk_size: int = 256,
    backward: bool = True,
) -> tuple[float, float]:
    """MAGT loss of one batch and its exact gradient by the two-phase chunked algorithm.

    .. math::

        L = \\frac{1}{B}\\sum_b \\frac{\\alpha^2}{\\sigma^4} |\\tilde m(y_{t,b}) - y_{0,b}|^2,
        \\qquad
        g_k = \\sum_b w_{bk}\\Big[c_b + \\Delta_{bk}\\Big(\\frac{\\alpha}{\\sigma^2} y_{t,b}
              - \\frac{\\alpha^2}{\\sigma^2} h(u_k)\\Big)\\Big]

    with ``c_b = (2/B)(alpha^2/sigma^4)(m_b - y0_b)`` and ``Delta_bk = <h(u_k) - m_b, c_b>``
    (module docstring; MAGT Algorithm 1). Gradients are *accumulated* into the ``.grad`` of the
    parameters of ``h`` (call ``zero_grad`` first), as ``loss.backward()`` would.

    Parameters
    ----------
    h : callable
        Generator (usually an ``nn.Module``), ``(n, d) -> (n, D)``.
    y0, yt : (B, D) torch.Tensor
        Clean points and their noisy versions ``alpha y0 + sigma z``.
    anchors : AnchorSet
        Shared (``G = 1``) or per-query (``G = B``) anchors with optional log-weights; treated
        as constants (stop-gradient on the proposal).
    alpha, sigma : float
        Smoothing level.
    chunk_size : int
        ``K_c``: anchors per forward/backward chunk.
    backward : bool
        If False only the loss is computed (phase 1).

    Returns
    -------
    loss : float
        Batch mean of the per-query loss.
    ess : float
        Mean Kish effective sample size ``1 / sum_k w_bk^2`` over the batch.
    """
    B = y0.shape[0]
    G, K, d = anchors.u.shape
    if G not in (1, B):
        raise ValueError(f"anchors must be shared (G=1) or per query (G={B}); got G={G}")
    H, w, m = _snis_phase1(h, yt, anchors, alpha, sigma, chunk_size)
    with torch.no_grad():
        err = m - y0
        loss = float((alpha**2 / sigma**4) * (err * err).sum(-1).mean())
        ess = float((1.0 / (w * w).sum(1)).mean())
        if not backward:
            return loss, ess
        c = (2.0 / B) * (alpha**2 / sigma**4) * err  # (B, D) = dL/dm_b
        a1, a2 = alpha / sigma**2, alpha**2 / sigma**2
        if H.dim() == 2:  # shared anchors: H (K, D)
            delta = c @ H.T - (c * m).sum(-1, keepdim=True)  # (B, K)
            wd = w * delta
            g = w.T @ c + a1 * (wd.T @ yt) - a2 * wd.sum(0)[:, None] * H  # (K, D)
        else:  # per-query anchors: H (B, K, D)
            delta = torch.einsum("bkD,bD->bk", H, c) - (c * m).sum(-1, keepdim=True)
            wd = w * delta
            g = w[..., None] * c[:, None, :] + wd[..., None] * (a1 * yt[:, None, :] - a2 * H)
            g = g.reshape(G * K, -1)
    u_flat = anchors.u.reshape(G * K, d)
    for i in range(0, G * K, chunk_size):
        out = h(u_flat[i : i + chunk_size])
        torch.autograd.backward(out, grad_tensors=g[i : i + chunk_size])
    return loss, ess
