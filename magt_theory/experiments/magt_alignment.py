"""Manifold alignment of MAGT's one-step generator on the sampler's scale [MAGT, CdC].

docs/conventions.md §8 (one-step maps): for ``G = h_theta: R^k -> R^D`` the left singular vectors of
``J_G(u) = U diag(s) V^T`` play the role of the sampler's Lyapunov vectors. One job trains MAGT
exactly as the training sweeps do (:mod:`._training`: ``n`` samples of a known manifold, VP level
``t``, ``K`` anchors, exact chunked gradient) with latent dimension ``k = d + latent_extra``,
then, at ``n_eval`` base draws ``u``, reports (medians over the draws unless said otherwise):

* ``sin_theta_max_svd = |(I - T T^T) E_d|_2``: top-``d`` left singular vectors of ``J_G(u)`` vs
  the tangent space at ``project(G(u))`` (:func:`magt_theory.dynamics.one_step_alignment`);
* for ``k > d``: ``spectral_gap = log s_d - log s_{d+1}``, ``singular_value_ratio = s_d/s_{d+1}``
  (exponential of the median gap), ``intrinsic_dim`` (largest-gap index, median) and
  ``intrinsic_dim_accuracy`` (fraction equal to ``d``);
* ``score_tangent_rel = |E_d^T s| / |s|`` for the exact smoothed score at ``sigma = sqrt(t)``;
* ``param_normal_tangent_ratio = sum |P_N dx| / sum |P_T dx|`` (and its per-sample median
  ``param_normal_tangent_ratio_median``) for first-order parameter perturbations
  ``dx = J_theta xi`` of relative size ``scale``
  (:func:`magt_theory.dynamics.parameter_displacement`)
  — the one-step analogue of the sampler's ``normal_tangent_ratio`` under injected errors;
* ``mean_distance`` and ``off_manifold_rate`` (threshold 0.1) of ``G(u)``, ``seconds_train``.

The column ``sigma = sqrt(t)`` (the training smoothing level) puts the rows on the same axis as
the sampler's ``sigma_min`` in the figures; it is *not* a final noise level: ``G`` has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_positive
from ..metrics import off_manifold_rate
from ._common import rows
from ._spec import Experiment, param
from .alignment import make_manifold

NAME = "magt_alignment"
@dataclass(frozen=True)
class Params:
    """Parameters of one ``magt_alignment`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('vmf_mixture', 'manifold')
    D: int | None = param(None, 'D')
    t: float = param(0.05, 't')
    latent_extra: int = param(1, 'nonneg_int')
    n: int = param(1000, 'n')
    K: int = param(256, 'K')
    steps: int = param(600, 'posint')
    width: int = param(64, 'posint')
    depth: int = param(3, 'posint')
    batch_size: int = param(128, 'posint')
    lr: float = param(0.002, 'lr')
    chunk_size: int = param(512, 'posint')
    n_eval: int = param(256, 'n')
    scale: float = param(0.001, 'fraction_scale')
    n_draws: int = param(8, 'posint')
    seed: int = param(0, 'seed')


SPEC = Experiment(
    NAME, Params,
    figures={
        "magt_alignment": "fig_magt_alignment",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["DEFAULTS", "NAME", "run"]


def run(params: dict):
    """Train MAGT at one sweep point and measure the alignment of its generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``experiment, manifold, d, D, seed, t, sigma, latent_dim, n, K, steps, quantity,
        value``.
    """
    from ..dynamics import one_step_alignment, parameter_displacement
    from ..models.magt import MAGT, MAGTConfig

    p = SPEC.resolve(params)
    extra = check_int(p["latent_extra"], "latent_extra", low=0)
    n_eval = check_int(p["n_eval"], "n_eval", low=2)
    scale = check_positive(p["scale"], "scale")
    n_draws = check_int(p["n_draws"], "n_draws", low=1)
    M = make_manifold(p["manifold"], p["D"])
    d = M.dim
    rng = np.random.default_rng(p["seed"])
    data = M.sample(p["n"], rng)
    cfg = MAGTConfig(
        latent_dim=d + extra, t=p["t"], n_anchors=p["K"], steps=p["steps"], width=p["width"],
        depth=p["depth"], batch_size=p["batch_size"], lr=p["lr"], chunk_size=p["chunk_size"],
        seed=p["seed"],
    )
    model = MAGT(cfg).fit(data, progress=False)
    u = model.sample_latent(n_eval, seed=p["seed"] + 1).double().numpy()
    G = model.generator_
    sigma = cfg.sigma  # VP level (magt_theory.smoothing.vp)
    al = one_step_alignment(G, u, M, d=d, score_sigma=sigma, dtype=model.dtype)
    pdisp = parameter_displacement(G, u, M, scale=scale, n_draws=n_draws, seed=p["seed"] + 2,
                                   dtype=model.dtype)
    ratio = pdisp["ratio"]
    out = {
        "sin_theta_max_svd": np.median(al["sin_theta_max"]),
        "score_tangent_rel": np.median(al["score_tangent_rel"]),
        "param_normal_tangent_ratio": pdisp["ratio_of_means"],
        "param_normal_tangent_ratio_median": np.median(ratio[np.isfinite(ratio)]),
        "mean_distance": np.mean(M.distance(al["x"])),
        "off_manifold_rate": off_manifold_rate(al["x"], M, threshold=0.1),
        "seconds_train": model.seconds_,
    }
    if "spectral_gap" in al:  # k > d: a gap at index d needs more than d singular values
        gap = np.median(al["spectral_gap"])
        out.update({"spectral_gap": gap, "singular_value_ratio": math.exp(gap)})
    if extra > 0 and "intrinsic_dim" in al:  # (absent when some s_j = 0)
        out.update({"intrinsic_dim": np.median(al["intrinsic_dim"]),
                    "intrinsic_dim_accuracy": np.mean(al["intrinsic_dim"] == d)})
    base = {
        "experiment": NAME, "manifold": p["manifold"], "d": d, "D": M.ambient_dim,
        "seed": p["seed"], "t": cfg.t, "sigma": sigma, "latent_dim": cfg.latent_dim,
        "n": p["n"], "K": p["K"], "steps": p["steps"],
    }
    return rows(base, [{"quantity": q, "value": v} for q, v in out.items()])
