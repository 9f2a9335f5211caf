"""Multilayer perceptron generators ``h_theta: R^d -> R^D`` (MAGT §4, synthetic protocol).

The MAGT paper uses 5 hidden layers of width 512 with ReLU activations; every piece is a
parameter here so that small networks can be used in tests and sweeps.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_int

__all__ = ["ACTIVATIONS", "MLP", "resolve_dtype"]

#: activation name -> module class (all are elementwise and ``torch.func`` friendly)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
}

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype) -> torch.dtype:
    """Map ``"float32"``/``"float64"`` (or the torch dtypes themselves) to a torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be one of {sorted(_DTYPES)}; got {dtype!r}")


class MLP(nn.Module):
    """Fully connected network ``R^in_dim -> R^out_dim`` with ``depth`` hidden layers.

    .. math::

        h_\\theta(u) = W_{L+1}\\, a(W_L \\cdots a(W_1 u + b_1) \\cdots + b_L) + b_{L+1}

    Parameters
    ----------
    in_dim : int
        Latent dimension ``d >= 1``.
    out_dim : int
        Ambient dimension ``D >= 1``.
    width : int
        Hidden width (>= 1). MAGT's synthetic experiments use 512.
    depth : int
        Number of hidden layers (>= 0; 0 gives an affine map). MAGT uses 5.
    activation : str
        One of :data:`ACTIVATIONS`.
    dtype : {"float32", "float64"} or torch.dtype
        Parameter dtype.

    Notes
    -----
    Weights use PyTorch's default ``nn.Linear`` initialisation, drawn from the global torch
    RNG; callers that need reproducibility seed it (``MAGT.fit`` does so in a forked RNG).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 512,
        depth: int = 5,
        activation: str = "relu",
        dtype="float32",
    ):
        super().__init__()
        in_dim = check_int(in_dim, "in_dim", low=1)
        out_dim = check_int(out_dim, "out_dim", low=1)
        width = check_int(width, "width", low=1)
        depth = check_int(depth, "depth", low=0)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        dt = resolve_dtype(dtype)
        layers: list[nn.Module] = []
        prev = in_dim
        for _ in range(depth):
            layers += [nn.Linear(prev, width, dtype=dt), ACTIVATIONS[activation]()]
            prev = width
        layers.append(nn.Linear(prev, out_dim, dtype=dt))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.width, self.depth, self.activation = width, depth, activation

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.net(u)

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, width={self.width}, "
            f"depth={self.depth}, activation={self.activation!r}"
        )
