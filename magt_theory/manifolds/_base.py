"""Base class for known manifolds with closed-form (or quadrature-exact) smoothed scores.

A manifold is written once in its *native* coordinates ``R^n`` (``n = native_dim``) and embedded
isometrically in ``R^D`` by a seeded random matrix ``Q`` of shape ``(D, n)`` with orthonormal
columns. Every smoothed quantity then follows exactly from the native, variance-exploding (VE,
``alpha = 1``) posterior over the manifold:

.. math::

    Y = \\alpha X + \\sigma Z,\\quad
    p_{\\alpha,\\sigma}(y) = \\alpha^{-n} p^{VE}_{\\sigma/\\alpha}(Q^T y / \\alpha)
        \\; \\mathcal N(y_\\perp; 0, \\sigma^2 I_{D-n}),

    E[X \\mid Y = y] = Q\\, m^{VE}_{\\sigma/\\alpha}(Q^T y/\\alpha),\\qquad
    \\nabla \\log p(y) = (\\alpha E[X\\mid y] - y)/\\sigma^2   \\quad \\text{(Tweedie)},

with ``y_perp = (I - Q Q^T) y``. (docs/conventions.md §1; MAGT §2.)

Subclasses implement the native hooks ``_sample``, ``_project``, ``_tangent``, ``_log_density``,
``_posterior`` and, where an exact generator exists, ``_generator``; the public, validated,
chunked, embedded methods live here.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from .. import _xp
from .._validation import as_points, as_rng, check_alpha, check_int, check_positive

__all__ = ["Manifold", "Posterior"]

#: rows per chunk for the public posterior methods (bounds memory of quadrature manifolds)
QUERY_CHUNK = 2048


class Posterior:
    """Native VE posterior moments at one chunk of queries.

    Attributes
    ----------
    mean : (n, native_dim) ndarray
        ``E[X | X + s Z = y]``.
    log_marginal : (n,) ndarray
        ``log p_s(y)``, the log density of ``X + s Z`` in ``R^native_dim`` (Lebesgue).
    cov : (n, native_dim, native_dim) ndarray or None
        ``Cov[X | y]`` when requested.
    """

    __slots__ = ("mean", "log_marginal", "cov")

    def __init__(self, mean, log_marginal, cov=None):
        self.mean = mean
        self.log_marginal = log_marginal
        self.cov = cov


class Manifold(abc.ABC):
    """A known d-dimensional manifold with a known density, embedded in ``R^D``.

    Parameters
    ----------
    ambient_dim : int or None
        Ambient dimension ``native_dim <= D <= 2^20``. ``None`` (or ``native_dim``) keeps the native
        embedding (``Q = I``); a larger ``D`` uses a random isometry seeded by ``seed``.
    seed : int
        Seed of the random isometric embedding.

    Class attributes set by subclasses: ``name``, ``dim`` (intrinsic ``d``), ``native_dim``
    (``n``), ``generator_latent_dim`` (``None`` when no exact generator ``h*`` is provided).
    Instance attribute ``reach`` is the reach of the manifold (or a documented lower bound).
    """

    name: ClassVar[str] = ""
    dim: int = 0
    native_dim: int = 0
    generator_latent_dim: int | None = None
    #: False when ``h*`` is many-to-one (the area formula then needs a sum over preimages)
    generator_injective: bool = True
    reach: float = 0.0

    def __init__(self, ambient_dim: int | None = None, seed: int = 0):
        n = self.native_dim
        D = n if ambient_dim is None else check_int(ambient_dim, "ambient_dim", low=n, high=2**20)
        self.ambient_dim = D
        self.seed = check_int(seed, "seed", low=0)
        if D == n:
            self.Q = None
        else:
            g = np.random.default_rng(self.seed).standard_normal((D, n))
            q, r = np.linalg.qr(g)
            self.Q = q * np.sign(np.diag(r))  # Haar-distributed isometry R^n -> R^D

    # ------------------------------------------------------------------ native hooks
    @abc.abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, native_dim)`` samples of the manifold's distribution."""

    @abc.abstractmethod
    def _project(self, y: np.ndarray) -> np.ndarray:
        """Nearest point on the manifold, ``(n, native_dim)``."""

    @abc.abstractmethod
    def _tangent(self, x: np.ndarray) -> np.ndarray:
        """Orthonormal tangent basis at points on the manifold, ``(n, native_dim, dim)``."""

    @abc.abstractmethod
    def _log_density(self, x: np.ndarray) -> np.ndarray:
        """Log density w.r.t. the d-dimensional volume at points on the manifold, ``(n,)``."""

    @abc.abstractmethod
    def _posterior(self, y: np.ndarray, s: float, cov: bool) -> Posterior:
        """VE posterior of ``X`` given ``X + s Z = y`` in native coordinates."""

    def _generator(self, v):
        """Exact generator from uniform ``v`` in ``[0,1]^latent`` (numpy or torch)."""
        raise NotImplementedError(f"manifold {self.name!r} has no exact generator map h*")

    # ------------------------------------------------------------------ embedding
    def _to_native(self, y: np.ndarray) -> np.ndarray:
        return y if self.Q is None else y @ self.Q

    def _from_native(self, yn):
        if self.Q is None:
            return yn
        if _xp.is_torch(yn):
            import torch

            return yn @ torch.as_tensor(self.Q.T, dtype=yn.dtype, device=yn.device)
        return yn @ self.Q.T

    def _points(self, y, name: str) -> np.ndarray:
        return as_points(y, name, self.ambient_dim)

    # ------------------------------------------------------------------ public API
    def sample(self, n: int, rng=None) -> np.ndarray:
        """Draw ``n`` points of the manifold's distribution, shape ``(n, D)``.

        ``rng`` is a numpy ``Generator`` or an int seed.
        """
        n = check_int(n, "n", low=1)
        return self._from_native(self._sample(n, as_rng(rng)))

    @_xp.boundary("y")
    def project(self, y) -> np.ndarray:
        """Nearest point on the manifold to each row of ``y``, shape ``(n, D)``."""
        y = self._points(y, "y")
        return self._from_native(self._project(self._to_native(y)))

    @_xp.boundary("y")
    def distance(self, y) -> np.ndarray:
        """Euclidean distance from each row of ``y`` to the manifold, shape ``(n,)``."""
        y = self._points(y, "y")
        return np.linalg.norm(y - self.project(y), axis=1)

    @_xp.boundary("x")
    def tangent_basis(self, x) -> np.ndarray:
        """Orthonormal tangent basis at points ``x`` on the manifold, shape ``(n, D, d)``."""
        x = self._points(x, "x")
        t = self._tangent(self._to_native(x))
        return t if self.Q is None else np.einsum("Dk,nkd->nDd", self.Q, t)

    @_xp.boundary("x")
    def log_density(self, x) -> np.ndarray:
        """Intrinsic log density w.r.t. the d-dimensional volume at points ``x`` *on* the manifold.

        Points off the manifold are not projected first: pass ``M.project(y)`` for those.
        """
        x = self._points(x, "x")
        return self._log_density(self._to_native(x))

    @_xp.boundary("y")
    def posterior(self, y, sigma: float, alpha: float = 1.0, cov: bool = False):
        """Posterior mean (and covariance) of ``X`` given ``alpha X + sigma Z = y``.

        Returns ``(mean, log_density, cov)`` with ``mean`` of shape ``(n, D)``, ``log_density``
        the smoothed log density ``log p(y)`` of shape ``(n,)`` and ``cov`` of shape
        ``(n, D, D)`` (or ``None`` when ``cov=False``). Memory is bounded by chunking over rows.
        """
        y = self._points(y, "y")
        sigma = check_positive(sigma, "sigma")
        alpha = check_alpha(alpha)
        s = sigma / alpha
        yn = self._to_native(y) / alpha
        n_nat, D = self.native_dim, self.ambient_dim
        means, logps, covs = [], [], []
        for start in range(0, y.shape[0], QUERY_CHUNK):
            post = self._posterior(yn[start : start + QUERY_CHUNK], s, cov)
            means.append(post.mean)
            logps.append(post.log_marginal)
            if cov:
                covs.append(post.cov)
        mean = np.concatenate(means) if means else np.zeros((0, n_nat))
        logp = np.concatenate(logps) if logps else np.zeros(0)
        # exact factor of the orthogonal complement and of the alpha rescaling
        perp2 = np.sum(y * y, axis=1) - np.sum((yn * alpha) ** 2, axis=1)
        perp2 = np.maximum(perp2, 0.0)
        logp = (
            logp
            - n_nat * np.log(alpha)
            - 0.5 * perp2 / sigma**2
            - 0.5 * (D - n_nat) * np.log(2 * np.pi * sigma**2)
        )
        c = None
        if cov:
            c = np.concatenate(covs) if covs else np.zeros((0, n_nat, n_nat))
            if self.Q is not None:
                c = np.einsum("Dk,nkl,El->nDE", self.Q, c, self.Q)
        out_mean = self._from_native(mean)
        if not (np.all(np.isfinite(out_mean)) and np.all(np.isfinite(logp))):
            # only reachable beyond float64's range (e.g. |y|^2 / sigma^2 > 1e308)
            ok = np.all(np.isfinite(out_mean), axis=1) & np.isfinite(logp)
            bad = int(np.nonzero(~ok)[0][0])
            raise ValueError(
                f"{self.name}: the posterior at y[{bad}] (distance "
                f"{float(np.linalg.norm(y[bad])):.3g} from the origin) with sigma={sigma:.3g}, "
                f"alpha={alpha} overflows float64; use a larger sigma or a nearer query y"
            )
        return out_mean, logp, c

    @_xp.boundary("y")
    def posterior_mean(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """``E[X | alpha X + sigma Z = y]``, shape ``(n, D)``."""
        return self.posterior(y, sigma, alpha)[0]

    @_xp.boundary("y")
    def posterior_cov(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """``Cov[X | alpha X + sigma Z = y]``, shape ``(n, D, D)``."""
        return self.posterior(y, sigma, alpha, cov=True)[2]

    @_xp.boundary("y")
    def smoothed_score(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """Score of the law of ``alpha X + sigma Z``: ``(alpha E[X|y] - y) / sigma^2``."""
        y = self._points(y, "y")
        sigma = check_positive(sigma, "sigma")
        alpha = check_alpha(alpha)
        return (alpha * self.posterior_mean(y, sigma, alpha) - y) / sigma**2

    @_xp.boundary("y")
    def smoothed_log_density(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """Log density (Lebesgue on ``R^D``) of the law of ``alpha X + sigma Z``, ``(n,)``."""
        return self.posterior(y, sigma, alpha)[1]

    # ------------------------------------------------------------------ exact generator
    @property
    def has_generator(self) -> bool:
        return self.generator_latent_dim is not None

    def generator(self, u, base: str = "normal"):
        """Exact generator ``h*``: pushes the base distribution onto the manifold's law.

        Parameters
        ----------
        u : (n, k) ndarray or torch.Tensor
            Latent points, ``k = generator_latent_dim``; ``N(0, I_k)`` draws for
            ``base="normal"`` (composed with the normal CDF), ``[0,1]^k`` for ``base="uniform"``.
            Torch input gives a differentiable torch output.
        """
        if not self.has_generator:
            raise NotImplementedError(f"manifold {self.name!r} has no exact generator map h*")
        if base not in ("normal", "uniform"):
            raise ValueError(f"base must be 'normal' or 'uniform'; got {base!r}")
        if not _xp.is_torch(u):
            u = as_points(u, "u", self.generator_latent_dim)
        elif u.ndim != 2 or u.shape[1] != self.generator_latent_dim:
            raise ValueError(f"u must have shape (n, {self.generator_latent_dim}); got {tuple(u.shape)}")
        v = _xp.ndtr(u) if base == "normal" else u
        return self._from_native(self._generator(v))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, d={self.dim}, D={self.ambient_dim})"
