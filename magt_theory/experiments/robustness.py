"""Robustness of the generated support: score vs denoiser error injection vs sigma_min [CdC].

CdC: learning errors in the score move samples *along* the data manifold, because
the sampler's tangent propagator compresses normal directions like ``sigma``. One job runs the
oracle sampler (DDIM, or DDPM with frozen noise) on the log-SNR grid
``t_max -> t_min = sigma_min^2`` once, then reruns it from the same noise with a smooth bounded
error field ``eps chi`` (:class:`magt_theory.dynamics.SmoothErrorField`, RMS size ``eps``)
injected

* into the score (``site="score"``: ``x0_hat + (sigma_t^2/alpha_t) eps chi`` through Tweedie), or
* into the denoiser (``site="denoiser"``, the negative control: ``x0_hat + eps chi``),

and splits the output displacement into normal and tangent parts
(:func:`magt_theory.dynamics.support_robustness`): ``normal_displacement``,
``tangent_displacement``, ``normal_tangent_ratio`` (ratio of the means),
``normal_tangent_ratio_median``, ``delta_distance`` / ``abs_delta_distance`` (change of the
distance to the manifold), ``w2`` and ``off_manifold_rate`` of the perturbed output; the
unperturbed run gives ``site="none"`` rows (``w2``, ``w2_noise_floor``, ``off_manifold_rate``,
``mean_distance``).

Expected scaling in linear response [derived here from the step Jacobian, small ``sigma``,
``alpha ~ 1``, log-SNR step ``h ~ dlog sigma``, ``c_2 ~ h``]: an error injected at level
``sigma`` reaches the output with its normal part contracted by ``sigma_min / sigma``, so

.. math::

    |P_N \\delta x|_{\\rm score} \\approx \\epsilon\\,\\sigma_{\\min} \\int \\sigma\\,
    d\\log\\sigma \\sim \\epsilon\\,\\sigma_{\\min}\\,\\sigma_T, \\qquad
    |P_N \\delta x|_{\\rm denoiser} \\approx \\epsilon\\,\\sigma_{\\min} \\int
    \\frac{d\\log\\sigma}{\\sigma} = \\epsilon\\,(1 - \\sigma_{\\min}/\\sigma_T):

the score-induced change of the distance to ``M`` vanishes like ``sigma_min``, the
denoiser-induced one does not (slope 0).

Negative control (``control="swap_sites"``): the error meant for the score is injected into the
denoiser and vice versa (the rows keep their ``site`` labels), which a test shows turning the
slope and contrast rows ``inconsistent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import metrics, smoothing
from .._validation import as_rng, check_int, check_positive
from ._common import rows
from ._spec import Experiment, param
from .alignment import check_sigma_min, make_manifold

NAME = "robustness"
CONTROLS = ("none", "swap_sites")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``robustness`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('vmf_mixture', 'manifold')
    D: int | None = param(None, 'D')
    sigma_min: float = param(0.01, 'sigma_min')
    eps: list[float] = param([0.001, 0.01, 0.1], 'eps_list')
    sites: list[str] = param(['score', 'denoiser'], 'sites')
    n: int = param(128, 'n')
    n_steps: int = param(50, 'posint')
    t_max: float = param(0.9999, 't_max')
    sampler: str = param('ddim', 'diffusion_sampler')
    denoise_final: bool = param(False, 'boolean')
    lengthscale: float = param(1.0, 'posnum')
    threshold: float = param(0.1, 'posnum')
    control: str = param('none', {"enum": list(CONTROLS)})
    seed: int = param(0, 'seed')


SPEC = Experiment(
    NAME, Params,
    claims=(
        # CdC (derived, linear response): score errors change the distance to M like
        # eps sigma_min; denoiser errors (the CdC negative control) are not compressed (the
        # bound's own slope -sigma_min/sigma_T ~ 0). Band 0.15: the median over 128 samples of
        # a curved manifold (chord terms ~ kappa |P_T dx|^2) at the largest eps.
        dict(quantity="abs_delta_distance", swept="sigma_min", variable="sigma",
             bound="cdc_score_injection", filter={"site": "score"}, group_by=("eps",),
             band=0.15, control="swap_sites"),
        dict(quantity="abs_delta_distance", swept="sigma_min", variable="sigma",
             bound="cdc_denoiser_injection", filter={"site": "denoiser"}, group_by=("eps",),
             substitutions={"c": 1.0}, band=0.15, control="swap_sites"),
        "injection_contrast_rows",
    ),
    figures={
        "robustness_ratio": "fig_robustness",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()
_SWAP = {"score": "denoiser", "denoiser": "score"}

__all__ = ["DEFAULTS", "NAME", "run", "support_robustness"]


def run(params: dict):
    """Support robustness at one ``(manifold, D, sigma_min, seed)`` for every ``eps`` and site.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, n, n_steps, t_max, sampler,
        denoise_final, lengthscale, eps, site, quantity, value`` (``sigma_min`` is the
        parameter itself; ``eps = 0``, ``site = "none"`` on the unperturbed rows).
    """
    p = SPEC.resolve(params)  # types, ranges and enums (sites, sampler, control) checked
    s_min = check_sigma_min(p["sigma_min"], p["t_max"])
    sites = list(p["sites"])
    n_steps = check_int(p["n_steps"], "n_steps", low=1)
    lengthscale = check_positive(p["lengthscale"], "lengthscale")
    threshold = check_positive(p["threshold"], "threshold")
    M = make_manifold(p["manifold"], p["D"])
    swap = p["control"] == "swap_sites"
    run_sites = [_SWAP.get(s, s) for s in sites] if swap else sites
    res = support_robustness(
        M, eps=p["eps"], sites=run_sites, n=p["n"], n_steps=n_steps, t_max=p["t_max"],
        t_min=s_min**2, sampler=p["sampler"], denoise_final=p["denoise_final"],
        seed=p["seed"], lengthscale=lengthscale, threshold=threshold, experiment=NAME,
    )
    if swap:
        res = res.assign(site=res["site"].map(lambda s: _SWAP.get(s, s)))
    base = {
        "experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": M.ambient_dim,
        "seed": int(p["seed"]), "control": p["control"], "sigma_min": s_min, "n": int(p["n"]),
        "n_steps": n_steps,
        "t_max": float(p["t_max"]), "sampler": p["sampler"],
        "denoise_final": p["denoise_final"], "lengthscale": lengthscale,
    }
    return rows(base, res[["eps", "site", "quantity", "value"]].to_dict("records"))


def support_robustness(manifold, *, eps=(1e-3, 1e-2, 1e-1), sites=("score", "denoiser"),
                       n: int = 512,
                       n_steps: int = 100, t_max: float = 0.9999, t_min: float = 1e-4,
                       sampler: str = "ddim", denoise_final: bool = False, seed: int = 0,
                       field_seed: int | None = None, lengthscale: float = 1.0,
                       threshold: float = 0.1, w2_method: str = "exact",
                       experiment: str = "support_robustness", denoiser=None):
    """Robustness of the generated support to injected errors, as tidy rows (one sweep point).

    Runs the sampler (oracle posterior mean of ``manifold``, or ``denoiser``) once from prior noise
    (``seed``; DDPM step noise ``seed + 1``, frozen), then reruns it from the *same* noise with
    :class:`PerturbedDenoiser` for every
    ``site`` and ``eps``, and reports for the perturbed output:

    * ``normal_displacement``, ``tangent_displacement``: mean ``|P_N dx|``, ``|P_T dx|`` (the
      split is linear response: for large tangent moves ``P_N dx`` also contains the chord term
      ``~ kappa |P_T dx|^2 / 2`` of a curved manifold; ``abs_delta_distance`` does not);
    * ``normal_tangent_ratio``: ``sum |P_N dx| / sum |P_T dx|`` (ratio of the means; CdC predicts
      ``<< 1`` for the score and ``O(1)`` for the denoiser);
    * ``normal_tangent_ratio_median``: median of the per-sample ratios;
    * ``delta_distance``, ``abs_delta_distance``: mean (signed) and mean absolute change of the
      distance to the manifold;
    * ``w2``: ``W2`` to a reference sample of size ``n`` (``seed + 2``), ``off_manifold_rate``.

    The unperturbed run gives rows with ``site="none"``, ``eps=0`` (``w2``, ``off_manifold_rate``,
    ``mean_distance``) and the two-sample ``w2_noise_floor``. Without final denoising the outputs
    live at level ``t_min``; the reference sample is then smoothed the same way
    (``alpha_min Y0 + sigma_min Z``), and the tangent space is taken at
    ``project(x / alpha_min)``.

    Parameters
    ----------
    manifold : Manifold
        Ground truth (projection, tangent spaces, reference samples).
    eps : sequence of float > 0
        Error magnitudes (RMS size of ``eps chi``).
    sites : subset of {"score", "denoiser"}
    n, n_steps, t_max, t_min : sampler size and log-SNR grid.
    sampler : {"ddim", "ddpm"}
    denoise_final : bool
        Append the Tweedie denoising step.
    seed, field_seed, lengthscale : noise / error-field seeds and the field's length scale.
    threshold : float
        Off-manifold threshold.
    w2_method : str
        :func:`magt_theory.metrics.wasserstein` method.
    experiment : str
        Value of the ``experiment`` column.
    denoiser : callable ``(x, t) -> x0_hat`` (numpy), optional
        E.g. ``ScoreNetwork.denoise`` of a learned model; defaults to the oracle.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, eps, site, n, n_steps, quantity,
        value``.
    """
    from ..dynamics import SITES, PerturbedDenoiser, SmoothErrorField, displacement_split
    from ..models.diffusion import (
        OracleDenoiser,
        ScoreNetwork,
        ddim_sample,
        ddpm_sample,
        prior_noise,
        time_grid,
    )
    eps = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=np.float64))]
    if not eps or any(not math.isfinite(e) or e <= 0 for e in eps):
        raise ValueError(f"eps must be a non-empty list of finite numbers > 0; got {eps!r}")
    sites = [sites] if isinstance(sites, str) else list(sites)
    if not sites or any(s not in SITES for s in sites):
        raise ValueError(f"sites must be a non-empty subset of {SITES}; got {sites!r}")
    if sampler not in ("ddim", "ddpm"):
        raise ValueError(f"sampler must be 'ddim' or 'ddpm'; got {sampler!r}")
    seed = check_int(seed, "seed", low=0)
    n = check_int(n, "n", low=2)
    g = time_grid(n_steps, t_max, t_min)
    D = manifold.ambient_dim
    a_min, s_min = smoothing.vp(t_min)
    alpha_out = 1.0 if denoise_final else a_min
    field = SmoothErrorField(D, seed=seed + 3 if field_seed is None else field_seed,
                             lengthscale=lengthscale)
    if denoiser is None:
        base = OracleDenoiser(manifold)
    elif isinstance(denoiser, ScoreNetwork):
        base = denoiser.denoise
    elif callable(denoiser):
        base = denoiser
    else:
        raise TypeError(
            f"denoiser must be callable (x, t) -> x0_hat; got {type(denoiser).__name__}")
    x0 = prior_noise(n, D, seed)

    def run(den):
        if sampler == "ddim":
            return ddim_sample(den, x0, g, denoise_final=denoise_final).samples
        return ddpm_sample(den, x0, g, seed=seed + 1, denoise_final=denoise_final).samples

    def reference(rng_seed):
        r = as_rng(rng_seed)
        y = manifold.sample(n, r)
        if not denoise_final:
            y = a_min * y + s_min * r.standard_normal(y.shape)
        return y

    ref, ref2 = reference(seed + 2), reference(seed + 1000)
    clean = run(base)
    base_row = {"experiment": experiment, "manifold": manifold.name, "d": manifold.dim, "D": D,
                "seed": seed, "sigma_min": s_min, "n": n, "n_steps": n_steps}
    rows = []

    def add(e, site, q, v):
        rows.append({**base_row, "eps": e, "site": site, "quantity": q, "value": float(v)})

    add(0.0, "none", "w2", metrics.wasserstein(clean, ref, method=w2_method))
    add(0.0, "none", "w2_noise_floor", metrics.wasserstein(ref2, ref, method=w2_method))
    add(0.0, "none", "off_manifold_rate", metrics.off_manifold_rate(clean, manifold, threshold))
    add(0.0, "none", "mean_distance", manifold.distance(clean).mean())
    for site in sites:
        for e in eps:
            pert = run(PerturbedDenoiser(base, field, e, site))
            sp = displacement_split(clean, pert, manifold, alpha_out=alpha_out)
            add(e, site, "normal_displacement", sp["normal"].mean())
            add(e, site, "tangent_displacement", sp["tangent"].mean())
            add(e, site, "normal_tangent_ratio",
                sp["normal"].sum() / max(sp["tangent"].sum(), 1e-300))
            add(e, site, "normal_tangent_ratio_median",
                np.median(sp["ratio"][np.isfinite(sp["ratio"])]))
            add(e, site, "delta_distance", sp["delta_distance"].mean())
            add(e, site, "abs_delta_distance", np.abs(sp["delta_distance"]).mean())
            add(e, site, "w2", metrics.wasserstein(pert, ref, method=w2_method))
            add(e, site, "off_manifold_rate", metrics.off_manifold_rate(pert, manifold, threshold))
    cols = ["experiment", "manifold", "d", "D", "seed", "sigma_min", "eps", "site", "n", "n_steps",
            "quantity", "value"]
    return pd.DataFrame(rows, columns=cols)
