"""Learned denoiser / score network of the VP diffusion baseline and its DSM training.

:class:`ScoreNetwork` (EDM-preconditioned MLP, Karras et al. 2022), :func:`dsm_loss` and
:func:`train_score_network`; re-exported from :mod:`magt_theory.models.diffusion`, whose
samplers they drive. Schedule: ``alpha_t = sqrt(1 - t)``, ``sigma_t = sqrt(t)`` [MAGT].
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from .. import _xp, smoothing
from .._validation import as_points, check_int, check_positive
from ._step import optimizer_step
from .integrators import half_log_snr as _lam
from .integrators import time_grid, vp_alpha_sigma

log = logging.getLogger("magt_theory.models.diffusion")

__all__ = ["ScoreNetwork", "dsm_loss", "train_score_network"]


class _TimeFeatures(nn.Module):
    """Features of the noise level: ``c = log(sigma/alpha)`` and Fourier features of ``c``."""

    def __init__(self, n_freq: int):
        super().__init__()
        self.register_buffer("freqs", torch.arange(1, n_freq + 1, dtype=torch.float64) * 0.5)

    @property
    def n_out(self) -> int:
        return 1 + 2 * self.freqs.numel()

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        f = self.freqs.to(c.dtype)
        arg = c[..., None] * f
        return torch.cat([c[..., None], torch.sin(arg), torch.cos(arg)], dim=-1)


class ScoreNetwork(nn.Module):
    """Learned denoiser / score for the VP diffusion, with EDM preconditioning.

    In VE units ``s = sigma_t / alpha_t``, ``u = x / alpha_t`` (so that ``u = Y_0 + s Z``),

    .. math::

        \\hat x_0(x, t) = c_{skip}(s)\\, u + c_{out}(s)\\, F_\\theta\\big(c_{in}(s)\\, u,\\ \\log s\\big),
        \\quad c_{skip} = \\frac{\\sigma_d^2}{s^2 + \\sigma_d^2},\\
        c_{out} = \\frac{s \\sigma_d}{\\sqrt{s^2 + \\sigma_d^2}},\\
        c_{in} = \\frac{1}{\\sqrt{s^2 + \\sigma_d^2}}

    (Karras et al. 2022), so that the regression target of ``F_theta`` has unit scale at every
    noise level. The score is ``(alpha_t x0_hat - x) / sigma_t^2`` (Tweedie, [MAGT]).

    Parameters
    ----------
    dim : int
        Ambient dimension ``D``.
    width, depth : int
        Hidden width and number of hidden layers of the MLP ``F_theta``.
    n_freq : int
        Number of Fourier features of ``log s``.
    sigma_data : float
        Data scale ``sigma_d`` (RMS of a coordinate); :func:`train_score_network` sets it from data.
    dtype : {"float32", "float64"}
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, n_freq: int = 4,
                 sigma_data: float = 1.0, activation: str = "silu", dtype="float32"):
        super().__init__()
        from .mlp import MLP, resolve_dtype

        self.dim = check_int(dim, "dim", low=1)
        n_freq = check_int(n_freq, "n_freq", low=0)
        self.sigma_data = check_positive(sigma_data, "sigma_data")
        dt = resolve_dtype(dtype)
        self.time_features = _TimeFeatures(n_freq)
        self.net = MLP(self.dim + self.time_features.n_out, self.dim, width=width, depth=depth,
                       activation=activation, dtype=dt)
        self.train_losses_: list[float] = []

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _coefs(self, t):
        alpha, sigma = vp_alpha_sigma(t)
        if sigma == 0.0:
            raise ValueError("t must be > 0 for a network call")
        s = sigma / alpha
        sd2 = self.sigma_data**2
        return alpha, sigma, s, sd2 / (s * s + sd2), s * self.sigma_data / math.sqrt(s * s + sd2), \
            1.0 / math.sqrt(s * s + sd2)

    def x0(self, x: torch.Tensor, t) -> torch.Tensor:
        """Denoiser ``x0_hat(x, t)`` for a scalar ``t`` (torch in, torch out; differentiable).

        ``x`` may be ``(n, D)`` or a single point ``(D,)`` (for ``torch.func.jacrev``).
        """
        alpha, sigma, s, c_skip, c_out, c_in = self._coefs(t)
        c_noise = torch.full(x.shape[:-1], math.log(s), dtype=x.dtype, device=x.device)
        u = x / alpha
        feats = torch.cat([c_in * u, self.time_features(c_noise)], dim=-1)
        return c_skip * u + c_out * self.net(feats)

    def _x0_batched_t(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x0_hat`` with one time per row (training)."""
        alpha, sigma = (v[:, None] for v in smoothing.vp(t))
        s = sigma / alpha
        sd2 = self.sigma_data**2
        c_skip = sd2 / (s * s + sd2)
        c_out = s * self.sigma_data / torch.sqrt(s * s + sd2)
        c_in = 1.0 / torch.sqrt(s * s + sd2)
        u = x / alpha
        feats = torch.cat([c_in * u, self.time_features(torch.log(s[:, 0]))], dim=-1)
        return c_skip * u + c_out * self.net(feats)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.x0(x, t)

    def score(self, x, t):
        """Score ``(alpha_t x0_hat - x) / sigma_t^2`` (numpy or torch, like :meth:`__call__`)."""
        alpha, sigma = vp_alpha_sigma(t)
        return (alpha * self.denoise(x, t) - x) / sigma**2

    def denoise(self, x, t):
        """Denoiser for the samplers: numpy in -> numpy float64 out (no grad); torch -> torch."""
        if _xp.is_torch(x):
            return self.x0(x, t)
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.dtype)
            return self.x0(xt, t).double().numpy()

    def as_denoiser(self):
        """Callable ``denoiser(x, t)`` (numpy or torch) for the samplers."""
        return self.denoise


def dsm_loss(denoiser, y0, t, z):
    """Denoising score-matching loss in x0 units, averaged over rows.

    .. math::

        \\ell = \\frac1n\\sum_i |\\hat x_0(\\alpha_{t_i} y_{0,i} + \\sigma_{t_i} z_i, t_i) - y_{0,i}|^2
        = \\frac1n \\sum_i \\frac{\\sigma_{t_i}^4}{\\alpha_{t_i}^2}
          \\Big|\\hat s - \\frac{\\alpha y_0 - y}{\\sigma^2}\\Big|^2

    (the MAGT / DSM loss [MAGT], at fixed ``t``). Its minimiser is the posterior mean, so
    the oracle denoiser attains the Bayes risk. Numpy arrays; ``t`` is a scalar.

    Returns
    -------
    mean, standard_error : float
    """
    y0 = as_points(y0, "y0")
    z = as_points(z, "z", y0.shape[1])
    if z.shape != y0.shape:
        raise ValueError(f"z must have the shape of y0 {y0.shape}; got {z.shape}")
    alpha, sigma = vp_alpha_sigma(t)
    if sigma == 0.0:
        raise ValueError("t must lie in (0, 1)")
    y = alpha * y0 + sigma * z
    x0 = np.asarray(denoiser(y, float(t)), dtype=np.float64)
    per = np.sum((x0 - y0) ** 2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(per.size)) if per.size > 1 else 0.0


def train_score_network(data, *, t_min: float = 1e-4, t_max: float = 0.9999, steps: int = 2000,
                        batch_size: int = 512, lr: float = 2e-3, width: int = 128, depth: int = 3,
                        n_freq: int = 4, dtype="float32", seed: int = 0,
                        net: ScoreNetwork | None = None, progress: bool = False) -> ScoreNetwork:
    """Train a :class:`ScoreNetwork` by denoising score matching over ``t in [t_min, t_max]``.

    Each step draws a batch of data ``y0``, levels ``t`` uniform in ``lambda_t`` (half log-SNR)
    between ``t_max`` and ``t_min``, noise ``z``, forms ``y = alpha_t y0 + sigma_t z`` and
    minimises the EDM-weighted DSM loss

    .. math:: \\mathbb E\\, c_{out}(s)^{-2}\\, |\\hat x_0(y, t) - y_0|^2,

    i.e. unit-scale regression of ``F_theta`` (Adam, cosine learning-rate decay). The loss history
    is stored in ``net.train_losses_``.

    Parameters
    ----------
    data : (n, D) array_like
        Training points (float64; cast to the network dtype).
    t_min, t_max : float
        Range of levels, ``0 < t_min < t_max < 1``.
    steps, batch_size : int
        Adam steps and batch size.
    lr : float
        Peak learning rate.
    width, depth, n_freq, dtype
        Architecture (ignored when ``net`` is given).
    seed : int
        Seeds the initialisation, the batches and the noise (a forked torch RNG).
    net : ScoreNetwork, optional
        Network to continue training.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or inf.
    """
    data = as_points(data, "data")
    time_grid(1, t_max, t_min)  # validates t_min, t_max
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_positive(lr, "lr")
    seed = check_int(seed, "seed", low=0)
    n, D = data.shape
    sigma_data = float(np.sqrt(np.mean(data**2)))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if net is None:
            net = ScoreNetwork(D, width=width, depth=depth, n_freq=n_freq,
                               sigma_data=max(sigma_data, 1e-3), dtype=dtype)
        elif not isinstance(net, ScoreNetwork) or net.dim != D:
            raise TypeError(f"net must be a ScoreNetwork of dim {D}; got {net!r}")
        dt = net.dtype
        x = torch.as_tensor(data, dtype=dt)
        lam_hi, lam_lo = _lam(t_min), _lam(t_max)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
        net.train()
        from tqdm.auto import tqdm

        for _ in tqdm(range(steps), disable=not progress, desc="DSM"):
            idx = torch.randint(0, n, (min(batch_size, n),))
            y0 = x[idx]
            lam = lam_lo + (lam_hi - lam_lo) * torch.rand(y0.shape[0], dtype=dt)
            t = torch.sigmoid(-2.0 * lam)  # t = 1 / (1 + e^{2 lambda})
            z = torch.randn_like(y0)
            a_t, s_t = smoothing.vp(t)
            y = a_t[:, None] * y0 + s_t[:, None] * z
            s = torch.sqrt(t / (1 - t))
            c_out = s * net.sigma_data / torch.sqrt(s * s + net.sigma_data**2)
            x0 = net._x0_batched_t(y, t)
            loss = (((x0 - y0) / c_out[:, None]) ** 2).sum(1).mean()
            optimizer_step(loss, opt, sched, net.train_losses_, "score-network")
        net.eval()
    log.info("trained ScoreNetwork: %d steps, final loss %.4g", steps, net.train_losses_[-1])
    return net
