"""The potential and critic networks and the critic's objective terms [W1W2]: the
Donsker–Varadhan divergence and the one-sided gradient penalty.

Part of :mod:`magt_theory.models.proximal_flow` (re-exported there; the model and its
optimality system are described in its docstring).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..mlp import MLP


def dv_divergence(phi_gen: torch.Tensor, phi_data: torch.Tensor) -> torch.Tensor:
    """Donsker–Varadhan objective ``E_gen phi - log E_data e^phi`` (KL(gen || data) >= it)."""
    return phi_gen.mean() - (torch.logsumexp(phi_data, 0) - math.log(phi_data.shape[0]))


def one_sided_gradient_penalty(disc, x_gen, x_data, L: float, gen=None) -> torch.Tensor:
    """``E relu(|grad phi(x_hat)| - L)^2``, ``x_hat = e x_gen + (1 - e) x_data``, ``e ~ U[0,1]``."""
    b = min(x_gen.shape[0], x_data.shape[0])
    e = torch.rand((b, 1), generator=gen, dtype=x_gen.dtype)
    xh = (e * x_gen[:b] + (1 - e) * x_data[:b]).detach().requires_grad_(True)
    g = torch.autograd.grad(disc(xh).sum(), xh, create_graph=True)[0]
    return torch.relu(g.norm(dim=1) - L).pow(2).mean()


class _Potential(nn.Module):
    def __init__(self, dim, width, depth, activation, dtype):
        super().__init__()
        self.net = MLP(dim + 1, 1, width=width, depth=depth, activation=activation, dtype=dtype)

    def forward(self, x, t):
        t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[:-1])
        return self.net(torch.cat([x, t[..., None]], -1))[..., 0]


class _Critic(nn.Module):
    def __init__(self, dim, width, depth, activation, dtype):
        super().__init__()
        self.net = MLP(dim, 1, width=width, depth=depth, activation=activation, dtype=dtype)

    def forward(self, x):
        return self.net(x)[..., 0]
