"""Manifold diagnostics: the off-manifold rate and principal angles between subspaces.

Part of :mod:`magt_theory.metrics` (re-exported there).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_points, check_finite, check_positive


def off_manifold_rate(x, M, threshold: float = 0.1) -> float:
    """Fraction of samples farther than ``threshold`` from the manifold ``M``.

    .. math:: r = \\frac1n \\#\\{i : \\operatorname{dist}(x_i, M) > \\tau\\}

    (MAGT §5: off-manifold rate with ``tau = 0.1``.)

    Parameters
    ----------
    x : (n, D) array_like, n >= 1
    M : object with ``distance(x) -> (n,)`` (and ``ambient_dim``), e.g. a
        :class:`magt_theory.manifolds.Manifold`.
    threshold : float > 0
    """
    if not callable(getattr(M, "distance", None)):
        raise TypeError("M must provide a distance(x) -> (n,) method (a Manifold)")
    threshold = check_positive(threshold, "threshold")
    xx = as_points(x, "x", getattr(M, "ambient_dim", None))
    if xx.shape[0] < 1:
        raise ValueError("x must hold at least one point")
    dist = np.asarray(M.distance(xx), dtype=np.float64)
    if dist.shape != (xx.shape[0],) or not np.all(np.isfinite(dist)):
        raise ValueError("M.distance(x) must return a finite array of shape (n,)")
    return float(np.mean(dist > threshold))


def _orthonormal(A, name):
    q, r = np.linalg.qr(A)
    diag = np.abs(np.diagonal(r, axis1=-2, axis2=-1))
    scale = np.maximum(np.abs(A).max(axis=(-2, -1)), 1e-300)
    if np.any(diag <= 1e-12 * scale[:, None] * max(A.shape[-2], 1)):
        raise ValueError(f"{name} must have full column rank in every batch entry")
    return q


def _as_frames(A, B):
    out = []
    for name, M in (("A", A), ("B", B)):
        arr = np.asarray(M, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"{name} must have shape (n, D, k) or (D, k); got {arr.shape}")
        check_finite(arr, name)
        if arr.shape[0] < 1 or arr.shape[2] < 1 or arr.shape[2] > arr.shape[1]:
            raise ValueError(
                f"{name} must have shape (n, D, k) with n >= 1 and 1 <= k <= D; got {arr.shape}"
            )
        out.append(arr)
    A, B = out
    if A.shape[:2] != B.shape[:2]:
        raise ValueError(f"A and B must share (n, D); got {A.shape[:2]} and {B.shape[:2]}")
    return A, B


def principal_angles(A, B) -> np.ndarray:
    """Principal angles between the column spaces of ``A`` and ``B``, batched.

    With orthonormal bases ``Q_A, Q_B`` (QR) and ``l = min(k, l)``, the cosines are the
    singular values of ``Q_A^T Q_B`` and the sines the singular values of
    ``(I - Q_A Q_A^T) Q_B`` (for ``l <= k``; roles swapped otherwise). Angles are
    ``arctan2(sin_i, cos_i)``, accurate for both tiny and near-right angles
    (Björck–Golub 1973; Knyazev–Argentati 2002). Used for Lyapunov–tangent alignment (CdC;
    docs/conventions.md §8).

    Parameters
    ----------
    A : (n, D, k) or (D, k) array_like
    B : (n, D, l) or (D, l) array_like
        Full column rank, ``k, l <= D``.

    Returns
    -------
    (n, min(k, l)) ndarray
        Angles in ``[0, pi/2]``, ascending along the last axis.
    """
    A, B = _as_frames(A, B)
    if B.shape[2] > A.shape[2]:
        A, B = B, A
    qa = _orthonormal(A, "A")
    qb = _orthonormal(B, "B")
    cos = np.linalg.svd(np.swapaxes(qa, 1, 2) @ qb, compute_uv=False)  # descending
    resid = qb - qa @ (np.swapaxes(qa, 1, 2) @ qb)
    sin = np.linalg.svd(resid, compute_uv=False)[:, ::-1]  # ascending
    cos = np.clip(cos, 0.0, 1.0)
    sin = np.clip(sin, 0.0, 1.0)
    ang = np.arctan2(sin, cos)
    return np.sort(ang, axis=1)


def sin_theta_max(A, B) -> np.ndarray:
    """Sine of the largest principal angle, ``|(I - Q_A Q_A^T) Q_B|_2`` for ``l <= k``.

    With ``A`` the true tangent basis ``T`` (n, D, d) and ``B`` the estimated vectors
    ``E_d``: ``sin theta_max = |(I - T T^T) E_d|_2`` (docs/conventions.md §8, CdC). Shape ``(n,)``.
    """
    return np.sin(principal_angles(A, B)[:, -1])
