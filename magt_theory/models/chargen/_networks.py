"""The posterior-mean network ``m_theta`` and the one-step map ``g(t, s, x)`` [CharGen]."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._validation import check_int, check_positive
from ..mlp import MLP, resolve_dtype


# ------------------------------------------------------------------------------ networks
class FollmerMeanNetwork(nn.Module):
    """Posterior mean ``m_theta(s, x) ~ E[X_1 | X_s = x]`` with EDM-style preconditioning.

    In VE units ``u = x / s = X_1 + (a_s/s) Z`` (noise level ``sigma = a_s / s``), Karras et
    al.'s preconditioning with data scale ``sigma_d`` reads, after clearing ``s`` [derived],

    .. math::

        m_\\theta(s, x) = \\frac{\\sigma_d^2\\, s\\, x}{a_s^2 + s^2 \\sigma_d^2}
            + \\frac{a_s \\sigma_d}{\\sqrt{a_s^2 + s^2\\sigma_d^2}}\\,
              F_\\theta\\Big(\\frac{x}{\\sqrt{a_s^2 + s^2 \\sigma_d^2}},\\ s\\Big),

    finite for every ``s in [0, 1]``. The skip part contributes the bounded velocity
    ``s x (sigma_d^2 - 1)/(a_s^2 + s^2 sigma_d^2)``, so network errors reach the velocity
    amplified by ``1/a_s`` only (not ``1/a_s^2``). Training regresses ``F_theta`` onto
    ``(X_1 - skip)/c_out`` with unit weight: velocity matching weighted by
    ``a_s^4 / c_out(s)^2 > 0`` (same minimiser).

    Parameters
    ----------
    dim : int
    width, depth, activation, dtype
        The MLP ``F_theta`` (input ``[x / c, s, sin(2 pi j s), cos(2 pi j s)]``).
    n_freq : int
        Fourier features of ``s``.
    sigma_data : float > 0
        RMS of one data coordinate.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: str = "silu",
                 n_freq: int = 4, sigma_data: float = 1.0, dtype="float32"):
        super().__init__()
        self.dim = check_int(dim, "dim", low=1)
        n_freq = check_int(n_freq, "n_freq", low=0)
        self.sigma_data = check_positive(sigma_data, "sigma_data")
        dt = resolve_dtype(dtype)
        self.register_buffer("freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=dt))
        self.net = MLP(self.dim + 1 + 2 * n_freq, self.dim, width=width, depth=depth,
                       activation=activation, dtype=dt)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def coefficients(self, s: torch.Tensor):
        """``(c_skip, c_out, c_in)`` with ``m = c_skip x + c_out F(c_in x, s)``."""
        sd2 = self.sigma_data**2
        a2 = 1.0 - s * s
        den = a2 + s * s * sd2
        return sd2 * s / den, torch.sqrt(a2 * sd2 / den), 1.0 / torch.sqrt(den)

    def forward(self, x: torch.Tensor, s) -> torch.Tensor:
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        c_skip, c_out, c_in = (c[..., None] for c in self.coefficients(s))
        arg = s[..., None] * self.freqs
        feats = torch.cat([c_in * x, s[..., None], torch.sin(arg), torch.cos(arg)], -1)
        return c_skip * x + c_out * self.net(feats)


class CharacteristicMap(nn.Module):
    """``g(t, s, x) = x + (s - t) G_theta([x, t, s])``: the flow map from time ``t`` to ``s``.

    ``g(t, t, x) = x`` holds exactly by construction [CharGen]. ``t`` and ``s`` are scalars or
    tensors of shape ``x.shape[:-1]``.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: str = "silu",
                 dtype="float32"):
        super().__init__()
        self.dim = check_int(dim, "dim", low=1)
        self.net = MLP(self.dim + 2, self.dim, width=width, depth=depth, activation=activation,
                       dtype=resolve_dtype(dtype))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, t, s, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[:-1]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(shape)
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(shape)
        return x + (s - t)[..., None] * self.net(torch.cat([x, t[..., None], s[..., None]], -1))
