"""Euler and midpoint characteristics on ``[0, T]`` (:mod:`magt_theory.models.integrators`)."""

from __future__ import annotations

import numpy as np
import torch

from ... import _xp
from ..._validation import check_in_open_interval, check_int
from .. import integrators


# ------------------------------------------------------------------------------- rollouts
def _time_grid(T: float, n_steps: int) -> np.ndarray:
    T = check_in_open_interval(T, "T", 0.0, 1.0)
    n_steps = check_int(n_steps, "n_steps", low=1)
    return np.linspace(0.0, T, n_steps + 1)


def euler_rollout(velocity, z, T: float, n_steps: int, return_trajectory: bool = False):
    """Forward Euler on ``[0, T]`` with ``K = n_steps`` uniform steps ``h = T/K``.

    .. math:: x_{k+1} = x_k + h\\, v(x_k, s_k),\\qquad s_k = k h,\\quad x_0 = z

    Parameters
    ----------
    velocity : callable ``(x, s) -> v``
        numpy or torch (same type as ``z``).
    z : (n, D) ndarray or torch.Tensor
    T : float in (0, 1)
    n_steps : int >= 1
    return_trajectory : bool
        Also return the ``K + 1`` states stacked as ``(K + 1, n, D)``.

    Returns
    -------
    x_T, or ``(x_T, trajectory)``.
    """
    grid = _time_grid(T, n_steps)
    if not callable(velocity):
        raise TypeError(f"velocity must be callable as v(x, s); got {type(velocity).__name__}")
    x, _, traj, _ = integrators.integrate(velocity, z, grid, "euler",
                                          return_trajectory=return_trajectory, where="Euler step")
    if not return_trajectory:
        return x
    stack = torch.stack(traj) if _xp.is_torch(x) else np.stack(traj)
    return x, stack


def midpoint_rollout(velocity, z, T: float, n_steps: int):
    """Explicit midpoint on ``[0, T]`` (second order; the reference flow map), ``2K`` NFE.

    .. math:: x_{k+1} = x_k + h\\, v\\big(x_k + \\tfrac h2 v(x_k, s_k),\\ s_k + \\tfrac h2\\big)
    """
    return integrators.integrate(velocity, z, _time_grid(T, n_steps), "midpoint",
                                 where="midpoint step")[0]
