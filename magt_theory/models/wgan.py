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

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import as_points, check_int, check_positive
from .mlp import ACTIVATIONS, MLP, resolve_dtype

log = logging.getLogger(__name__)

__all__ = ["WGANGPConfig", "WGANGP", "gradient_penalty"]


def gradient_penalty(critic, x_real: torch.Tensor, x_fake: torch.Tensor, gen=None) -> torch.Tensor:
    """Two-sided penalty ``E (|grad f(x_hat)| - 1)^2`` at random interpolates."""
    e = torch.rand((x_real.shape[0], 1), generator=gen, dtype=x_real.dtype)
    xh = (e * x_real + (1 - e) * x_fake).detach().requires_grad_(True)
    g = torch.autograd.grad(critic(xh).sum(), xh, create_graph=True)[0]
    return ((g.norm(dim=1) - 1.0) ** 2).mean()


@dataclass(frozen=True)
class WGANGPConfig:
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

    latent_dim: int = 1
    width: int = 512
    depth: int = 5
    activation: str = "relu"
    steps: int = 2000
    critic_steps: int = 5
    gp_weight: float = 10.0
    lr: float = 1e-4
    betas: tuple = (0.5, 0.999)
    batch_size: int = 256
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        for k, low in (("latent_dim", 1), ("width", 1), ("depth", 0), ("steps", 0),
                       ("critic_steps", 1), ("batch_size", 1), ("seed", 0)):
            put(k, check_int(getattr(self, k), k, low=low))
        put("gp_weight", check_positive(self.gp_weight, "gp_weight"))
        put("lr", check_positive(self.lr, "lr"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        try:
            b1, b2 = (float(b) for b in self.betas)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"betas must be two numbers in [0, 1); got {self.betas!r}") from exc
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas!r}")
        put("betas", (b1, b2))
        resolve_dtype(self.dtype)

    def replace(self, **changes) -> "WGANGPConfig":
        return dataclasses.replace(self, **changes)


class WGANGP:
    """WGAN-GP generator (fit with :meth:`fit`, one-step :meth:`sample`).

    Attributes (after ``fit``): ``generator_``, ``critic_`` (MLPs), ``history_`` (dict of
    lists ``critic_loss``, ``w_estimate``, ``gp``), ``seconds_``.
    """

    def __init__(self, config: WGANGPConfig | None = None):
        if config is not None and not isinstance(config, WGANGPConfig):
            raise TypeError(f"config must be a WGANGPConfig; got {type(config).__name__}")
        self.config = config or WGANGPConfig()

    def _check_fitted(self):
        if not hasattr(self, "generator_"):
            raise RuntimeError("WGANGP is not fitted; call fit(data) first")

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
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            G = MLP(cfg.latent_dim, D, cfg.width, cfg.depth, cfg.activation, dt)
            f = MLP(D, 1, cfg.width, cfg.depth, cfg.activation, dt)
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
                if not torch.isfinite(loss_f):
                    raise FloatingPointError(f"WGAN-GP critic loss non-finite at step {step}")
                opt_f.zero_grad(set_to_none=True)
                loss_f.backward()
                opt_f.step()
            loss_g = -f(G(torch.randn((B, cfg.latent_dim), generator=gen, dtype=dt))).mean()
            if not torch.isfinite(loss_g):
                raise FloatingPointError(f"WGAN-GP generator loss non-finite at step {step}")
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            hist["critic_loss"].append(float(loss_f.detach()))
            hist["w_estimate"].append(float(w.detach()))
            hist["gp"].append(float(gp.detach()))
        for p in list(G.parameters()) + list(f.parameters()):
            p.requires_grad_(False)
        self.generator_, self.critic_ = G.eval(), f.eval()
        self.history_ = hist
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

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """One forward pass ``G(z)``; ``(n, D)`` float64."""
        with torch.no_grad():
            x = self.generator_(self.latent(n, seed))
        if not bool(torch.isfinite(x).all()):
            raise FloatingPointError("WGAN-GP generator produced non-finite samples")
        return x.double().numpy()
