"""Characteristic generator: Euler error of the characteristics vs the number of steps K.

With the oracle Föllmer velocity of a known manifold (:func:`magt_theory.models.chargen.
oracle_velocity`) the only error of ``K``-step forward Euler on ``[0, T]`` is the discretisation,
``O(1/K)`` for a first-order scheme [CharGen, docs/conventions.md §9]. Per ``K`` this experiment measures

- ``euler_error``: coupled RMS ``sqrt(E|Euler_K(z) - Phi(z)|^2)`` against a midpoint reference
  ``Phi`` with ``n_ref_steps`` steps (same ``z``): slope -1 in ``K`` expected;
- ``w2``: exact W2 between the ``n_eval`` Euler samples and ``n_eval`` exact draws of the
  target law ``mu_T`` (``X_T = T X_1 + sqrt(1 - T^2) Z``), which decays like ``1/K`` until it
  meets ``w2_noise_floor`` (W2 of two independent ``mu_T`` samples of that size);

and once per job the horizon bias ``horizon_w2`` (W2 between samples of ``mu_T`` and of
``mu_1``) with its coupling bound ``horizon_bound`` ``= sqrt((1-T)^2 E|X_1|^2 + (1-T^2) D)``.

Negative control (``control="biased_step"``): every Euler step uses the velocity plus a
constant drift of size ``1`` (the reference stays exact), so the error no longer falls like
``1/K``; a test shows it turning the rate rows ``inconsistent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import manifolds
from ..metrics import wasserstein
from ._common import rows
from ._spec import Experiment, param

NAME = "chargen_steps"
CONTROLS = ("none", "biased_step")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``chargen_steps`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('circle', 'manifold')
    D: int | None = param(None, 'D')
    T: float = param(0.9, 'unit_open')
    K: list[int] = param([8, 16, 32, 64, 128, 256, 512], 'K_list')
    n_ref_steps: int = param(2048, 'posint')
    n_eval: int = param(1000, 'n')
    jitter: float = param(0.0, 'jitter')
    control: str = param('none', {"enum": list(CONTROLS)})
    seed: int = param(0, 'seed')


SPEC = Experiment(
    NAME, Params,
    claims=(
        "chargen_euler_rows",
    ),
    figures={
        "chargen_euler_vs_K": "fig_chargen_euler",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()
_DRIFT = 1.0


def run(params: dict):
    """Measure the Euler error and W2 to ``mu_T`` for each K (see the module docstring)."""
    from ..models import chargen as cg

    p = SPEC.resolve(params)
    Ks = [int(k) for k in p["K"]]
    if p["n_ref_steps"] < 4 * max(Ks):
        raise ValueError(f"n_ref_steps must be >= 4 max(K) = {4 * max(Ks)} (a converged "
                         f"reference); got {p['n_ref_steps']}")
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    D, T, s0 = M.ambient_dim, float(p["T"]), float(p["jitter"])
    rng = np.random.default_rng([p["seed"], 2])
    z = rng.standard_normal((p["n_eval"], D))

    def law(n):  # exact draws of X_1 (jittered) and of X_T
        x1 = M.sample(n, rng)
        if s0 > 0:
            x1 = x1 + s0 * rng.standard_normal(x1.shape)
        return x1, T * x1 + math.sqrt(1 - T * T) * rng.standard_normal(x1.shape)

    x1_a, xT_a = law(p["n_eval"])
    x1_b, xT_b = law(p["n_eval"])
    oracle = lambda x, s: cg.oracle_velocity(M, x, s, s0)
    ref = cg.midpoint_rollout(oracle, z, T, int(p["n_ref_steps"]))
    stepper = oracle
    if p["control"] == "biased_step":
        drift = np.full(D, _DRIFT / math.sqrt(D))
        stepper = lambda x, s: oracle(x, s) + drift
    base = {"experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": D, "seed": p["seed"],
            "T": T, "jitter": s0, "n_eval": p["n_eval"], "n_ref_steps": p["n_ref_steps"],
            "control": p["control"]}
    out = [
        {"quantity": "w2_noise_floor_T", "value": wasserstein(xT_a, xT_b)},
        {"quantity": "horizon_w2", "value": wasserstein(xT_a, x1_b)},
        {"quantity": "horizon_bound",
         "value": math.sqrt((1 - T) ** 2 * np.mean(np.sum(x1_a**2, 1)) + (1 - T * T) * D)},
    ]
    floor = out[0]["value"]
    for K in Ks:
        xk = cg.euler_rollout(stepper, z, T, K)
        err = np.sqrt(np.sum((xk - ref) ** 2, axis=1))
        rms = float(np.sqrt(np.mean(err**2)))
        se = float(np.std(err**2, ddof=1) / np.sqrt(err.size) / (2 * max(rms, 1e-300)))
        out += [
            {"K": K, "quantity": "euler_error", "value": rms,
             "ci_low": max(rms - 1.96 * se, 0.0), "ci_high": rms + 1.96 * se},
            {"K": K, "quantity": "w2", "value": wasserstein(xk, xT_a)},
            {"K": K, "quantity": "w2_noise_floor", "value": floor},
        ]
    return rows(base, out)
