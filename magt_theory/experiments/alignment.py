"""Lyapunov-tangent alignment of the oracle DDIM sampler vs the final noise level sigma_min [CdC].

CdC's mechanism: along the probability-flow sampler ``x_{i+1} = F_i(x_i)`` the
tangent propagator ``dF^{0->N} = prod_i dF_i``, with the exact one-step Jacobian

.. math::

    dF_i = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2} \\operatorname{Cov}[Y_0 \\mid Y_t = x_i],

compresses directions normal to the data manifold like ``sigma`` and keeps the tangent ones, so
the top-``d`` left singular vectors ``E_d`` of the flow map align with the tangent space at the
projected output. One job runs the oracle DDIM sampler (closed-form posterior of a known
manifold, log-SNR grid ``t_max -> t_min = sigma_min^2``) from ``n`` prior-noise points and
reports, as medians over the samples:

* ``sin_theta_max_svd = |(I - T T^T) E_d|_2`` (SVD of the full flow-map Jacobian) and
  ``sin_theta_max_qr`` (first ``d`` Benettin QR vectors, ``k = d + m`` propagated);
  expected ``~ sigma_min`` [CdC, derived];
* ``spectral_gap = log s_d - log s_{d+1}`` and ``singular_value_ratio = s_d / s_{d+1}`` (the
  exponential of the median gap); expected gap ``~ log(sigma_T / sigma_min)``, i.e.
  ``s_d / s_{d+1} ~ sigma_min^-1`` [CdC, derived];
* ``intrinsic_dim`` (index of the largest log-singular-value gap, median) and
  ``intrinsic_dim_accuracy`` (fraction of samples where it equals ``d``);
* ``score_tangent_rel = |E_d^T s| / |s|`` with the exact score at ``sigma_min``;
* ``lyapunov_svd_top/min`` and ``lyapunov_qr_top/min``: largest / smallest finite-time
  exponent on the clock ``T = log(sigma_T / sigma_min)`` (directions orthogonal to the span of
  the data give exactly ``-1``);
* the spectra: ``lyapunov_svd`` (``log s_j / T``, ``j = 1..D``) and ``lyapunov_qr`` (Benettin
  exponents, ``j = 1..k``), one row per ``index = j``.

The summary quantities are those of :func:`alignment_table` (one computation,
:func:`oracle_alignment`; same seeds); this experiment adds the full spectra and the
singular-value ratio.

Negative control (``control="score_scale"``): the sampler uses a score off by the factor
``lambda = 1/2``, ``s' = lambda s`` (posterior mean ``lambda m + (1 - lambda) y / alpha``, its
covariance ``lambda Cov + (1 - lambda) sigma^2/alpha^2 I``): normal directions are then
contracted like ``sigma^lambda`` only, which a test shows turning the gap row ``inconsistent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import manifolds, smoothing
from .._validation import check_int
from ..metrics import sin_theta_max
from ._common import rows
from ._spec import Experiment, param

NAME = "alignment"
CONTROLS = ("none", "score_scale")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``alignment`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('vmf_mixture', 'manifold')
    D: int | None = param(None, 'D')
    sigma_min: float = param(0.01, 'sigma_min')
    n: int = param(64, 'n')
    n_steps: int = param(200, 'posint')
    t_max: float = param(0.9999, 't_max')
    m: int = param(2, 'nonneg_int')
    control: str = param('none', {"enum": list(CONTROLS)})
    seed: int = param(0, 'seed')


SPEC = Experiment(
    NAME, Params,
    claims=(
        # CdC (derived): gap ~ log(sigma_T/sigma_min), i.e. s_d/s_{d+1} ~ sigma_min^-1. Band
        # 0.1: the O(1) tangent stretch varies slowly with sigma_min (finite-step DDIM).
        # (sin theta ~ sigma_min: see tangent_alignment_rows, which sets aside exact zeros)
        dict(quantity="singular_value_ratio", swept="sigma_min", variable="sigma",
             bound="cdc_gap_ratio", band=0.1, control="score_scale"),
        "tangent_alignment_rows",
        "intrinsic_dim_rows",
    ),
    figures={
        "alignment_gap": "fig_alignment_gap",
        "alignment_sin_theta": "fig_alignment_sin_theta",
        "alignment_spectra": "fig_alignment_spectra",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()
_SCORE_FACTOR = 0.5


class ScoreScaled:
    """A manifold whose oracle posterior corresponds to the score ``lambda s`` (a control).

    ``s = (alpha m - y)/sigma^2`` becomes ``lambda s``, i.e. the posterior mean
    ``lambda m + (1 - lambda) y/alpha`` and covariance ``lambda Cov + (1 - lambda)
    (sigma/alpha)^2 I`` (the Jacobian of the mean is ``(alpha/sigma^2) Cov``). Everything
    else (projection, tangent spaces, distances) is the wrapped manifold's.
    """

    def __init__(self, manifold, factor: float):
        self._m = manifold
        self.factor = float(factor)

    def __getattr__(self, name):
        return getattr(self._m, name)

    def posterior_mean(self, y, sigma: float, alpha: float = 1.0):
        lam = self.factor
        return lam * self._m.posterior_mean(y, sigma, alpha) + (1 - lam) * np.asarray(y) / alpha

    def posterior_cov(self, y, sigma: float, alpha: float = 1.0):
        lam = self.factor
        eye = np.eye(self._m.ambient_dim) * (1 - lam) * (sigma / alpha) ** 2
        return lam * self._m.posterior_cov(y, sigma, alpha) + eye

__all__ = [
    "DEFAULTS",
    "NAME",
    "alignment_table",
    "check_sigma_min",
    "make_manifold",
    "oracle_alignment",
    "run",
]


def check_sigma_min(sigma_min, t_max) -> float:
    """``sigma_min`` as a float in ``(0, sigma_T)``, ``sigma_T = sqrt(t_max)`` (VP schedule)."""
    t_max = float(t_max)
    if not (math.isfinite(t_max) and 0.0 < t_max < 1.0):
        raise ValueError(f"t_max must lie in (0, 1); got {t_max!r}")
    try:
        s = float(sigma_min)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"sigma_min must be a number in (0, sqrt(t_max)); got {sigma_min!r}") from exc
    if not (math.isfinite(s) and 0.0 < s < math.sqrt(t_max)):
        raise ValueError(f"sigma_min must lie in (0, sqrt(t_max) = {math.sqrt(t_max):.6g}); "
                         f"got {sigma_min!r}")
    return s


def make_manifold(name: str, D):
    """The manifold of a sweep point; it must have normal directions (``D > d``)."""
    M = manifolds.make(name, ambient_dim=D, seed=0)
    if M.ambient_dim <= M.dim:
        raise ValueError(f"D must exceed the intrinsic dimension d = {M.dim} of {name!r} "
                         f"(no normal directions to compress); got D = {M.ambient_dim}")
    return M


def run(params: dict):
    """Oracle-DDIM alignment diagnostics at one ``(manifold, D, sigma_min, seed)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, log_sigma_ratio, n, n_steps,
        t_max, m, index, quantity, value`` (``index`` is set on the spectrum rows only;
        ``log_sigma_ratio = log(sigma_T / sigma_min)``).
    """
    p = SPEC.resolve(params)
    s_min = check_sigma_min(p["sigma_min"], p["t_max"])
    n = check_int(p["n"], "n", low=1)
    n_steps = check_int(p["n_steps"], "n_steps", low=1)
    m = check_int(p["m"], "m", low=0)
    seed = check_int(p["seed"], "seed", low=0)
    M = make_manifold(p["manifold"], p["D"])
    sampler_M = ScoreScaled(M, _SCORE_FACTOR) if p["control"] == "score_scale" else M
    d, D = M.dim, M.ambient_dim

    t_min = s_min**2
    res = oracle_alignment(M, n=n, n_steps=n_steps, t_max=p["t_max"], t_min=t_min, m=m,
                           seed=seed, sigma_min=s_min, sampler_manifold=sampler_M)
    lyap_svd, lyap_qr, T = res.pop("lyapunov_svd"), res.pop("lyapunov_qr"), res.pop("T")
    summary = res
    out = [{"quantity": q, "value": v} for q, v in summary.items()]
    out += [{"index": j + 1, "quantity": "lyapunov_svd", "value": v}
            for j, v in enumerate(np.median(lyap_svd, axis=0))]
    out += [{"index": j + 1, "quantity": "lyapunov_qr", "value": v}
            for j, v in enumerate(np.median(lyap_qr, axis=0))]
    base = {
        "experiment": NAME, "manifold": p["manifold"], "d": d, "D": D, "seed": seed,
        "sigma_min": s_min, "log_sigma_ratio": T, "n": n, "n_steps": n_steps,
        "t_max": float(p["t_max"]), "m": m, "control": p["control"],
    }
    return rows(base, out)  # ``index`` is NaN on the summary rows


def oracle_alignment(manifold, *, n: int, n_steps: int, t_max: float, t_min: float, m: int,
                     seed: int, sigma_min: float | None = None, sampler_manifold=None) -> dict:
    """One oracle-DDIM run from prior noise and its alignment measurements [CdC].

    Runs :func:`magt_theory.dynamics.oracle_tangent_dynamics` on ``sampler_manifold``
    (default ``manifold``; the ``score_scale`` control passes a wrapped one) from ``n``
    prior-noise points (``seed``; Benettin frame ``seed + 1``) on the log-SNR grid from
    ``t_max`` to ``t_min``, and measures against ``manifold`` at ``sigma_min`` (default
    ``sqrt(t_min)``) with ``alpha_min`` from :func:`magt_theory.smoothing.vp`:

    * medians over the samples of ``sin_theta_max_svd`` (top-``d`` left singular vectors of
      the flow map vs the tangent space at ``project(x / alpha_min)``), ``sin_theta_max_qr``
      (first ``d`` Benettin vectors), ``spectral_gap = log s_d - log s_{d+1}`` and
      ``singular_value_ratio = exp(gap)``, ``intrinsic_dim`` (and the fraction equal to ``d``,
      ``intrinsic_dim_accuracy``), ``score_tangent_rel`` (exact score at ``t_min``);
    * ``lyapunov_svd_top/min = median(log s_1 / T)``, ``median(log s_D / T)`` and
      ``lyapunov_qr_top/min`` (first and last of the ``k = d + m`` Benettin exponents) on the
      clock ``T = log(sigma_T / sigma_min) = (1/2) log(t_max / t_min)``;
    * ``mean_distance`` of ``x / alpha_min`` to ``manifold``;
    * the per-sample spectra ``lyapunov_svd`` (n, D), ``lyapunov_qr`` (n, k) and ``T``.

    Returns
    -------
    dict
        The quantities above (scalars) and the spectra (arrays).
    """
    from ..dynamics import alignment_metrics, flow_map_svd, oracle_tangent_dynamics
    from ..models.diffusion import prior_noise, time_grid

    sampler_manifold = manifold if sampler_manifold is None else sampler_manifold
    d = manifold.dim
    g = time_grid(n_steps, t_max, t_min)
    dyn = oracle_tangent_dynamics(sampler_manifold, prior_noise(n, manifold.ambient_dim, seed), g,
                                  m=m, seed=seed + 1)
    U, s, _ = flow_map_svd(dyn.jacobian)
    a_min, s_vp = smoothing.vp(t_min)
    s_min = s_vp if sigma_min is None else sigma_min
    score = manifold.smoothed_score(dyn.samples, s_min, a_min)
    met = alignment_metrics(U, s, dyn.samples, manifold, score=score, alpha_out=a_min)
    proj = manifold.project(dyn.samples / a_min)
    qr_sin = sin_theta_max(manifold.tangent_basis(proj), dyn.frame[:, :, :d])
    T = 0.5 * math.log(g[0] / g[-1])  # = log(sigma_T / sigma_min)
    lyap_svd = np.log(s) / T  # (n, D), descending
    lyap_qr = dyn.exponents("log_sigma")  # (n, k)
    out = {
        "sin_theta_max_svd": np.median(met["sin_theta_max"]),
        "sin_theta_max_qr": np.median(qr_sin),
    }
    if "spectral_gap" in met:
        gap = np.median(met["spectral_gap"])
        out.update({"spectral_gap": gap, "singular_value_ratio": math.exp(gap)})
    if "intrinsic_dim" in met:
        out.update({"intrinsic_dim": np.median(met["intrinsic_dim"]),
                    "intrinsic_dim_accuracy": np.mean(met["intrinsic_dim"] == d)})
    out.update({
        "score_tangent_rel": np.median(met["score_tangent_rel"]),
        "lyapunov_svd_top": np.median(lyap_svd[:, 0]),
        "lyapunov_svd_min": np.median(lyap_svd[:, -1]),
        "lyapunov_qr_top": np.median(lyap_qr[:, 0]),
        "lyapunov_qr_min": np.median(lyap_qr[:, -1]),
        "mean_distance": np.mean(manifold.distance(dyn.samples / a_min)),
        "lyapunov_svd": lyap_svd, "lyapunov_qr": lyap_qr, "T": T,
    })
    return out


_TABLE_QUANTITIES = ("sin_theta_max_svd", "sin_theta_max_qr", "score_tangent_rel",
                     "lyapunov_svd_top", "lyapunov_svd_min", "lyapunov_qr_top", "lyapunov_qr_min",
                     "spectral_gap", "intrinsic_dim")


def alignment_table(manifold, *, n: int = 64, n_steps: int = 200, t_max: float = 0.9999,
                    t_min: float = 1e-4, m: int = 2, seed: int = 0,
                    experiment: str = "lyapunov_alignment"):
    """Oracle-DDIM alignment diagnostics as tidy rows (one sweep point) [CdC].

    The summary quantities of :func:`oracle_alignment` (``sigma_min = sqrt(t_min)``):
    ``sin_theta_max_svd``, ``sin_theta_max_qr``, ``score_tangent_rel``, ``lyapunov_svd_top``,
    ``lyapunov_svd_min`` (directions orthogonal to the data span give exactly -1),
    ``lyapunov_qr_top``, ``lyapunov_qr_min``, and ``spectral_gap`` and ``intrinsic_dim`` when
    the flow map has more than ``d`` singular values. The ``alignment`` experiment reports the
    same quantities (same seeds) and the spectra.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, n_steps, quantity, value``.
    """
    import pandas as pd

    res = oracle_alignment(manifold, n=n, n_steps=n_steps, t_max=t_max, t_min=t_min, m=m,
                           seed=seed)
    base = {"experiment": experiment, "manifold": manifold.name, "d": manifold.dim,
            "D": manifold.ambient_dim, "seed": seed, "sigma_min": smoothing.vp(t_min)[1],
            "n_steps": n_steps}
    return pd.DataFrame([{**base, "quantity": q, "value": float(res[q])}
                         for q in _TABLE_QUANTITIES if q in res])
