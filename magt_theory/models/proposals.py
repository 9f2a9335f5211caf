"""Latent anchor proposals for the SNIS score of a generator (MAGT §3, Lemma 1).

A generator ``h: R^d -> R^D`` with base law ``pi`` defines the smoothed density
``p_t^h(y) = E_{U~pi} phi(y; alpha h(U), sigma^2 I)``. Its score is estimated by
self-normalised importance sampling (SNIS) over ``K`` latent anchors ``u_k ~ pi~``:

.. math::

    w_k \\propto \\frac{\\pi(u_k)}{\\tilde\\pi(u_k)}\\,
        \\exp\\Big(-\\frac{|y - \\alpha h(u_k)|^2}{2\\sigma^2}\\Big),\\qquad
    \\tilde m(y) = \\sum_k w_k h(u_k),\\qquad
    \\tilde s(y) = \\frac{\\alpha \\tilde m(y) - y}{\\sigma^2}.

Three proposals ``pi~`` are provided [MAGT]:

* :class:`MCProposal` -- ``pi~ = pi``, i.i.d. draws; equal log-weights.
* :class:`QMCProposal` -- scrambled Sobol points in ``[0, 1]^d`` pushed through the base's
  inverse CDF (``ndtri`` for the normal base); equal log-weights. Error ``O(K^{-1} log^d K)``.
* :class:`MAPProposal` -- a Laplace proposal per query: Gauss--Newton MAP
  ``u^ = argmin_u |y - alpha h(u)|^2/(2 sigma^2) - log pi(u)`` and
  ``q = N(u^, (zeta Lambda + tau^2 I)^{-1})``, ``Lambda = I_d + (alpha^2/sigma^2) J^T J`` at
  ``u^``; log-weights ``log pi(u) - log q(u)`` (optionally a defensive mixture with ``pi``).

MC and QMC anchors are *shared* by all queries of a batch (one set of ``K`` anchors, ``h``
evaluated ``K`` times). MAP anchors are *per query* (``B`` sets of ``K``, ``h`` evaluated
``B K`` times): each query's SNIS estimate uses only its own anchors, so in the exact chunked
gradient (:func:`magt_theory.models.magt.magt_loss_and_grad`) the sum over queries in the
per-anchor cotangent collapses to that anchor's own query. The proposal itself (``u^``,
``Lambda``) is computed without gradients: the training loss is the SNIS loss *given* the
drawn anchors and their importance weights (a stop-gradient on the proposal), which keeps the
estimator and its gradient exact for the drawn anchors.
"""

from __future__ import annotations

import abc
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy.stats import qmc

from .._validation import check_int, check_positive

__all__ = [
    "BASES",
    "PROPOSALS",
    "AnchorSet",
    "MAPProposal",
    "MCProposal",
    "Proposal",
    "QMCProposal",
    "base_from_uniform",
    "base_log_prob",
    "check_base",
    "make_proposal",
    "sample_base",
]

logger = logging.getLogger(__name__)

#: supported latent base laws ``pi``
BASES = ("normal", "uniform")

_LOG_2PI = math.log(2.0 * math.pi)
#: uniform points are kept this far from {0, 1} before the normal inverse CDF
_U_EPS = 1e-12


def check_base(base) -> str:
    """Return ``base`` if it is one of :data:`BASES`, else raise ``ValueError``."""
    if base not in BASES:
        raise ValueError(f"base must be one of {BASES}; got {base!r}")
    return base


def base_log_prob(u: torch.Tensor, base: str) -> torch.Tensor:
    """Log density of the base law at ``u`` of shape ``(..., d)``, shape ``(...)``.

    ``normal``: ``-|u|^2/2 - (d/2) log(2 pi)``; ``uniform``: 0 on ``[0,1]^d``, ``-inf`` outside.
    """
    d = u.shape[-1]
    if base == "normal":
        return -0.5 * (u * u).sum(-1) - 0.5 * d * _LOG_2PI
    if base == "uniform":
        inside = ((u >= 0) & (u <= 1)).all(-1)
        zero = torch.zeros(inside.shape, dtype=u.dtype, device=u.device)
        return torch.where(inside, zero, torch.full_like(zero, -math.inf))
    raise ValueError(f"base must be one of {BASES}; got {base!r}")


def base_from_uniform(v: torch.Tensor, base: str) -> torch.Tensor:
    """Push uniform points ``v`` in ``[0,1]^d`` through the base's inverse CDF."""
    if base == "normal":
        return torch.special.ndtri(v.clamp(_U_EPS, 1.0 - _U_EPS))
    if base == "uniform":
        return v
    raise ValueError(f"base must be one of {BASES}; got {base!r}")


def sample_base(n: int, d: int, base: str, generator: torch.Generator, dtype, device=None):
    """``n`` i.i.d. draws of the base law in ``R^d`` as a tensor of shape ``(n, d)``."""
    if base == "normal":
        return torch.randn(n, d, generator=generator, dtype=dtype, device=device)
    if base == "uniform":
        return torch.rand(n, d, generator=generator, dtype=dtype, device=device)
    raise ValueError(f"base must be one of {BASES}; got {base!r}")


@dataclass(frozen=True)
class AnchorSet:
    """Latent anchors drawn for one batch of queries.

    Attributes
    ----------
    u : (G, K, d) torch.Tensor
        Anchors; ``G = 1`` when shared by every query, ``G = B`` for per-query anchors
        (row ``b`` belongs to query ``b``).
    log_weights : (G, K) torch.Tensor or None
        ``log pi(u) - log pi~(u)`` (unnormalised); ``None`` means equal weights (``pi~ = pi``).
    """

    u: torch.Tensor
    log_weights: torch.Tensor | None = None

    @property
    def groups(self) -> int:
        return self.u.shape[0]

    @property
    def n_anchors(self) -> int:
        return self.u.shape[1]


Generator = Callable[[torch.Tensor], torch.Tensor]


class Proposal(abc.ABC):
    """Abstract anchor proposal ``pi~``; subclasses implement :meth:`draw`."""

    name: ClassVar[str] = ""
    #: True when every query gets its own anchors (``AnchorSet.u`` has ``G = B`` rows)
    per_query: ClassVar[bool] = False

    @abc.abstractmethod
    def draw(
        self,
        h: Generator,
        y: torch.Tensor,
        n_anchors: int,
        latent_dim: int,
        alpha: float,
        sigma: float,
        base: str,
        generator: torch.Generator,
    ) -> AnchorSet:
        """Draw anchors for the queries ``y`` of shape ``(B, D)``.

        Parameters
        ----------
        h : callable
            Generator ``(n, d) tensor -> (n, D) tensor``; only the MAP proposal calls it.
        y : (B, D) torch.Tensor
            Queries (noisy points at the smoothing level).
        n_anchors : int
            ``K``, anchors per set.
        latent_dim : int
            ``d``.
        alpha, sigma : float
            Smoothing level (``y = alpha h(u) + sigma z`` under the model).
        base : {"normal", "uniform"}
            Base law ``pi``.
        generator : torch.Generator
            Source of all randomness (also seeds the Sobol scrambling).
        """


class MCProposal(Proposal):
    """Plain Monte Carlo: ``K`` i.i.d. draws from the base law, shared by all queries."""

    name = "mc"

    def draw(self, h, y, n_anchors, latent_dim, alpha, sigma, base, generator):
        u = sample_base(n_anchors, latent_dim, base, generator, y.dtype, y.device)
        return AnchorSet(u[None])

    def __repr__(self) -> str:
        return "MCProposal()"


def _sobol(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    try:
        engine = qmc.Sobol(d, scramble=True, rng=rng)
    except TypeError:  # scipy < 1.15 spells it seed=
        engine = qmc.Sobol(d, scramble=True, seed=rng)
    m = round(math.log2(n))
    if 2**m == n:
        return engine.random_base2(m)
    with warnings.catch_warnings():  # balance warning: documented, see QMCProposal
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


class QMCProposal(Proposal):
    """Randomised QMC: a scrambled Sobol net pushed through the base's inverse CDF.

    Each call scrambles afresh (Owen scrambling via ``scipy.stats.qmc.Sobol``) with a seed drawn
    from ``generator``, so estimates are unbiased-in-the-limit and independent across steps.
    ``K`` should be a power of 2 to keep the net's balance properties; other ``K`` use the
    first ``K`` points of the sequence (still valid, usually less accurate).
    """

    name = "qmc"

    def draw(self, h, y, n_anchors, latent_dim, alpha, sigma, base, generator):
        seed = int(
            torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item()
        )
        v = torch.as_tensor(_sobol(n_anchors, latent_dim, seed), dtype=y.dtype, device=y.device)
        return AnchorSet(base_from_uniform(v, base)[None])

    def __repr__(self) -> str:
        return "QMCProposal()"


def _single(h: Generator) -> Generator:
    return lambda v: h(v.unsqueeze(0)).squeeze(0)


def batched_jacobian(h: Generator, u: torch.Tensor) -> torch.Tensor:
    """Jacobians ``J_h(u_i)`` of shape ``(n, D, d)`` via ``torch.func.vmap(jacrev)``."""
    return torch.func.vmap(torch.func.jacrev(_single(h)))(u)


@dataclass(frozen=True)
class MAPProposal(Proposal):
    """Laplace proposal around the per-query MAP latent (Gauss--Newton).

    .. math::

        \\hat u = \\arg\\min_u \\frac{|y - \\alpha h(u)|^2}{2\\sigma^2} - \\log\\pi(u),\\qquad
        q = \\mathcal N\\big(\\hat u, (\\zeta\\Lambda + \\tau^2 I)^{-1}\\big),\\qquad
        \\Lambda = I_d + \\frac{\\alpha^2}{\\sigma^2} J^T J\\big|_{\\hat u}

    for the normal base [MAGT]. ``Lambda`` is also the Gauss--Newton matrix of the objective,
    so each iteration solves ``Lambda delta = (alpha/sigma^2) J^T (y - alpha h(u)) - u`` (with
    backtracking), starting from the best of ``n_init`` shared base draws. Anchors carry the
    log-weights ``log pi(u) - log q(u)``.

    Uniform base: the law of ``U ~ U[0,1]^d`` is that of ``Phi(V)``, ``V ~ N(0, I_d)``, so the
    proposal is built for ``v -> h(Phi(v))`` with the normal prior and the anchors are
    ``u = Phi(v)``; the weight ``pi(u)/q_u(u) = phi(v)/q_v(v)`` (the Jacobians of ``Phi``
    cancel) and every anchor stays in the support.

    Parameters
    ----------
    zeta : float
        Precision scale (> 0); ``zeta < 1`` widens the proposal (safer tails).
    tau : float
        Ridge ``tau^2`` added to the precision (>= 0).
    steps : int
        Gauss--Newton iterations (>= 0).
    n_init : int
        Size of the shared pool the iteration starts from (>= 1).
    mix : float
        Defensive mixture weight in [0, 1): anchors are drawn from
        ``q_mix = mix * pi + (1 - mix) * q`` (``mix = 0`` is the plain Laplace proposal).

    Notes
    -----
    The SNIS variance is governed by ``D_2(pi_t || q)`` [MAGT Lemma 1, MAP]. When the posterior
    has prior-like tails (e.g. a generator that saturates, ``|J_h(u)| -> 0`` as ``|u| -> inf``,
    as ``u -> 2 pi Phi(u)`` on the circle) while ``q`` is narrower than the prior, the weights
    ``pi/q`` are unbounded and the plain Laplace proposal converges much slower than ``1/K``;
    ``mix > 0`` bounds the weights by ``1/mix`` and restores the ``1/K`` rate.
    """

    zeta: float = 0.5
    tau: float = 0.1
    steps: int = 5
    n_init: int = 64
    mix: float = 0.0

    name: ClassVar[str] = "map"
    per_query: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "zeta", check_positive(self.zeta, "map_zeta"))
        tau = float(self.tau)
        if not math.isfinite(tau) or tau < 0:
            raise ValueError(f"map_tau must be a finite number >= 0; got {self.tau!r}")
        object.__setattr__(self, "tau", tau)
        object.__setattr__(self, "steps", check_int(self.steps, "map_steps", low=0))
        object.__setattr__(self, "n_init", check_int(self.n_init, "map_init", low=1))
        mix = float(self.mix)
        if not (math.isfinite(mix) and 0.0 <= mix < 1.0):
            raise ValueError(f"map_mix must be in [0, 1); got {self.mix!r}")
        object.__setattr__(self, "mix", mix)

    @staticmethod
    def _latent_map(h, base):
        """The generator in normal coordinates: ``h`` or ``v -> h(Phi(v))`` (uniform base)."""
        if base == "normal":
            return h
        check_base(base)
        return lambda v: h(torch.special.ndtr(v))

    @staticmethod
    def _objective(h, y, v, alpha, sigma):
        r = y - alpha * h(v)
        return 0.5 * (r * r).sum(-1) / sigma**2 + 0.5 * (v * v).sum(-1)

    @torch.no_grad()
    def mode(self, h, y, latent_dim, alpha, sigma, base, generator):
        """Gauss--Newton MAP per query and the Jacobian there, ``(B, d)`` and ``(B, D, d)``.

        For the uniform base both refer to the normal coordinates ``v`` (``u = Phi(v)``).
        """
        hv = self._latent_map(h, base)
        B = y.shape[0]
        pool = torch.randn(
            self.n_init, latent_dim, generator=generator, dtype=y.dtype, device=y.device
        )
        obj = (
            torch.cdist(y, alpha * hv(pool)) ** 2 / (2 * sigma**2)
            + 0.5 * (pool * pool).sum(-1)[None]
        )
        v = pool[obj.argmin(1)].clone()
        f = self._objective(hv, y, v, alpha, sigma)
        eye = torch.eye(latent_dim, dtype=y.dtype, device=y.device)
        for _ in range(self.steps):
            J = batched_jacobian(hv, v)  # (B, D, d)
            r = y - alpha * hv(v)
            rhs = (alpha / sigma**2) * torch.einsum("bDd,bD->bd", J, r) - v
            lam = eye + (alpha**2 / sigma**2) * J.transpose(1, 2) @ J
            delta = torch.linalg.solve(lam, rhs.unsqueeze(-1)).squeeze(-1)
            accepted = torch.zeros(B, dtype=torch.bool, device=y.device)
            for scale in (1.0, 0.5, 0.25, 0.125):
                cand = v + scale * delta
                fc = self._objective(hv, y, cand, alpha, sigma)
                take = (fc < f) & ~accepted
                v = torch.where(take[:, None], cand, v)
                f = torch.where(take, fc, f)
                accepted |= take
            if not bool(accepted.any()):
                break
        return v, batched_jacobian(hv, v)

    @torch.no_grad()
    def draw(self, h, y, n_anchors, latent_dim, alpha, sigma, base, generator):
        B, d = y.shape[0], latent_dim
        v_hat, J = self.mode(h, y, d, alpha, sigma, base, generator)
        eye = torch.eye(d, dtype=y.dtype, device=y.device)
        lam = eye + (alpha**2 / sigma**2) * J.transpose(1, 2) @ J
        L = torch.linalg.cholesky(self.zeta * lam + self.tau**2 * eye)  # prec = L L^T
        eps = torch.randn(B, n_anchors, d, generator=generator, dtype=y.dtype, device=y.device)
        # v = v^ + L^{-T} eps  <=>  L^T (v - v^) = eps
        step = torch.linalg.solve_triangular(L.transpose(1, 2), eps.transpose(1, 2), upper=True)
        v = v_hat[:, None, :] + step.transpose(1, 2)
        log_det = torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(-1)[:, None]
        if self.mix == 0.0:
            log_q = log_det - 0.5 * (eps * eps).sum(-1) - 0.5 * d * _LOG_2PI
        else:
            prior = torch.randn(
                B, n_anchors, d, generator=generator, dtype=y.dtype, device=y.device
            )
            pick = (
                torch.rand(B, n_anchors, generator=generator, dtype=y.dtype, device=y.device)
                < self.mix
            )
            v = torch.where(pick[..., None], prior, v)
            e = torch.einsum("bdj,bkd->bkj", L, v - v_hat[:, None, :])  # L^T (v - v^)
            log_lap = log_det - 0.5 * (e * e).sum(-1) - 0.5 * d * _LOG_2PI
            log_q = torch.logaddexp(
                math.log(self.mix) + base_log_prob(v, "normal"), math.log1p(-self.mix) + log_lap
            )
        log_w = base_log_prob(v, "normal") - log_q
        u = v if base == "normal" else torch.special.ndtr(v)
        return AnchorSet(u, log_w)

    def __repr__(self) -> str:
        return (
            f"MAPProposal(zeta={self.zeta}, tau={self.tau}, steps={self.steps}, "
            f"n_init={self.n_init}, mix={self.mix})"
        )


#: proposal name -> class
PROPOSALS: dict[str, type[Proposal]] = {"mc": MCProposal, "qmc": QMCProposal, "map": MAPProposal}


def make_proposal(name: str, **params) -> Proposal:
    """Build a proposal by name (``"mc"``, ``"qmc"``, ``"map"``); ``params`` go to MAP only."""
    if name not in PROPOSALS:
        raise ValueError(f"proposal must be one of {sorted(PROPOSALS)}; got {name!r}")
    if name != "map":
        return PROPOSALS[name]()
    return MAPProposal(**params)
