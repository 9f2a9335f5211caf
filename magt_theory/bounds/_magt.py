"""Bounds of the MAGT paper (Tian & Shen 2026) [MAGT]: Theorem 1, Corollaries 1-2, Lemmas 1, 5.

Building blocks (docs/conventions.md §6):

.. math:: E_{MAG}(t) = \\frac{t^2}{1-t} J(p_t \\| p_t^h), \\qquad
          C_{LSI}(t) = \\frac{(1-t) M^2 + t}{\\min(C_{LSI}(\\pi), 1)}, \\qquad
          C_{PB}(t) = \\frac{c}{t}.

Bounds in registry order: the pull-back (Theorem 1) and its linear response in ``eps``, the
LSI step, Corollaries 1 and 2, the anchor errors of Lemma 1 (MC, VP, QMC, MAP) with the
derived effective sample size, and the score perturbation of Lemma 5.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._core import Bound
from ._symbols import (
    D2,
    B,
    C,
    C_pi,
    D,
    J,
    K,
    M,
    Phi,
    Psi,
    alpha,
    c,
    c1,
    c2,
    d,
    eps,
    eta,
    n,
    rho,
    sigma,
    t,
)

E_MAG = t**2 / (1 - t) * J
"""``E_MAG(t) = t^2/(1-t) J(p_t || p_t^h)`` [MAGT Theorem 1]: under VP, ``sigma^4/alpha^2 J`` =
the mean squared posterior-mean (denoiser) gap, since ``s = (alpha m - y)/sigma^2``."""

C_LSI = ((1 - t) * M**2 + t) / sp.Min(C_pi, 1)
"""``C_LSI(t) = ((1-t) M^2 + t) / min(C_LSI(pi), 1)`` [MAGT Theorem 1, explicit part]."""

C_PB = c / t
"""``C_PB(t) = c / t``: the pull-back constant's stated small-t order [MAGT Theorem 1]."""


def e_mag(t_value, fisher) -> np.ndarray | float:
    """Numeric ``E_MAG = t^2/(1-t) J`` [MAGT Theorem 1].

    Parameters
    ----------
    t_value : float or array_like, in (0, 1)
    fisher : float or array_like, >= 0
        Fisher divergence ``J(p_t || p_t^h)``.
    """
    tt = np.asarray(t_value, dtype=np.float64)
    jj = np.asarray(fisher, dtype=np.float64)
    if not np.all(np.isfinite(tt)) or np.any(tt <= 0) or np.any(tt >= 1):
        raise ValueError(f"t must lie in (0, 1); got {t_value!r}")
    if not np.all(np.isfinite(jj)) or np.any(jj < 0):
        raise ValueError(f"fisher must be finite and >= 0; got {fisher!r}")
    out = tt**2 / (1.0 - tt) * jj
    return float(out) if out.ndim == 0 else out


def corollary2_exponent(eta_value=eta, d_value=d):
    """Rate exponent ``(eta + 1) / (2 eta + d*)`` of Corollary 2 [MAGT] (sympy)."""
    return (sp.sympify(eta_value) + 1) / (2 * sp.sympify(eta_value) + sp.sympify(d_value))


_LOG5 = n / sp.log(n) ** 5

MAGT_BOUNDS: tuple[Bound, ...] = (
    Bound(
        name="magt_pullback",
        expr=C_PB * sp.sqrt(E_MAG),
        source="MAGT Theorem 1",
        claim="bound",
        quantity="w2",
        description="W2(P_Y0, P_h) <= C_PB(t) sqrt(E_MAG), E_MAG = t^2/(1-t) J, C_PB = c/t "
        "(t -> 0); = c sqrt(J/(1-t)): W2/sqrt(J) stays bounded as t -> 0.",
    ),
    Bound(
        name="magt_pullback_ratio",
        expr=C_PB,
        source="MAGT Theorem 1",
        claim="bound",
        quantity="ratio_w2_sqrt_emag",
        description="W2(P_Y0, P_h) / sqrt(E_MAG(t)) <= C_PB(t) = O(1/t) as t -> 0: the measured "
        "ratio may grow as t -> 0, but no faster than 1/t.",
    ),
    Bound(
        name="pullback_w2_eps",
        expr=C * eps,
        source="MAGT Theorem 1 (linear response in eps)",
        claim="rate",
        quantity="w2",
        description="W2(P_h*, P_h) ~ C eps for h = h* + eps delta (or a reparametrisation of size "
        "eps): the eps-linearity that makes W2 / sqrt(J) an eps-free ratio.",
    ),
    Bound(
        name="pullback_fisher_eps",
        expr=C * eps**2,
        source="MAGT Theorem 1 (linear response in eps)",
        claim="rate",
        quantity="fisher_J",
        description="J(p_t || p_t^h) ~ C eps^2 for a perturbation of size eps (the score moves "
        "linearly).",
    ),
    Bound(
        name="magt_lsi",
        expr=C_LSI * sp.sqrt(J),
        source="MAGT Theorem 1 (LSI step)",
        claim="bound",
        quantity="w2_smoothed",
        description="W2(p_t, p_t^h) <= C_LSI(t) sqrt(J), C_LSI(t) = ((1-t) M^2 + t)/min(C_LSI(pi),"
        " 1); explicit constants.",
    ),
    Bound(
        name="magt_corollary1",
        expr=(Phi * C_LSI + Psi) * rho,
        source="MAGT Corollary 1",
        claim="bound",
        quantity="w2",
        description="W2 <= (Phi C_LSI(t) + Psi) rho, rho^2 = R(h) - R(h*) = J(p_t || p_t^h) "
        "(excess DSM risk).",
    ),
    Bound(
        name="magt_corollary2",
        expr=(c1 + c2 * sigma ** (-(eta + 2))) * _LOG5 ** (-corollary2_exponent()),
        source="MAGT Corollary 2",
        claim="bound",
        quantity="w2",
        description="E W2 <~ C_PB(t)[(c1 + c2 sigma^-(eta+2)) (n/log^5 n)^{-(eta+1)/(2 eta + d*)}"
        " + c3 eps(K)]; statistical term only (C_PB(t) and the K-term do not depend on n); "
        "d = d* intrinsic.",
    ),
    Bound(
        name="magt_corollary2_width",
        expr=_LOG5 ** (d / (2 * (2 * eta + d))),
        source="MAGT Corollary 2 (network size)",
        claim="rate",
        quantity="network_size",
        description="network size choice WL ~ (n / log^5 n)^{d*/(2(2 eta + d*))}.",
    ),
    Bound(
        name="magt_corollary2_sigma",
        expr=c1 + c2 * sigma ** (-(eta + 2)),
        source="MAGT Corollary 2 (sigma factor)",
        claim="bound",
        quantity="w2",
        description="sigma-dependence c1 + c2 sigma^-(eta+2) of the statistical term: slope "
        "-(eta+2) as sigma -> 0, 0 as sigma -> oo.",
    ),
    Bound(
        name="anchor_mc",
        expr=C * alpha**2 / (K * sigma ** (d + 4)),
        source="MAGT Lemma 1",
        claim="bound",
        quantity="anchor_mse",
        description="MC anchors: E|s~_K - s|^2 <= C alpha^2 / (K sigma^(d+4)) near the manifold "
        "(score MSE).",
    ),
    Bound(
        name="anchor_mc_vp",
        expr=C * (1 - t) / (K * t ** ((d + 4) / 2)),
        source="MAGT Lemma 1 (VP)",
        claim="bound",
        quantity="anchor_mse",
        description="Lemma 1 with VP alpha = sqrt(1-t), sigma = sqrt(t): "
        "C (1-t) / (K t^((d+4)/2)).",
    ),
    Bound(
        name="anchor_qmc",
        expr=C * sp.log(K) ** d / K,
        source="MAGT Lemma 1 (QMC)",
        claim="bound",
        quantity="anchor_mse",
        description="QMC anchors: O(K^-1 log^d K) as stated (for the score MSE; a Koksma-Hlawka "
        "reading of the error itself would square it).",
    ),
    Bound(
        name="anchor_map",
        expr=32 * alpha**2 * B**2 * D2 / (K * sigma**4),
        source="MAGT Lemma 1 (MAP/Laplace)",
        claim="bound",
        quantity="anchor_mse",
        description="MAP/Laplace proposal: E|s~_K - s|^2 <= 32 alpha^2 B^2 D_2(pi_t || q) / "
        "(K sigma^4).",
    ),
    Bound(
        name="ess",
        expr=C * K * sigma**d,
        source="MAGT Lemma 1 (derived: ESS)",
        claim="rate",
        quantity="ess",
        description="Kish ESS = (sum w)^2 / sum w^2 ~ K sigma^d (weight second-moment ratio ~ "
        "sigma^-d).",
    ),
    Bound(
        name="ess_vp",
        expr=C * K * t ** (d / 2),
        source="MAGT Lemma 1 (derived: ESS, VP)",
        claim="rate",
        quantity="ess",
        description="ESS ~ K sigma^d with sigma = sqrt(t): K t^(d/2).",
    ),
    Bound(
        name="score_perturbation",
        expr=sp.sqrt(2 + 2 * D * (D + 2)) * alpha * eps / sigma**2,
        source="MAGT Lemma 5",
        claim="bound",
        quantity="score_l2_error",
        description="|h - h*|_inf <= eps => |s(.;h) - s(.;h*)|_L2 <= sqrt(2 + 2D(D+2)) alpha eps "
        "/ sigma^2.",
    ),
)
"""The MAGT bounds, in registry order."""
