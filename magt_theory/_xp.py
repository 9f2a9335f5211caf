"""Tiny numpy/torch dispatch, and the rule at the numpy/torch boundary, without importing torch.

Generator maps ``h*`` are written once against this namespace: numpy arrays give numpy results,
torch tensors give differentiable torch results (used by ``torch.func`` Jacobians in
``magt_theory.models``).

Torch is never imported here. A value can only be a ``torch.Tensor`` if some other code has
already imported torch, so :func:`is_torch` looks torch up in ``sys.modules`` instead of
importing it: the numpy path (``import magt_theory``, ``manifolds``, ``metrics``, ``anchors``,
``bounds``, ``analysis``, the workflow and every dry run) never pays torch's start-up time.

The boundary rule (docs/conventions.md, "Numpy and torch at the boundary"), applied by
:func:`boundary` to functions that compute with numpy:

* numpy (or any array-like) in: ``float64`` numpy out;
* a ``torch.Tensor`` in: a tensor out, on the input's device, with the input's dtype when it
  is a floating dtype (``float64`` otherwise); the computation itself is float64 numpy;
* a tensor with ``requires_grad=True`` in: :class:`TypeError` naming the argument, because the
  numpy computation cannot carry gradients (pass ``x.detach()``, or use a torch-native path);
* scalars come out as Python ``float``/``int`` whatever the input.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import scipy.special as sc

__all__ = [
    "is_torch",
    "namespace",
    "ndtr",
    "ndtri",
    "std_normal_logpdf",
    "to_numpy",
    "like",
    "boundary",
]


def _torch():
    """The ``torch`` module if something has imported it, else ``None`` (never imports it)."""
    return sys.modules.get("torch")


def is_torch(x) -> bool:
    """True when ``x`` is a ``torch.Tensor`` (False without importing torch when it is absent)."""
    torch = _torch()
    return torch is not None and isinstance(x, getattr(torch, "Tensor", ()))


def namespace(x):
    """Return ``torch`` for tensors, else ``numpy``."""
    return _torch() if is_torch(x) else np


def ndtr(x):
    """Standard normal CDF on numpy or torch input."""
    return _torch().special.ndtr(x) if is_torch(x) else sc.ndtr(x)


def ndtri(x):
    """Standard normal quantile on numpy or torch input."""
    return _torch().special.ndtri(x) if is_torch(x) else sc.ndtri(x)


def std_normal_logpdf(x):
    """Log density of N(0, I_d) at ``x`` of shape ``(..., d)``, summed over the last axis."""
    d = x.shape[-1]
    return -0.5 * (x * x).sum(-1) - 0.5 * d * float(np.log(2 * np.pi))


def to_numpy(x, name: str):
    """``x`` for a numpy computation: a tensor becomes a float64 numpy array (CPU copy).

    Raises
    ------
    TypeError
        When ``x`` is a tensor with ``requires_grad=True``: the numpy computation would drop the
        graph silently. The message names the argument and says to pass ``x.detach()``.
    """
    if not is_torch(x):
        return x
    if x.requires_grad:
        raise TypeError(
            f"{name} is a torch tensor with requires_grad=True; this function computes with "
            f"numpy and cannot propagate gradients: pass {name}.detach() (the result is then "
            "a tensor without grad on the same device)"
        )
    if x.is_complex():
        raise TypeError(f"{name} must be a real array; got a complex tensor ({x.dtype})")
    return x.detach().to("cpu").double().numpy()


def like(ref, out):
    """``out`` (numpy) converted to the kind of ``ref``: a tensor on ``ref``'s device with
    ``ref``'s floating dtype (``float64`` for integer or boolean tensors) when ``ref`` is a
    tensor; ``out`` unchanged otherwise. ``None`` and scalars pass through."""
    if out is None or not is_torch(ref) or not isinstance(out, np.ndarray):
        return out
    torch = _torch()
    dtype = ref.dtype if ref.is_floating_point() else torch.float64
    return torch.as_tensor(np.ascontiguousarray(out)).to(device=ref.device, dtype=dtype)


def boundary(arg: str = "y"):
    """Decorator applying the boundary rule (module docstring) to a method or function.

    ``arg`` names the array argument (the first positional argument after ``self`` for
    methods, or the keyword of that name) whose kind decides the output kind. Every array in
    the returned value (a single array or a tuple of arrays) is converted with :func:`like`.
    The wrapped function sees a float64 numpy array for that argument.
    """

    def deco(fn):
        import inspect

        params = list(inspect.signature(fn).parameters)
        pos = params.index(arg)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if arg in kwargs:
                ref = kwargs[arg]
                if not is_torch(ref):
                    return fn(*args, **kwargs)
                kwargs[arg] = to_numpy(ref, arg)
            elif len(args) > pos:
                ref = args[pos]
                if not is_torch(ref):
                    return fn(*args, **kwargs)
                args = args[:pos] + (to_numpy(ref, arg),) + args[pos + 1 :]
            else:
                return fn(*args, **kwargs)
            out = fn(*args, **kwargs)
            if isinstance(out, tuple):
                return tuple(like(ref, o) for o in out)
            return like(ref, out)

        return wrapper

    return deco
