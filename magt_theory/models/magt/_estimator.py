"""The MAGT estimator: fit, one-step sampling, SNIS score, densities, persistence [MAGT]."""

from __future__ import annotations

import logging
import math
import sys
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import smoothing
from ..._validation import as_points, check_int
from ..mlp import MLP, resolve_dtype
from ..proposals import sample_base
from ._config import MAGTConfig
from ._densities import area_log_density, smoothed_log_density, snis_score
from ._loss import _forward_chunks, magt_loss_and_grad
from .._persistence import FORMAT_VERSION
from .._protocol import GenerativeModel

logger = logging.getLogger("magt_theory.models.magt")


def _progress_enabled(progress) -> bool:
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


class MAGT(GenerativeModel):
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

    config_class = MAGTConfig
    _networks = ("generator_",)
    _readable_versions = (1, FORMAT_VERSION)

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

    @property
    def nfe(self) -> int:
        """One generator forward pass per sample."""
        return 1

    def _seeds(self):
        ss = np.random.SeedSequence(self.config.seed)
        init_seed, train_seed = (int(s) for s in ss.generate_state(2))
        return init_seed, train_seed

    def _build(self, ambient_dim: int, extra: dict | None = None):
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
        if x.shape[0] < 1:
            raise ValueError(f"data must hold at least one point; got shape {x.shape}")
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

    def _snis_call(self, fn, y, t, n_anchors, proposal, seed):
        """``fn(h, y, alpha, sigma, K, d, ...)`` (an SNIS routine) with this model's settings."""
        self._check_fitted()
        alpha, sigma = self._level(t)
        cfg = self.config
        return fn(
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

    def score(
        self, y, t: float | None = None, n_anchors: int | None = None, proposal=None, seed: int = 0
    ):
        """SNIS score ``(alpha m~(y) - y)/sigma^2`` of the model at level ``t`` (default: own)."""
        return self._snis_call(snis_score, y, t, n_anchors, proposal, seed)

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
        return self._snis_call(smoothed_log_density, y, t, n_anchors, None, seed)

    # --------------------------------------------------------------- persistence
    # save / load: GenerativeModel's versioned, checksummed file (format FORMAT_NAME; MAGT
    # files store the generator's state dict unprefixed and version 1 files still load).
    def _state_dict(self) -> dict:
        return {k: v.detach().cpu() for k, v in self.generator_.state_dict().items()}

    def _load_state_dict(self, state: dict) -> None:
        self.generator_.load_state_dict(state)
