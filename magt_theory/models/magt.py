"""Manifold-aligned generative transport (MAGT): training, sampling, likelihoods [MAGT].

A generator ``h_theta: R^d -> R^D`` with base law ``pi`` (``N(0, I_d)`` or uniform on
``[0,1]^d``) is trained at one variance-preserving level ``t`` (``alpha = sqrt(1-t)``,
``sigma = sqrt(t)``) by denoising score matching, with the model score given by the SNIS
estimate over ``K`` latent anchors re-drawn every step (MAGT Algorithm 1):

.. math::

    \\ell_K(y_0, z) = \\frac{\\alpha^2}{\\sigma^4}\\,|\\tilde m(y_t) - y_0|^2,\\qquad
    y_t = \\alpha y_0 + \\sigma z,\\qquad
    \\tilde m(y) = \\sum_k w_k(y) h(u_k),\\quad
    w_k(y) = \\operatorname{softmax}_k\\Big(\\lambda_k - \\frac{|y - \\alpha h(u_k)|^2}{2\\sigma^2}\\Big)

with ``lambda_k = log pi(u_k) - log pi~(u_k)`` (0 for MC/QMC anchors). This equals
``|s~(y_t) - (alpha y_0 - y_t)/sigma^2|^2`` with ``s~ = (alpha m~ - y)/sigma^2``.

Exact chunked gradient (derived here; THEORY.md §3 states it up to a factor): for the batch
mean ``L = (1/B) sum_b l_b``, put ``c_b = dL/dm_b = (2/B)(alpha^2/sigma^4)(m_b - y0_b)`` and
``Delta_bk = <h(u_k) - m_b, c_b>``. Since ``dw_bj = w_bj (dl_bj - sum_i w_bi dl_bi)`` and
``d logit_bk / d h(u_k) = (alpha/sigma^2) y_b - (alpha^2/sigma^2) h(u_k)``,

.. math::

    g_k = \\frac{\\partial L}{\\partial h(u_k)} = \\sum_b w_{bk}\\Big[c_b + \\Delta_{bk}
        \\Big(\\frac{\\alpha}{\\sigma^2} y_b - \\frac{\\alpha^2}{\\sigma^2} h(u_k)\\Big)\\Big].

Phase 1 (no autograd) evaluates ``h`` on all anchors in chunks and forms ``w, m, c, g``;
phase 2 backpropagates ``sum_k <h(u_k), g_k>`` chunk by chunk (``K_c`` anchors at a time), so
autograd memory scales with ``K_c`` while the gradient equals the full autograd gradient.
Per-query (MAP) anchors: the sum over ``b`` in ``g`` collapses to the anchor's own query.

Sampling is one forward pass ``h(u)``, ``u ~ pi``. The intrinsic log density uses the area
formula ``log p(h(u)) = log pi(u) - (1/2) log det(J^T J)`` (:func:`area_log_density`); the
smoothed ambient density at level ``t`` is the anchor Monte Carlo average
``p_t(y) ~ (1/K) sum_k (pi/pi~)(u_k) phi(y; alpha h(u_k), sigma^2 I)``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import smoothing
from .._validation import as_points, check_in_open_interval, check_int, check_positive
from .._io import atomic_write_with
from .mlp import ACTIVATIONS, MLP, resolve_dtype
from .proposals import (
    PROPOSALS,
    AnchorSet,
    MAPProposal,
    Proposal,
    base_log_prob,
    batched_jacobian,
    check_base,
    make_proposal,
    sample_base,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGT",
    "MAGTConfig",
    "area_log_density",
    "magt_loss_and_grad",
    "select_t",
    "smoothed_log_density",
    "snis_mean",
    "snis_score",
]

logger = logging.getLogger(__name__)

FORMAT_NAME = "magt_theory.MAGT"
FORMAT_VERSION = 2  # 2: sha256 checksum of the weights (version 1 files load with a warning)
LR_SCHEDULES = ("cosine", "constant")

Generator = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------- config
def _check_nonneg(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number >= 0; got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return v


@dataclass(frozen=True)
class MAGTConfig:
    """Hyper-parameters of one MAGT training run (validated on construction).

    Parameters
    ----------
    t : float
        VP smoothing level in (0, 1): ``alpha = sqrt(1-t)``, ``sigma = sqrt(t)``.
    latent_dim : int
        Latent dimension ``d >= 1`` (MAGT: the intrinsic dimension).
    width, depth, activation : int, int, str
        Generator MLP (MAGT: 512, 5, ``"relu"``); ``width >= 1``, ``depth >= 0``.
    base : {"normal", "uniform"}
        Base law ``pi``.
    n_anchors : int
        ``K >= 1`` latent anchors per step (MAGT: 1024).
    proposal : {"mc", "qmc", "map"}
        Anchor proposal, see :mod:`magt_theory.models.proposals`.
    batch_size : int
        Queries ``B >= 1`` per step.
    steps : int
        Optimiser steps (>= 0; 0 keeps the initialisation).
    lr, lr_schedule, lr_min : float, str, float
        Adam learning rate (> 0); ``"cosine"`` decays from ``lr`` to ``lr_min`` in ``steps``,
        ``"constant"`` keeps ``lr``; ``0 <= lr_min <= lr``.
    betas, weight_decay : (float, float), float
        Adam parameters; betas in [0, 1), weight decay >= 0.
    grad_clip : float or None
        Clip the global gradient norm at this value (> 0) if given.
    chunk_size : int
        ``K_c >= 1``: anchors per autograd chunk (bounds the memory of the backward pass).
    jitter : float
        ``s0 >= 0``: fresh ``N(0, s0^2 I)`` noise added to every training point drawn into a
        batch (trains on ``mu * N(0, s0^2 I)``, the infinite-data version of a jittered set).
    seed : int
        Seed (>= 0) of the initialisation and of every random draw; CPU runs are deterministic.
    dtype : {"float32", "float64"}
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"`` (determinism is guaranteed on CPU only).
    map_zeta, map_tau, map_steps, map_init, map_mix
        MAP/Laplace proposal parameters (:class:`~magt_theory.models.proposals.MAPProposal`).
    """

    t: float = 0.1
    latent_dim: int = 1
    width: int = 512
    depth: int = 5
    activation: str = "relu"
    base: str = "normal"
    n_anchors: int = 1024
    proposal: str = "mc"
    batch_size: int = 256
    steps: int = 2000
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    lr_min: float = 0.0
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    chunk_size: int = 256
    jitter: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    map_zeta: float = 0.5
    map_tau: float = 0.1
    map_steps: int = 5
    map_init: int = 64
    map_mix: float = 0.0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("t", check_in_open_interval(self.t, "t", 0.0, 1.0))
        put("latent_dim", check_int(self.latent_dim, "latent_dim", low=1))
        put("width", check_int(self.width, "width", low=1))
        put("depth", check_int(self.depth, "depth", low=0))
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}"
            )
        check_base(self.base)
        put("n_anchors", check_int(self.n_anchors, "n_anchors", low=1))
        if self.proposal not in PROPOSALS:
            raise ValueError(f"proposal must be one of {sorted(PROPOSALS)}; got {self.proposal!r}")
        put("batch_size", check_int(self.batch_size, "batch_size", low=1))
        put("steps", check_int(self.steps, "steps", low=0))
        put("lr", check_positive(self.lr, "lr"))
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}; got {self.lr_schedule!r}")
        lr_min = _check_nonneg(self.lr_min, "lr_min")
        if lr_min > self.lr:
            raise ValueError(f"lr_min must be in [0, lr={self.lr}]; got {lr_min}")
        put("lr_min", lr_min)
        try:
            b1, b2 = (float(b) for b in self.betas)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"betas must be a pair of numbers in [0, 1); got {self.betas!r}"
            ) from exc
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be a pair of numbers in [0, 1); got {self.betas!r}")
        put("betas", (b1, b2))
        put("weight_decay", _check_nonneg(self.weight_decay, "weight_decay"))
        if self.grad_clip is not None:
            put("grad_clip", check_positive(self.grad_clip, "grad_clip"))
        put("chunk_size", check_int(self.chunk_size, "chunk_size", low=1))
        put("jitter", _check_nonneg(self.jitter, "jitter"))
        put("seed", check_int(self.seed, "seed", low=0))
        resolve_dtype(self.dtype)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda'; got {self.device!r}")
        try:
            torch.device(self.device)
        except RuntimeError as exc:
            raise ValueError(
                f"device must be a valid torch device string; got {self.device!r}"
            ) from exc
        # validate the map_* parameters whatever the proposal (a config is checked as a whole)
        mp = MAPProposal(
            zeta=self.map_zeta,
            tau=self.map_tau,
            steps=self.map_steps,
            n_init=self.map_init,
            mix=self.map_mix,
        )
        for name in ("zeta", "tau", "steps", "n_init", "mix"):
            put("map_init" if name == "n_init" else f"map_{name}", getattr(mp, name))
        if self.proposal == "qmc" and self.n_anchors & (self.n_anchors - 1):
            logger.warning(
                "n_anchors=%d is not a power of 2: Sobol points lose their balance", self.n_anchors
            )

    @property
    def alpha(self) -> float:
        return smoothing.vp(self.t)[0]

    @property
    def sigma(self) -> float:
        return smoothing.vp(self.t)[1]

    def make_proposal(self) -> Proposal:
        return make_proposal(
            self.proposal,
            zeta=self.map_zeta,
            tau=self.map_tau,
            steps=self.map_steps,
            n_init=self.map_init,
            mix=self.map_mix,
        )

    def replace(self, **changes) -> MAGTConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MAGTConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown MAGTConfig keys {sorted(unknown)}; accepted: {sorted(names)}"
            )
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


# ------------------------------------------------------------------------- core numerics
def _forward_chunks(h: Generator, u: torch.Tensor, chunk: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([h(u[i : i + chunk]) for i in range(0, u.shape[0], chunk)], 0)


def _shared_logits(y, H, alpha, sigma, log_w):
    """``lambda_k - |y_b - alpha H_k|^2/(2 sigma^2)`` up to a per-row constant, (B, K)."""
    logits = (alpha / sigma**2) * (y @ H.T) - (0.5 * alpha**2 / sigma**2) * (H * H).sum(-1)[None]
    return logits if log_w is None else logits + log_w


def _snis_phase1(h, y, anchors: AnchorSet, alpha, sigma, chunk):
    """Anchor images ``H``, weights ``w`` and posterior means ``m`` (no autograd)."""
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
        else:
            diff = y[:, None, :] - alpha * H
            logits = -0.5 * (diff * diff).sum(-1) / sigma**2
            if lw is not None:
                logits = logits + lw
            w = torch.softmax(logits, dim=1)
            m = torch.einsum("bk,bkD->bD", w, H)
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
    query. Works with any ``h``: an ``MLP`` or a manifold's exact generator
    (``lambda u: M.generator(u)``).

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
        Anchors per forward chunk; queries per block (bounds the ``(B, K)`` weight matrix).

    Returns
    -------
    mean : (n, D) ndarray or torch.Tensor
    ess : (n,) ndarray or torch.Tensor
        Kish effective sample size ``(sum w)^2 / sum w^2`` per query.
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
    shared = None
    if not proposal.per_query:
        _, shared = _draw(proposal, h, yt[:1], K, d, alpha, sigma, base, gen)
    means, esss = [], []
    for i in range(0, yt.shape[0], query_chunk):
        yb = yt[i : i + query_chunk]
        anchors = shared
        if anchors is None:
            _, anchors = _draw(proposal, h, yb, K, d, alpha, sigma, base, gen)
        _, w, m = _snis_phase1(h, yb, anchors, alpha, sigma, chunk_size)
        means.append(m)
        esss.append(1.0 / (w * w).sum(1))
    mean, ess = torch.cat(means), torch.cat(esss)
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
                    f"area formula needs ambient dim >= latent dim; got D={J.shape[1]} < d={J.shape[2]}"
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

    (an unbiased estimate of ``p_t(y)``; its log is biased low by ``O(1/ESS)``). Parameters as
    in :func:`snis_mean`; returns ``(n,)``, numpy float64 for numpy input.
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
    D = yt.shape[1]
    gen = torch.Generator(device=device).manual_seed(seed)
    proposal = make_proposal(proposal) if isinstance(proposal, str) else proposal
    shared = None
    if not proposal.per_query:
        _, shared = _draw(proposal, h, yt[:1], K, d, alpha, sigma, base, gen)
        H_shared = _forward_chunks(h, shared.u[0], chunk_size)
    out = []
    with torch.no_grad():
        for i in range(0, yt.shape[0], query_chunk):
            yb = yt[i : i + query_chunk]
            if shared is not None:
                sq = torch.cdist(yb, alpha * H_shared) ** 2  # (b, K)
                lw = shared.log_weights
            else:
                _, anchors = _draw(proposal, h, yb, K, d, alpha, sigma, base, gen)
                G = anchors.u.shape[0]
                H = _forward_chunks(h, anchors.u.reshape(G * K, d), chunk_size).reshape(G, K, D)
                diff = yb[:, None, :] - alpha * H
                sq = (diff * diff).sum(-1)
                lw = anchors.log_weights
            logits = -0.5 * sq / sigma**2
            if lw is not None:
                logits = logits + lw
            out.append(
                torch.logsumexp(logits, 1)
                - math.log(K)
                - 0.5 * D * math.log(2 * math.pi * sigma**2)
            )
    res = torch.cat(out)
    if not torch.isfinite(res).all():
        raise FloatingPointError(
            "smoothed_log_density underflowed: every anchor is far from some query"
        )
    return res.double().cpu().numpy() if numpy_in else res


# ------------------------------------------------------------------------------- the model
def _progress_enabled(progress) -> bool:
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


class MAGT:
    """A one-step MAGT generator trained at one VP level ``t`` [MAGT].

    Scikit-learn style: the constructor stores the configuration, :meth:`fit` validates the data
    and sets ``generator_`` (the trained ``MLP``), ``history_`` (per-step loss, ESS, lr and
    cumulative seconds), ``ambient_dim_`` and ``seconds_``.

    Parameters
    ----------
    config : MAGTConfig, optional
        Hyper-parameters; keyword ``overrides`` replace fields of it (or of the defaults).

    Examples
    --------
    >>> import numpy as np, magt_theory as mt
    >>> from magt_theory.models import MAGT
    >>> x = np.random.default_rng(0).standard_normal((64, 2))
    >>> model = MAGT(t=0.3, latent_dim=2, width=8, depth=1, n_anchors=16, steps=2).fit(x)
    >>> model.sample(5, seed=0).shape
    (5, 2)
    """

    def __init__(self, config: MAGTConfig | None = None, **overrides):
        if config is None:
            config = MAGTConfig(**overrides)
        elif not isinstance(config, MAGTConfig):
            raise TypeError(f"config must be a MAGTConfig; got {type(config).__name__}")
        elif overrides:
            config = config.replace(**overrides)
        self.config = config

    # --------------------------------------------------------------- properties
    @property
    def alpha(self) -> float:
        return self.config.alpha

    @property
    def sigma(self) -> float:
        return self.config.sigma

    @property
    def dtype(self) -> torch.dtype:
        return resolve_dtype(self.config.dtype)

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device)

    def _check_fitted(self):
        if not hasattr(self, "generator_"):
            raise RuntimeError(
                "this MAGT model is not fitted yet; call fit(data) or MAGT.load(path)"
            )

    def _seeds(self):
        ss = np.random.SeedSequence(self.config.seed)
        init_seed, train_seed = (int(s) for s in ss.generate_state(2))
        return init_seed, train_seed

    def _build(self, ambient_dim: int):
        cfg = self.config
        init_seed, _ = self._seeds()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            net = MLP(cfg.latent_dim, ambient_dim, cfg.width, cfg.depth, cfg.activation, cfg.dtype)
        self.generator_ = net.to(self.device)
        self.ambient_dim_ = int(ambient_dim)

    # --------------------------------------------------------------- training
    def fit(self, data, progress: bool | None = None) -> MAGT:
        """Train on ``data`` of shape ``(n, D)`` (MAGT Algorithm 1 with the exact chunked gradient).

        Each step draws ``B`` points with replacement, adds jitter if configured, forms
        ``y_t = alpha y0 + sigma z``, draws fresh anchors and takes one Adam step on the exact
        gradient of the batch-mean loss (:func:`magt_loss_and_grad`).

        Parameters
        ----------
        data : (n, D) array_like
            Training points (finite).
        progress : bool or None
            Show a tqdm bar; ``None`` shows it only when stderr is a terminal.

        Raises
        ------
        FloatingPointError
            If the loss becomes non-finite (the step is not applied).
        """
        cfg = self.config
        x = as_points(data, "data")
        X = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        n, D = X.shape
        self._build(D)
        net = self.generator_
        _, train_seed = self._seeds()
        gen = torch.Generator(device=self.device).manual_seed(train_seed)
        proposal = cfg.make_proposal()
        alpha, sigma = cfg.alpha, cfg.sigma
        opt = torch.optim.Adam(
            net.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )

        def lr_at(step):
            if cfg.lr_schedule == "constant" or cfg.steps == 0:
                return cfg.lr
            return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (
                1 + math.cos(math.pi * step / cfg.steps)
            )

        logger.info(
            "MAGT fit: n=%d D=%d d=%d t=%.4g K=%d proposal=%s B=%d steps=%d",
            n,
            D,
            cfg.latent_dim,
            cfg.t,
            cfg.n_anchors,
            cfg.proposal,
            cfg.batch_size,
            cfg.steps,
        )
        hist = {"step": [], "loss": [], "ess": [], "lr": [], "seconds": []}
        t0 = time.perf_counter()
        bar = tqdm(
            range(cfg.steps),
            desc=f"MAGT t={cfg.t:g}",
            disable=not _progress_enabled(progress),
            mininterval=0.5,
            leave=False,
            file=sys.stderr,
        )
        for step in bar:
            lr = lr_at(step)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = torch.randint(0, n, (cfg.batch_size,), generator=gen, device=self.device)
            y0 = X[idx]
            if cfg.jitter > 0:
                y0 = y0 + cfg.jitter * torch.randn(
                    y0.shape, generator=gen, dtype=y0.dtype, device=y0.device
                )
            z = torch.randn(y0.shape, generator=gen, dtype=y0.dtype, device=y0.device)
            yt = alpha * y0 + sigma * z
            anchors = proposal.draw(
                net, yt, cfg.n_anchors, cfg.latent_dim, alpha, sigma, cfg.base, gen
            )
            opt.zero_grad(set_to_none=True)
            loss, ess = magt_loss_and_grad(net, y0, yt, anchors, alpha, sigma, cfg.chunk_size)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"MAGT loss became non-finite at step {step} (t={cfg.t}, lr={lr})"
                )
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            hist["step"].append(step)
            hist["loss"].append(loss)
            hist["ess"].append(ess)
            hist["lr"].append(lr)
            hist["seconds"].append(time.perf_counter() - t0)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{loss:.4g}", ess=f"{ess:.1f}", refresh=False)
        bar.close()
        self.seconds_ = time.perf_counter() - t0
        self.history_ = pd.DataFrame(hist)
        if cfg.steps:
            logger.info("MAGT fit done in %.1fs; final loss %.4g", self.seconds_, hist["loss"][-1])
        return self

    # --------------------------------------------------------------- sampling & densities
    def generate(self, u: torch.Tensor) -> torch.Tensor:
        """``h_theta(u)`` for latent tensors ``u`` of shape ``(n, d)`` (differentiable)."""
        self._check_fitted()
        return self.generator_(u)

    def sample_latent(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` base draws ``u ~ pi`` as a tensor ``(n, d)``."""
        n = check_int(n, "n", low=1)
        seed = check_int(seed, "seed", low=0)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        return sample_base(
            n, self.config.latent_dim, self.config.base, gen, self.dtype, self.device
        )

    def sample(self, n: int, seed: int = 0, chunk_size: int = 65536) -> np.ndarray:
        """One-step sampling: ``h_theta(u)``, ``u ~ pi`` (one forward pass per sample).

        Returns
        -------
        (n, D) ndarray, float64
        """
        self._check_fitted()
        chunk_size = check_int(chunk_size, "chunk_size", low=1)
        u = self.sample_latent(n, seed)
        x = _forward_chunks(self.generator_, u, chunk_size)
        if not torch.isfinite(x).all():
            raise FloatingPointError("generator produced non-finite samples")
        return x.double().cpu().numpy()

    def _level(self, t):
        if t is None:
            return self.alpha, self.sigma
        return smoothing.vp(t)

    def score(
        self, y, t: float | None = None, n_anchors: int | None = None, proposal=None, seed: int = 0
    ):
        """SNIS score ``(alpha m~(y) - y)/sigma^2`` of the model at level ``t`` (default: its own)."""
        self._check_fitted()
        alpha, sigma = self._level(t)
        cfg = self.config
        return snis_score(
            self.generator_,
            as_points(y, "y", self.ambient_dim_),
            alpha,
            sigma,
            n_anchors or cfg.n_anchors,
            cfg.latent_dim,
            proposal=proposal or cfg.make_proposal(),
            base=cfg.base,
            seed=seed,
            chunk_size=cfg.chunk_size,
        )

    def dsm_loss(
        self, data, t: float | None = None, n_anchors: int | None = None, seed: int = 0
    ) -> float:
        """Mean DSM loss ``(alpha^2/sigma^4)|m~(y_t) - y0|^2`` on ``data`` at level ``t``.

        Noise ``z`` and anchors are drawn from ``seed``, so models compared at the same ``t``
        and seed see common random numbers (the fixed-``t`` validation criterion).
        """
        self._check_fitted()
        x = as_points(data, "data", self.ambient_dim_)
        alpha, sigma = self._level(t)
        cfg = self.config
        seed = check_int(seed, "seed", low=0)
        K = check_int(n_anchors or cfg.n_anchors, "n_anchors", low=1)
        X = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        proposal = cfg.make_proposal()
        total = 0.0
        for i in range(0, X.shape[0], cfg.batch_size):
            y0 = X[i : i + cfg.batch_size]
            yt = alpha * y0 + sigma * torch.randn(
                y0.shape, generator=gen, dtype=y0.dtype, device=y0.device
            )
            anchors = proposal.draw(
                self.generator_, yt, K, cfg.latent_dim, alpha, sigma, cfg.base, gen
            )
            loss, _ = magt_loss_and_grad(
                self.generator_, y0, yt, anchors, alpha, sigma, cfg.chunk_size, backward=False
            )
            total += loss * y0.shape[0]
        return total / X.shape[0]

    def log_density(self, u) -> np.ndarray:
        """Intrinsic log density at ``h(u)`` by the area formula (:func:`area_log_density`)."""
        self._check_fitted()
        u = as_points(u, "u", self.config.latent_dim)
        return area_log_density(self.generator_, u, self.config.base)

    def smoothed_log_density(
        self, y, t: float | None = None, n_anchors: int | None = None, seed: int = 0
    ):
        """Anchor MC estimate of ``log p_t^h(y)`` (:func:`smoothed_log_density`)."""
        self._check_fitted()
        alpha, sigma = self._level(t)
        cfg = self.config
        return smoothed_log_density(
            self.generator_,
            as_points(y, "y", self.ambient_dim_),
            alpha,
            sigma,
            n_anchors or cfg.n_anchors,
            cfg.latent_dim,
            proposal=cfg.make_proposal(),
            base=cfg.base,
            seed=seed,
            chunk_size=cfg.chunk_size,
        )

    # --------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write the model, its config and its training history to ``path`` atomically.

        The file is a ``torch.save`` dict with ``format`` = :data:`FORMAT_NAME`, ``version``
        = :data:`FORMAT_VERSION` and ``checksum`` = :func:`state_checksum` of the weights
        (checked by :meth:`load`, so a flipped bit is an error, not a silently different
        model); it is written to a temporary file in the same directory and renamed with
        ``os.replace``, so a killed run never leaves a half-written file.
        """
        self._check_fitted()
        path = os.fspath(path)
        hist = getattr(self, "history_", pd.DataFrame())
        payload = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "ambient_dim": self.ambient_dim_,
            "state_dict": {k: v.detach().cpu() for k, v in self.generator_.state_dict().items()},
            "checksum": None,
            "history": {c: hist[c].tolist() for c in hist.columns},
            "seconds": float(getattr(self, "seconds_", 0.0)),
            "torch_version": str(torch.__version__),
        }
        payload["checksum"] = state_checksum(payload["state_dict"])

        def write(tmp):
            with open(tmp, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())

        atomic_write_with(path, write)

    @classmethod
    def load(cls, path, device: str | None = None) -> MAGT:
        """Read a model written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a readable torch file, not a MAGT model, another format
            version than :data:`FORMAT_VERSION` (or 1), or its weights do not match the stored
            checksum (a damaged file).
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no MAGT model file at {path!r}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for corrupt files
            raise ValueError(
                f"{path!r} is not a readable MAGT model file (corrupt or not a torch file): {exc}"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
            fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise ValueError(
                f"{path!r} is not a MAGT model file: format {fmt!r}, expected {FORMAT_NAME!r}"
            )
        version = payload.get("version")
        if version not in (1, FORMAT_VERSION):
            raise ValueError(
                f"{path!r} has MAGT model format version {version!r}; this magt_theory "
                f"reads versions 1 and {FORMAT_VERSION}"
            )
        if version == 1:
            logger.warning("%s: format version 1 has no checksum; weights are not verified", path)
        else:
            stored = payload.get("checksum")
            try:
                actual = state_checksum(payload["state_dict"])
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path!r} is a damaged MAGT model file: {exc}") from exc
            if stored != actual:
                raise ValueError(
                    f"{path!r} is a damaged MAGT model file: the weights' checksum "
                    f"{actual[:16]}... does not match the stored {str(stored)[:16]}..."
                )
        try:
            config = MAGTConfig.from_dict(payload["config"])
            if (
                device is None
                and config.device.startswith("cuda")
                and not torch.cuda.is_available()
            ):
                logger.warning(
                    "%s was trained on %s; CUDA is not available, loading on cpu",
                    path,
                    config.device,
                )
                device = "cpu"
            if device is not None:
                config = config.replace(device=device)
            model = cls(config)
            model._build(int(payload["ambient_dim"]))
            model.generator_.load_state_dict(payload["state_dict"])
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path!r} is a damaged MAGT model file: {exc}") from exc
        model.history_ = pd.DataFrame(payload.get("history", {}))
        model.seconds_ = float(payload.get("seconds", 0.0))
        return model


def state_checksum(state_dict) -> str:
    """SHA-256 of a state dict's tensors: names, dtypes, shapes and bytes, in sorted name order.

    Stored by :meth:`MAGT.save` and checked by :meth:`MAGT.load`. Self-contained: it depends
    only on the tensors (CPU, contiguous), not on how the file was written.
    """
    import hashlib

    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# ------------------------------------------------------------------------------ t selection
def select_t(
    train,
    valid,
    t_grid,
    config: MAGTConfig | None = None,
    criterion: str = "w2",
    n_eval: int | None = None,
    dsm_t: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
):
    """Train one model per ``t`` in ``t_grid`` and keep the best by a validation criterion.

    Criteria [MAGT §3, "t selection"]:

    * ``"w2"`` -- ``W2`` (:func:`magt_theory.metrics.wasserstein`, ``p=2``) between
      ``n_eval`` generated samples (default ``len(valid)``) and the held-out ``valid`` points;
    * ``"dsm"`` -- the DSM loss on ``valid`` at one *fixed* level ``dsm_t`` for every
      candidate (default ``min(t_grid)``; losses at different levels are not comparable), with
      common random numbers (same noise and anchor seed).

    Returns
    -------
    model : MAGT
        The trained model with the smallest criterion value.
    curve : pandas.DataFrame
        One row per ``t``: ``t, criterion, value, final_loss, seconds``.
    """
    if criterion not in ("w2", "dsm"):
        raise ValueError(f"criterion must be 'w2' or 'dsm'; got {criterion!r}")
    try:
        grid = [float(t) for t in np.atleast_1d(np.asarray(t_grid, dtype=np.float64))]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"t_grid must be a sequence of numbers in (0, 1); got {t_grid!r}") from exc
    if not grid:
        raise ValueError("t_grid must hold at least one level in (0, 1)")
    for t in grid:
        check_in_open_interval(t, "t_grid entries", 0.0, 1.0)
    config = config or MAGTConfig()
    x_train = as_points(train, "train")
    x_valid = as_points(valid, "valid", x_train.shape[1])
    n_eval = check_int(n_eval if n_eval is not None else x_valid.shape[0], "n_eval", low=1)
    seed = check_int(seed, "seed", low=0)
    if criterion == "dsm":
        dsm_t = min(grid) if dsm_t is None else check_in_open_interval(dsm_t, "dsm_t", 0.0, 1.0)
    configs = [config.replace(t=t) for t in grid]  # validate every level before any training
    from .. import metrics  # deferred: metrics is an optional neighbour at import time

    rows, best, best_value = [], None, math.inf
    for cfg in configs:
        model = MAGT(cfg).fit(x_train, progress=progress)
        if criterion == "w2":
            value = float(metrics.wasserstein(model.sample(n_eval, seed=seed), x_valid, p=2))
        else:
            value = model.dsm_loss(x_valid, t=dsm_t, seed=seed)
        final = float(model.history_["loss"].iloc[-1]) if len(model.history_) else math.nan
        rows.append(
            {
                "t": cfg.t,
                "criterion": criterion,
                "value": value,
                "final_loss": final,
                "seconds": model.seconds_,
            }
        )
        logger.info("select_t: t=%.4g %s=%.5g", cfg.t, criterion, value)
        if value < best_value:
            best, best_value = model, value
    if best is None:
        raise FloatingPointError("select_t: every candidate gave a non-finite validation value")
    return best, pd.DataFrame(rows)
