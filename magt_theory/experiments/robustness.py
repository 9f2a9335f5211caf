"""Robustness of the generated support: score vs denoiser error injection vs sigma_min [CdC].

CdC (THEORY.md §5): learning errors in the score move samples *along* the data manifold, because
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

from .._validation import check_int, check_positive
from ..dynamics import SITES, support_robustness
from .alignment import check_sigma_min, make_manifold
from ._common import resolve, rows

NAME = "robustness"
DEFAULTS = {
    "manifold": "vmf_mixture",
    "D": None,
    "sigma_min": 0.01,
    "eps": [1e-3, 1e-2, 1e-1],
    "sites": ["score", "denoiser"],
    "n": 128,
    "n_steps": 50,
    "t_max": 0.9999,
    "sampler": "ddim",
    "denoise_final": False,
    "lengthscale": 1.0,
    "threshold": 0.1,
    "control": "none",
    "seed": 0,
}
CONTROLS = ("none", "swap_sites")
_SWAP = {"score": "denoiser", "denoiser": "score"}

__all__ = ["NAME", "DEFAULTS", "run"]


def run(params: dict):
    """Support robustness at one ``(manifold, D, sigma_min, seed)`` for every ``eps`` and site.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, sigma_min, n, n_steps, t_max, sampler,
        denoise_final, lengthscale, eps, site, quantity, value`` (``sigma_min`` is the
        parameter itself; ``eps = 0``, ``site = "none"`` on the unperturbed rows).
    """
    p = resolve(DEFAULTS, params, NAME)
    if p["control"] not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}; got {p['control']!r}")
    s_min = check_sigma_min(p["sigma_min"], p["t_max"])
    sites = [p["sites"]] if isinstance(p["sites"], str) else list(p["sites"])
    if not sites or any(s not in SITES for s in sites) or len(set(sites)) != len(sites):
        raise ValueError(f"sites must be a non-empty list of distinct values from {SITES}; "
                         f"got {p['sites']!r}")
    if p["sampler"] not in ("ddim", "ddpm"):
        raise ValueError(f"sampler must be 'ddim' or 'ddpm'; got {p['sampler']!r}")
    if not isinstance(p["denoise_final"], bool):
        raise TypeError(f"denoise_final must be true or false; got {p['denoise_final']!r}")
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
        "seed": int(p["seed"]), "control": p["control"], "sigma_min": s_min, "n": int(p["n"]), "n_steps": n_steps,
        "t_max": float(p["t_max"]), "sampler": p["sampler"],
        "denoise_final": p["denoise_final"], "lengthscale": lengthscale,
    }
    return rows(base, res[["eps", "site", "quantity", "value"]].to_dict("records"))
