"""Tests of magt_theory.bounds: symbolic slopes vs finite differences, known exponents, identities.

Independent checks: log-log central differences of the lambdified expressions, hand-written
numpy formulas transcribed from docs/conventions.md, and a Gaussian model where E_MAG and the Fisher
divergence have closed forms (scipy.stats logpdf + finite differences).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import stats

from magt_theory import bounds

SEED = 20240607


def _random_point(bound, rng):
    """A point inside every symbol's domain, away from the Min(C_pi, 1) kink."""
    pt = {}
    for name in bound.free_symbols:
        if name == "t":
            pt[name] = rng.uniform(0.05, 0.9)
        elif name == "alpha":
            pt[name] = rng.uniform(0.2, 0.9)
        elif name == "n":
            pt[name] = float(np.exp(rng.uniform(np.log(20.0), np.log(1e6))))
        elif name == "K":
            pt[name] = float(np.exp(rng.uniform(np.log(16.0), np.log(1e5))))
        elif name == "d":
            pt[name] = int(rng.choice([1, 2, 3, 5]))
        elif name == "D":
            pt[name] = int(rng.choice([2, 3, 10]))
        elif name == "C_pi":
            pt[name] = float(rng.choice([rng.uniform(0.2, 0.8), rng.uniform(1.2, 4.0)]))
        else:
            pt[name] = rng.uniform(0.2, 5.0)
    return pt


def _fd_slope(bound, var, pt, h=1e-5):
    up, dn = dict(pt), dict(pt)
    up[var] = pt[var] * np.exp(h)
    dn[var] = pt[var] * np.exp(-h)
    return (np.log(bound.evaluate(**up)) - np.log(bound.evaluate(**dn))) / (2 * h)


CASES = [
    (name, var)
    for name, b in sorted(bounds.BOUNDS.items())
    for var in sorted(b.free_symbols)
    # d, D are integers (evaluate rejects non-integers): no finite differences in them
    if var not in {"d", "D"}
]


@pytest.mark.parametrize("name,var", CASES)
def test_symbolic_slope_matches_finite_difference(name, var):
    b = bounds.get(name)
    rng = np.random.default_rng([SEED, len(name), len(var)])
    for _ in range(4):
        pt = _random_point(b, rng)
        exact = b.slope(var, at=pt)
        fd = _fd_slope(b, var, pt)
        # central difference error O(h^2 |slope'''|) + roundoff O(eps/h): both << 1e-6 here
        assert exact == pytest.approx(fd, abs=1e-6, rel=1e-6), (name, var, pt)


def test_expressions_match_theory_formulas():
    """Each registered expression equals a numpy transcription of docs/conventions.md at random points."""
    rng = np.random.default_rng(SEED)
    hand = {
        "magt_pullback": lambda p: p["c"] / p["t"] * np.sqrt(p["t"] ** 2 / (1 - p["t"]) * p["J"]),
        "magt_pullback_ratio": lambda p: p["c"] / p["t"],
        "cdc_gap_ratio": lambda p: p["C"] / p["sigma"],
        "cdc_tangent_error": lambda p: p["C"] * p["sigma"],
        "cdc_score_injection": lambda p: p["C"] * p["eps"] * p["sigma"],
        "cdc_denoiser_injection": lambda p: p["C"] * p["eps"] * np.exp(-p["sigma"] / p["c"]),
        "magt_lsi": lambda p: ((1 - p["t"]) * p["M"] ** 2 + p["t"]) / min(p["C_pi"], 1) * np.sqrt(p["J"]),
        "magt_corollary1": lambda p: (p["Phi"] * ((1 - p["t"]) * p["M"] ** 2 + p["t"]) / min(p["C_pi"], 1)
                                      + p["Psi"]) * p["rho"],
        "magt_corollary2": lambda p: (p["c1"] + p["c2"] * p["sigma"] ** (-(p["eta"] + 2)))
        * (p["n"] / np.log(p["n"]) ** 5) ** (-(p["eta"] + 1) / (2 * p["eta"] + p["d"])),
        "magt_corollary2_width": lambda p: (p["n"] / np.log(p["n"]) ** 5)
        ** (p["d"] / (2 * (2 * p["eta"] + p["d"]))),
        "magt_corollary2_sigma": lambda p: p["c1"] + p["c2"] * p["sigma"] ** (-(p["eta"] + 2)),
        "anchor_mc": lambda p: p["C"] * p["alpha"] ** 2 / (p["K"] * p["sigma"] ** (p["d"] + 4)),
        "anchor_mc_vp": lambda p: p["C"] * np.sqrt(1 - p["t"]) ** 2 / (p["K"] * np.sqrt(p["t"]) ** (p["d"] + 4)),
        "anchor_qmc": lambda p: p["C"] * np.log(p["K"]) ** p["d"] / p["K"],
        "anchor_map": lambda p: 32 * p["alpha"] ** 2 * p["B"] ** 2 * p["D2"] / (p["K"] * p["sigma"] ** 4),
        "ess": lambda p: p["C"] * p["K"] * p["sigma"] ** p["d"],
        "ess_vp": lambda p: p["C"] * p["K"] * np.sqrt(p["t"]) ** p["d"],
        "score_perturbation": lambda p: np.sqrt(2 + 2 * p["D"] * (p["D"] + 2)) * p["alpha"] * p["eps"] / p["sigma"] ** 2,
        "empirical_w": lambda p: {1: p["n"] ** -0.5, 2: np.sqrt(np.log(p["n"]) / p["n"])}.get(
            p["d"], p["n"] ** (-1.0 / p["d"])),
        "smoothing_bias": lambda p: p["sigma"] * np.sqrt(p["D"]),
        "chargen_rate": lambda p: np.sqrt(p["n"] ** (-2 / (p["d"] + 3)) * np.log(p["n"]) ** 2),
        "chargen_rate_ambient": lambda p: np.sqrt(p["n"] ** (-2 / (p["D"] + 3)) * np.log(p["n"]) ** 2),
        "pullback_w2_eps": lambda p: p["C"] * p["eps"],
        "pullback_fisher_eps": lambda p: p["C"] * p["eps"] ** 2,
    }
    assert set(hand) == set(bounds.BOUNDS), "every registered bound needs a hand transcription here"
    for name, f in hand.items():
        b = bounds.get(name)
        for _ in range(5):
            pt = _random_point(b, rng)
            assert b.evaluate(**pt) == pytest.approx(f(pt), rel=1e-12), (name, pt)


def test_known_slopes():
    d, D = bounds.symbol("d"), bounds.symbol("D")
    mc = bounds.get("anchor_mc")
    assert mc.slope("K") == -1
    assert sp.simplify(mc.slope("sigma") - (-(d + 4))) == 0
    assert mc.slope("sigma", at={"d": 2}) == pytest.approx(-6.0)
    assert bounds.get("anchor_map").slope("sigma") == -4
    # VP form: slope in t -> -(d+4)/2 as t -> 0 (sigma = sqrt t)
    assert sp.simplify(bounds.get("anchor_mc_vp").asymptotic_slope("t", 0) + (d + 4) / 2) == 0
    ess = bounds.get("ess")
    assert ess.slope("sigma") == d and ess.slope("K") == 1
    assert bounds.get("ess_vp").slope("t") == d / 2
    # QMC: local slope -1 + d/log K > -1, tends to -1
    qmc = bounds.get("anchor_qmc")
    assert qmc.slope("K", at={"K": 1024, "d": 2}) == pytest.approx(-1 + 2 / np.log(1024))
    assert qmc.asymptotic_slope("K", "oo") == -1
    assert not qmc.is_constant_slope("K") and mc.is_constant_slope("K")
    # Lemma 5: sqrt(2 + 2D(D+2)) = sqrt(2)(D+1): slope in sigma -2, in eps 1, in D -> 1
    sp5 = bounds.get("score_perturbation")
    assert sp5.slope("sigma") == -2 and sp5.slope("eps") == 1
    assert sp.simplify(sp5.slope("D") - D / (D + 1)) == 0
    assert sp5.asymptotic_slope("D", "oo") == 1
    assert bounds.get("smoothing_bias").slope("sigma") == 1
    assert bounds.get("smoothing_bias").slope("D") == sp.Rational(1, 2)
    # a symbol the expression does not contain has slope 0 (D enters Corollary 2's constants only)
    assert bounds.get("magt_corollary2").slope("D") == 0


def test_empirical_rate_slopes():
    emp = bounds.get("empirical_w")
    for dim, expected in [(1, -0.5), (3, -1 / 3), (4, -0.25), (7, -1 / 7)]:
        for nv in (1e2, 1e5):
            assert emp.slope("n", at={"n": nv, "d": dim}) == pytest.approx(expected, abs=1e-14)
    # d = 2: local slope -1/2 + 1/(2 log n) lies ABOVE -1/2 and decreases to -1/2 as n -> oo
    ns = np.array([1e2, 1e3, 1e5, 1e9])
    local = emp.slope("n", at={"n": ns, "d": 2})
    assert np.all(local > -0.5)
    assert np.all(np.diff(local) < 0)
    assert np.allclose(local, -0.5 + 1 / (2 * np.log(ns)), rtol=1e-12)
    assert emp.asymptotic_slope("n", "oo", at={"d": 2}) == sp.Rational(-1, 2)


def test_corollary2_exponents():
    eta, d = bounds.symbol("eta"), bounds.symbol("d")
    cor = bounds.get("magt_corollary2")
    expo = bounds.corollary2_exponent()
    assert sp.simplify(cor.asymptotic_slope("n", "oo") + expo) == 0
    assert sp.limit(expo, eta, sp.oo) == sp.Rational(1, 2)
    assert sp.limit(-cor.asymptotic_slope("n", "oo"), eta, sp.oo) == sp.Rational(1, 2)
    # local slope in n is exactly -(eta+1)/(2eta+d) (1 - 5/log n) from the log^5 factor
    at = {"n": 1e4, "eta": 2.0, "d": 1}
    assert cor.slope("n", at=at) == pytest.approx(-(3 / 5) * (1 - 5 / np.log(1e4)), rel=1e-12)
    # network-size choice and the sigma factor
    width = bounds.get("magt_corollary2_width")
    assert sp.simplify(width.asymptotic_slope("n", "oo") - d / (2 * (2 * eta + d))) == 0
    assert sp.simplify(cor.asymptotic_slope("sigma", 0) + (eta + 2)) == 0
    assert cor.asymptotic_slope("sigma", "oo") == 0
    assert sp.simplify(bounds.get("magt_corollary2_sigma").asymptotic_slope("sigma", 0) + eta + 2) == 0


def test_chargen_reading():
    n, d = bounds.symbol("n"), bounds.symbol("d")
    cg = bounds.get("chargen_rate")
    # W2 form squared is the stated W2^2 <~ n^{-2/(d+3)} log^2 n
    assert sp.simplify(cg.expr**2 - n ** (-2 / (d + 3)) * sp.log(n) ** 2) == 0
    assert sp.simplify(cg.asymptotic_slope("n", "oo") + 1 / (d + 3)) == 0
    # the log factor makes the local slope shallower than -1/(d+3)
    assert cg.slope("n", at={"n": 1e4, "d": 1}) == pytest.approx(-0.25 + 1 / np.log(1e4))
    assert cg.slope("n", at={"n": 1e4, "d": 1}) > -0.25


def test_pullback_small_t():
    pb = bounds.get("magt_pullback")
    # C_PB(t) sqrt(E_MAG) = c sqrt(J/(1-t)): W2/sqrt(J) bounded, slope in J exactly 1/2
    assert pb.slope("J") == sp.Rational(1, 2)
    assert pb.asymptotic_slope("t", 0) == 0
    assert pb.evaluate(c=1.0, t=0.3, J=2.0) == pytest.approx(np.sqrt(2.0 / 0.7), rel=1e-14)
    lsi = bounds.get("magt_lsi")
    # C_LSI(t) -> M^2 / min(C_pi, 1) as t -> 0
    assert lsi.evaluate(t=1e-12, M=2.0, C_pi=0.5, J=1.0) == pytest.approx(8.0, rel=1e-9)
    assert lsi.evaluate(t=0.5, M=1.0, C_pi=3.0, J=4.0) == pytest.approx(2.0, rel=1e-14)


def test_e_mag_identity_gaussian_model():
    """E_MAG = t^2/(1-t) J equals the mean squared posterior-mean gap under VP.

    Data N(a, 1) vs model N(b, 1) in 1-D, smoothed at VP level t: J from finite differences of
    scipy's log-densities at Monte Carlo points, posterior means from the conjugate formula.
    """
    rng = np.random.default_rng(SEED)
    a, b = 0.7, -0.4
    for t in (0.05, 0.3, 0.8):
        alpha, sigma = np.sqrt(1 - t), np.sqrt(t)
        y = alpha * a + np.sqrt(alpha**2 + sigma**2) * rng.standard_normal(4000)
        sd = np.sqrt(alpha**2 + sigma**2)
        h = 1e-4

        def score(mean, yy, sd=sd, h=h):
            return (stats.norm.logpdf(yy + h, mean, sd) - stats.norm.logpdf(yy - h, mean, sd)) / (2 * h)

        fisher = np.mean((score(alpha * a, y) - score(alpha * b, y)) ** 2)
        gain = alpha / (alpha**2 + sigma**2)
        m_data = a + gain * (y - alpha * a)
        m_model = b + gain * (y - alpha * b)
        gap = np.mean((m_data - m_model) ** 2)
        assert bounds.e_mag(t, fisher) == pytest.approx(gap, rel=1e-6)
    # and symbolically: sigma^4/alpha^2 J with the VP schedule
    t_, J_ = bounds.symbol("t"), bounds.symbol("J")
    assert sp.simplify(bounds.E_MAG - (sp.sqrt(t_) ** 4 / sp.sqrt(1 - t_) ** 2) * J_) == 0


def test_evaluate_vectorised_and_subs():
    mc = bounds.get("anchor_mc")
    Ks = np.array([10.0, 100.0, 1000.0])
    out = mc.evaluate(C=1.0, alpha=1.0, K=Ks, sigma=0.5, d=2)
    assert out.shape == (3,) and out.dtype == np.float64
    assert np.allclose(out, 1.0 / (Ks * 0.5**6))
    grid = mc.evaluate(C=1.0, alpha=1.0, K=Ks[:, None], sigma=np.array([0.1, 0.2]), d=1)
    assert grid.shape == (3, 2)
    # constant slope broadcasts to the input shape
    assert mc.slope("K", at={"K": Ks}).shape == (3,)
    fixed = mc.subs(d=3)
    assert "d" not in fixed.free_symbols and fixed.slope("sigma") == -7
    assert fixed.source == mc.source and fixed.claim == mc.claim


def test_metadata():
    for name, b in bounds.BOUNDS.items():
        assert b.name == name
        assert b.claim in {"rate", "bound"}
        assert b.source and b.quantity and b.description
    assert bounds.get("anchor_mc").quantity == "anchor_mse"
    assert bounds.get("anchor_mc").source == "MAGT Lemma 1"
    assert bounds.get("anchor_mc").regime("sigma") == "small"
    assert bounds.get("anchor_mc").regime("K") == "large"
    assert bounds.get("empirical_w").claim == "rate"
    assert bounds.names() == sorted(bounds.BOUNDS)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown bound 'anchor_mcc'.*anchor_mc"):
        bounds.get("anchor_mcc")
    with pytest.raises(TypeError, match="name"):
        bounds.get(3)
    mc = bounds.get("anchor_mc")
    with pytest.raises(ValueError, match="unknown symbol 'sigmaa'"):
        mc.slope("sigmaa")
    with pytest.raises(ValueError, match=r"missing value\(s\) for \['d'\]"):
        mc.slope("sigma", at={"K": 3})
    with pytest.raises(ValueError, match="missing"):
        mc.evaluate(C=1.0, alpha=1.0, K=10)
    with pytest.raises(ValueError, match="not in the expression"):
        mc.evaluate(C=1.0, alpha=1.0, K=10, sigma=0.1, d=1, n=5)
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        mc.evaluate(C=1.0, alpha=1.0, K=10, sigma=-0.1, d=1)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1.0\]"):
        mc.evaluate(C=1.0, alpha=1.5, K=10, sigma=0.1, d=1)
    with pytest.raises(ValueError, match="t must lie"):
        bounds.get("magt_pullback").evaluate(c=1.0, t=1.0, J=1.0)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        mc.evaluate(C=1.0, alpha=1.0, K=10, sigma=0.1, d=1.5)
    with pytest.raises(ValueError, match="limit must be"):
        mc.asymptotic_slope("K", "sideways")
    with pytest.raises(ValueError, match="claim"):
        bounds.Bound(name="x", expr=bounds.symbol("n"), source="src", claim="guess", quantity="w2")
    with pytest.raises(ValueError, match="outside bounds.SYMBOLS"):
        bounds.Bound(name="x", expr=sp.Symbol("zeta"), source="src", claim="rate", quantity="w2")
    with pytest.raises(TypeError):  # keyword-only: six positional strings are easy to swap
        bounds.Bound("x", bounds.symbol("n"), "src", "rate", "w2")  # type: ignore[misc]
    with pytest.raises(ValueError, match="t must lie"):
        bounds.e_mag(1.2, 1.0)
    with pytest.raises(ValueError, match="fisher"):
        bounds.e_mag(0.5, -1.0)


# ---------------------------------------------------------------------------------------------
# range_slope: the bound's own slope over the swept points
# ---------------------------------------------------------------------------------------------
def test_range_slope_is_the_ols_slope_of_the_log_bound():
    """Against an independent numpy transcription of log B and an OLS fit (log factors in)."""
    n = np.array([100.0, 316.0, 1000.0, 3162.0])
    eta, d = 8.0, 1.0
    a = (eta + 1) / (2 * eta + d)
    log_b = -a * (np.log(n) - 5 * np.log(np.log(n)))  # (n / log^5 n)^-a, constants dropped
    expect = stats.linregress(np.log(n), log_b).slope
    sec, lo, hi = bounds.get("magt_corollary2").range_slope("n", n, at={"eta": eta, "d": d})
    assert sec == pytest.approx(expect, rel=1e-12)
    local = -a * (1 - 5 / np.log(n))  # d log B / d log n
    assert (lo, hi) == (pytest.approx(local.min(), rel=1e-12), pytest.approx(local.max(), rel=1e-12))
    # far from the asymptotic exponent -a = -0.53 over this range (the log^5 n factor)
    assert sec > -0.2
    # CharGen: n^{-1/(d+3)} log n
    n2 = np.array([250.0, 500, 1000, 2000, 4000])
    sec2, _, _ = bounds.get("chargen_rate").range_slope("n", n2, at={"d": 1})
    expect2 = stats.linregress(np.log(n2), -np.log(n2) / 4 + np.log(np.log(n2))).slope
    assert sec2 == pytest.approx(expect2, rel=1e-12)
    # a pure power law: its exponent, whatever the points; constants do not matter
    assert bounds.get("anchor_mc").range_slope("sigma", [0.1, 0.2, 0.7], at={"d": 2})[0] == \
        pytest.approx(-6.0, abs=1e-12)
    assert bounds.get("cdc_gap_ratio").range_slope("sigma", [0.01, 0.1])[0] == \
        pytest.approx(-1.0, abs=1e-12)


def test_range_slope_rejects_bad_input():
    b = bounds.get("magt_corollary2")
    with pytest.raises(ValueError, match="missing"):
        b.range_slope("n", [10.0, 100.0], at={"d": 1})
    with pytest.raises(ValueError, match="distinct"):
        b.range_slope("n", [10.0, 10.0], at={"d": 1, "eta": 2})
    with pytest.raises(ValueError, match="> 0"):
        b.range_slope("n", [0.0, 10.0], at={"d": 1, "eta": 2})
    assert bounds.get("ess").range_slope("n" if False else "K", [1.0, 4.0]) == \
        pytest.approx((1.0, 1.0, 1.0))



def test_range_slope_when_a_shifting_symbol_is_singular_at_1():
    """Symbols the slope does not depend on take their ``at`` value; 1 must not be a pole.

    ``magt_pullback = c sqrt(J / (1 - t))`` swept in J, ``anchor_mc_vp`` swept in K (both with
    ``t = 1`` a pole) and ``magt_corollary2`` swept in sigma (``log^5 n = 0`` at ``n = 1``).
    """
    js = [0.01, 0.1, 1.0]
    assert bounds.get("magt_pullback").range_slope("J", js, at={"t": 0.3}) == \
        pytest.approx((0.5, 0.5, 0.5), rel=1e-12)
    assert bounds.get("anchor_mc_vp").range_slope("K", [16.0, 256.0], at={"t": 0.3}) == \
        pytest.approx((-1.0, -1.0, -1.0), rel=1e-12)
    with pytest.raises(ValueError, match=r"singular with \['t'\] set to 1"):
        bounds.get("magt_pullback").range_slope("J", js)
    # the sigma factor c1 + c2 sigma^-(eta+2), by an independent OLS fit of its log
    sig = np.array([0.05, 0.1, 0.2, 0.4])
    eta, c1, c2 = 2.0, 1.0, 0.01
    expect = stats.linregress(np.log(sig), np.log(c1 + c2 * sig ** (-(eta + 2)))).slope
    cor = bounds.get("magt_corollary2")
    sec, _, _ = cor.range_slope("sigma", sig, at={"eta": eta, "c1": c1, "c2": c2, "n": 1e3})
    assert sec == pytest.approx(expect, rel=1e-12)
    sec2, _, _ = cor.range_slope("sigma", sig, at={"eta": eta, "c1": c1, "c2": c2, "n": 1e5,
                                                   "d": 3})
    assert sec2 == pytest.approx(expect, rel=1e-12)  # n and d only shift log B
    with pytest.raises(ValueError, match=r"singular with \['n'\] set to 1"):
        cor.range_slope("sigma", sig, at={"eta": eta, "c1": c1, "c2": c2})


def test_upper_bounds_are_bounds():
    """MAGT Corollary 2 and CharGen's rate are upper bounds ("<~"), judged as bounds."""
    for name in ("magt_corollary2", "chargen_rate", "chargen_rate_ambient"):
        assert bounds.get(name).claim == "bound"


# ---------------------------------------------------------------------------------------------
# Package layout: one small module per paper, one registry
# ---------------------------------------------------------------------------------------------
#: registry order (iteration order of BOUNDS): module, paper key every source starts with
PAPER_MODULES = [("_magt", "MAGT_BOUNDS", ("MAGT",)),
                 ("_rates", "RATE_BOUNDS", ("Fournier-Guillin", "docs/conventions.md")),
                 ("_chargen", "CHARGEN_BOUNDS", ("CharGen",)),
                 ("_cdc", "CDC_BOUNDS", ("CdC",))]


def test_registry_is_the_paper_modules_in_order():
    import importlib

    order = []
    for module, attr, keys in PAPER_MODULES:
        group = getattr(importlib.import_module(f"magt_theory.bounds.{module}"), attr)
        assert group, module
        for b in group:
            assert b.source.startswith(keys), (module, b.name, b.source)
            assert bounds.get(b.name) is b
        order += [b.name for b in group]
    assert order == list(bounds.BOUNDS)
    assert len(set(order)) == len(order)


def test_registry_rejects_a_name_registered_twice():
    from magt_theory.bounds import _registry

    b = bounds.get("ess")
    with pytest.raises(ValueError, match="'ess' is registered twice"):
        _registry._build((b,), (bounds.get("anchor_mc"), b))


def test_public_names_and_module_sizes():
    import pathlib

    for name in bounds.__all__ + ["C_PB"]:
        assert getattr(bounds, name) is not None, name
    files = sorted(pathlib.Path(bounds.__file__).parent.glob("*.py"))
    assert len(files) >= 6
    for f in files:
        n_lines = len(f.read_text().splitlines())
        assert n_lines <= 300, f"{f.name} has {n_lines} lines"
