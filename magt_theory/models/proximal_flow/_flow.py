"""The forward Euler flow and the diagnostics of its optimality system [W1W2]: HJ residuals,
straightness, kinetic energy, speed and step-size invariance.

Part of :mod:`magt_theory.models.proximal_flow` (re-exported there; the model and its
optimality system are described in its docstring).
"""

from __future__ import annotations

import numpy as np
import torch

from ..._validation import check_int, check_positive
from .. import integrators


def euler_flow(velocity, z: torch.Tensor, T: float, n_steps: int,
               return_trajectory: bool = False):
    """Forward Euler ``x_{k+1} = x_k + h v(x_k, t_k)``, ``h = T/K``, ``t_k = k h``, ``x_0 = z``.

    Parameters
    ----------
    velocity : callable ``(x, t) -> v`` on torch tensors (``t`` a float)
    z : (n, D) torch.Tensor
    T : float > 0
    n_steps : int >= 1
    return_trajectory : bool
        Also return the states ``(K + 1, n, D)``.
    """
    T = check_positive(T, "T")
    n_steps = check_int(n_steps, "n_steps", low=1)
    h = T / n_steps
    x, _, traj, _ = integrators.integrate(velocity, z, [k * h for k in range(n_steps + 1)],
                                          "euler", return_trajectory=return_trajectory,
                                          where="proximal flow: Euler step")
    return (x, torch.stack(traj)) if return_trajectory else x


def hj_residual(potential, x, t: float, lam: float) -> np.ndarray:
    """Hamilton–Jacobi residual of the W1⊕W2 optimality system [W1W2].

    .. math:: r(x, t) = -\\partial_t U(x, t) + \\frac{|\\nabla_x U(x, t)|^2}{2 \\lambda}

    Zero for an optimal potential; e.g. ``U = lambda |x|^2 / (2 (C - t))`` (``C > t``) solves it
    exactly, while ``lambda |x|^2 / (2 (C + t))`` solves the equation with the opposite sign.

    Parameters
    ----------
    potential : callable ``(x, t) -> (n,)`` on torch tensors, ``t`` a tensor of shape ``(n,)``
    x : (n, D) array_like or torch.Tensor
    t : float
    lam : float > 0

    Returns
    -------
    (n,) ndarray, float64
    """
    lam = check_positive(lam, "lam")
    xt = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach()
    if not xt.is_floating_point():
        xt = xt.double()
    xt = xt.clone().requires_grad_(True)
    tt = torch.full((xt.shape[0],), float(t), dtype=xt.dtype, requires_grad=True)
    with torch.enable_grad():
        u = potential(xt, tt)
        gx, gt = torch.autograd.grad(u.sum(), (xt, tt))
    r = -gt + (gx * gx).sum(1) / (2.0 * lam)
    return r.detach().double().numpy()


def hj_residual_discrete(potential, trajectory, T: float, lam: float,
                         n_last: int | None = None, dtype=torch.float64) -> np.ndarray:
    """Hamilton–Jacobi residual integrated over each Euler step, centred per step [derived].

    .. math:: r_k(x_k) = U(x_{k+1}, t_{k+1}) - U(x_k, t_k)
                         + h \\frac{\\lambda}{2} \\Big|\\frac{x_{k+1} - x_k}{h}\\Big|^2
                         - \\overline{(\\ldots)}_k,\\qquad k = 0, \\ldots, K - 2,

    the bar being the mean over particles at step ``k``. Along an exact characteristic of
    ``-d_t U + |grad U|^2/(2 lambda) = 0`` the path is straight with constant velocity
    ``v = -grad U/lambda`` and ``d/ds U(x + s v, t + s) = d_t U + grad U . v
    = -lambda |v|^2/2``, so ``r_k = 0`` exactly, for every step ``h``, and Euler reproduces the
    path exactly: the residual has no discretisation error. It only uses ``U`` at the
    times ``t_k`` where training evaluates ``grad_x U`` (``k <= K - 1``), and the per-step
    centring removes the gauge ``U -> U + c(t)`` (the loss sees ``grad_x U`` only). The
    pointwise :func:`hj_residual` needs ``d_t U`` between those times, which no loss
    constrains.

    Parameters
    ----------
    potential : callable ``(x, t) -> (n,)`` on torch tensors (``t`` a float)
    trajectory : (K + 1, n, D) array_like
        Euler states ``x_k`` at ``t_k = k T / K``, ``K >= 2``.
    T, lam : float > 0
    n_last : int, optional
        Use only steps ``k <= n_last`` (default ``K - 2``: ``U(., T)`` is not trained).
    dtype : torch.dtype
        Dtype of the states handed to ``potential``.

    Returns
    -------
    (K - 1, n) ndarray, float64
        ``r_k`` per step and particle (multiply by nothing: same units as ``U``).
    """
    T, lam = check_positive(T, "T"), check_positive(lam, "lam")
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 3:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 2; got {tr.shape}")
    K = tr.shape[0] - 1
    h = T / K
    last = K - 2 if n_last is None else check_int(n_last, "n_last", low=0, high=K - 1)
    out = []
    with torch.no_grad():
        def u(k):
            return potential(torch.as_tensor(tr[k], dtype=dtype), k * h).double().numpy()

        u_k = u(0)
        for k in range(last + 1):
            u_next = u(k + 1)
            v = (tr[k + 1] - tr[k]) / h
            r = u_next - u_k + h * lam * np.sum(v * v, 1) / 2
            out.append(r - r.mean())
            u_k = u_next
    return np.stack(out)


def straightness(trajectory) -> np.ndarray:
    """Per-particle ``|x_K - x_0| / sum_k |x_{k+1} - x_k|`` in ``[0, 1]`` (1: a straight line).

    ``trajectory`` has shape ``(K + 1, n, D)``. Particles that do not move get 1.
    """
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 1; got {tr.shape}")
    steps = np.linalg.norm(np.diff(tr, axis=0), axis=2).sum(0)
    chord = np.linalg.norm(tr[-1] - tr[0], axis=1)
    out = np.ones_like(chord)
    moving = steps > 0
    out[moving] = chord[moving] / steps[moving]
    return out


def kinetic_energy(trajectory, T: float) -> float:
    """Mean kinetic energy ``E sum_k h |v_k|^2 / 2 = E sum_k |x_{k+1} - x_k|^2 / (2 h)``.

    Exact for the Euler scheme (``x_{k+1} - x_k = h v_k``); bound at the optimum
    ``T L^2 / (2 lambda^2)`` [W1W2].
    """
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 1; got {tr.shape}")
    h = check_positive(T, "T") / (tr.shape[0] - 1)
    return float(np.mean(np.sum(np.diff(tr, axis=0) ** 2, axis=(0, 2))) / (2 * h))


def max_speed(trajectory, T: float) -> float:
    """``max_{k, i} |x_{k+1, i} - x_{k, i}| / h`` (bound at the optimum: ``L / lambda``)."""
    tr = np.asarray(trajectory, dtype=np.float64)
    h = check_positive(T, "T") / (tr.shape[0] - 1)
    return float(np.max(np.linalg.norm(np.diff(tr, axis=0), axis=2)) / h)


def step_size_invariance(velocity, z: torch.Tensor, T: float, n_steps: int,
                         factors=(1, 2, 4)) -> dict:
    """Run Euler with step ``h / f`` for each ``f`` in ``factors`` from the same ``z``.

    Returns a dict with ``n_steps`` (``K f``), ``h`` (``T / (K f)``), ``samples`` (numpy) and
    ``rms_to_finest``: ``sqrt(E|x^{(h/f)} - x^{(h/f_max)}|^2)`` for each factor. Straight
    (optimal) trajectories make every Euler step exact, so the results do not depend on ``h``.
    """
    n_steps = check_int(n_steps, "n_steps", low=1)
    fs = [check_int(f, "factors entries", low=1) for f in factors]
    if len(fs) < 2 or len(set(fs)) != len(fs):
        raise ValueError(f"factors must hold at least 2 distinct integers >= 1; got {factors!r}")
    samples = [euler_flow(velocity, z, T, n_steps * f).detach().double().numpy() for f in fs]
    fine = samples[int(np.argmax(fs))]
    return {
        "factors": fs,
        "n_steps": [n_steps * f for f in fs],
        "h": [T / (n_steps * f) for f in fs],
        "samples": samples,
        "rms_to_finest": [float(np.sqrt(np.mean(np.sum((s - fine) ** 2, 1)))) for s in samples],
    }
