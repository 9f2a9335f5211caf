"""WGAN-GP baseline with the MLP backbone of the MAGT protocol (MAGT §5 baselines).

Generator ``G: R^k -> R^D`` (an :class:`~magt_theory.models.mlp.MLP`, latent ``N(0, I_k)``),
critic ``f: R^D -> R`` (same MLP family). Wasserstein GAN with gradient penalty (Gulrajani et al.
2017):

.. math::

    \\min_G \\max_f\\ \\mathbb E_{data} f(x) - \\mathbb E_z f(G(z))
        - \\gamma\\, \\mathbb E_{\\hat x} (|\\nabla f(\\hat x)| - 1)^2,
    \\qquad \\hat x = \\epsilon x + (1 - \\epsilon) G(z),\\ \\epsilon \\sim U[0, 1],

with the protocol's settings: 5 critic steps per generator step, ``gamma = 10``, Adam with
learning rate ``1e-4`` and ``betas = (0.5, 0.999)``. Sampling is one forward pass (NFE = 1).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._validation import as_points, check_int
from ._protocol import (
    GenerativeModel,
    ModelConfig,
    activation_field,
    betas_field,
    dtype_field,
    integer,
    positive,
)
from ._step import optimizer_step
from .mlp import MLP, resolve_dtype

log = logging.getLogger(__name__)

__all__ = ["WGANGPConfig", "WGANGP", "gradient_penalty"]


def gradient_penalty(critic, x_real: torch.Tensor, x_fake: torch.Tensor, gen=None) -> torch.Tensor:
    """Two-sided penalty ``E (|grad f(x_hat)| - 1)^2`` at random interpolates."""
    e = torch.rand((x_real.shape[0], 1), generator=gen, dtype=x_real.dtype)
    xh = (e * x_real + (1 - e) * x_fake).detach().requires_grad_(True)
    g = torch.autograd.grad(critic(xh).sum(), xh, create_graph=True)[0]
    return ((g.norm(dim=1) - 1.0) ** 2).mean()


@dataclass(frozen=True)
class WGANGPConfig(ModelConfig):
    """Hyper-parameters of :class:`WGANGP` (defaults: the MAGT protocol's baseline).

    Parameters
    ----------
    latent_dim : int
        ``k`` (the protocol uses the intrinsic dimension, like MAGT).
    width, depth, activation
        Generator and critic MLPs (protocol: 512, 5, ReLU).
    steps : int
        Generator updates.
    critic_steps : int
        Critic updates per generator update (5).
    gp_weight : float
        ``gamma`` (10).
    lr : float
        Adam learning rate (1e-4); ``betas`` (0.5, 0.999).
    batch_size : int
    seed : int
    dtype : {"float32", "float64"}
    """

    latent_dim: int = integer(1)
    width: int = integer(512)
    depth: int = integer(5, low=0)
    activation: str = activation_field("relu")
    steps: int = integer(2000, low=0)
    critic_steps: int = integer(5)
    gp_weight: float = positive(10.0)
    lr: float = positive(1e-4)
    betas: tuple = betas_field((0.5, 0.999))
    batch_size: int = integer(256)
    seed: int = integer(0, low=0)
    dtype: str = dtype_field("float32")


class WGANGP(GenerativeModel):
    """WGAN-GP generator (fit with :meth:`fit`, one-step :meth:`sample`, NFE = 1).

    Attributes (after ``fit``): ``generator_``, ``critic_`` (MLPs), ``history_`` (DataFrame:
    ``step``, ``critic_loss``, ``w_estimate``, ``gp``, one row per generator step),
    ``seconds_``.
    """

    config_class = WGANGPConfig
    _networks = ("generator_", "critic_")

    @property
    def nfe(self) -> int:
        return 1

    def _build(self, ambient_dim: int, extra: dict | None = None) -> None:
        cfg = self.config
        dt = resolve_dtype(cfg.dtype)
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            G = MLP(cfg.latent_dim, ambient_dim, cfg.width, cfg.depth, cfg.activation, dt)
            f = MLP(ambient_dim, 1, cfg.width, cfg.depth, cfg.activation, dt)
        self.generator_, self.critic_ = G, f
        self.ambient_dim_ = int(ambient_dim)

    def fit(self, data, progress: bool = False) -> "WGANGP":
        """Train on ``data`` ``(n, D)``.

        Raises
        ------
        FloatingPointError
            If a loss becomes non-finite.
        """
        cfg = self.config
        x_all = as_points(data, "data")
        n, D = x_all.shape
        dt = resolve_dtype(cfg.dtype)
        self._build(D)
        G, f = self.generator_, self.critic_
        gen = torch.Generator().manual_seed(cfg.seed)
        X = torch.as_tensor(x_all, dtype=dt)
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
        opt_f = torch.optim.Adam(f.parameters(), lr=cfg.lr, betas=cfg.betas)
        B = cfg.batch_size
        hist = {"critic_loss": [], "w_estimate": [], "gp": []}
        t0 = time.perf_counter()
        for step in range(cfg.steps):
            for _ in range(cfg.critic_steps):
                xr = X[torch.randint(0, n, (B,), generator=gen)]
                with torch.no_grad():
                    xf = G(torch.randn((B, cfg.latent_dim), generator=gen, dtype=dt))
                w = f(xr).mean() - f(xf).mean()
                gp = gradient_penalty(f, xr, xf, gen)
                loss_f = -w + cfg.gp_weight * gp
                optimizer_step(loss_f, opt_f, what=f"WGAN-GP critic (step {step})")
            loss_g = -f(G(torch.randn((B, cfg.latent_dim), generator=gen, dtype=dt))).mean()
            optimizer_step(loss_g, opt_g, what=f"WGAN-GP generator (step {step})")
            hist["critic_loss"].append(float(loss_f.detach()))
            hist["w_estimate"].append(float(w.detach()))
            hist["gp"].append(float(gp.detach()))
        for p in list(G.parameters()) + list(f.parameters()):
            p.requires_grad_(False)
        self.generator_, self.critic_ = G.eval(), f.eval()
        self.history_ = pd.DataFrame({"step": np.arange(cfg.steps), **hist})
        self.ambient_dim_ = D
        self.seconds_ = time.perf_counter() - t0
        return self

    def latent(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` latent draws ``N(0, I_k)`` from ``seed``."""
        self._check_fitted()
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        dt = next(self.generator_.parameters()).dtype
        return torch.randn((check_int(n, "n", low=1), self.config.latent_dim), generator=gen,
                           dtype=dt)

    sample_latent = latent

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """One forward pass ``G(z)``; ``(n, D)`` float64."""
        self._check_fitted()
        with torch.no_grad():
            x = self.generator_(self.latent(n, seed))
        if not bool(torch.isfinite(x).all()):
            raise FloatingPointError("WGAN-GP generator produced non-finite samples")
        return x.double().numpy()
