"""One-sample W2 to a known law (magt_theory.law_distance): closed forms, independent solvers,
brackets, floor, errors."""

import math

import numpy as np
import ot
import pytest
import scipy.special as sc

import magt_theory as mt
from magt_theory.law_distance import _curve_of, wasserstein_to_law


def _emd_to_grid(x, M, m=6000):
    """Exact discrete W2 from x to an m-point quantile grid of the law (independent solver),
    and the grid's own W2 error bound ``speed / (sqrt(12) m)``."""
    c = _curve_of(M)
    ym = M._from_native(c.point((np.arange(m) + 0.5) / m))
    n = x.shape[0]
    w2 = ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), ot.dist(x, ym), numItermax=10**8)
    return math.sqrt(w2), c.speed / (math.sqrt(12) * m)


def test_circle_intrinsic_part_matches_pot_closed_form():
    """Geodesic circular W2 of the angles = Bonet et al.'s closed form against the uniform law
    (POT semidiscrete_wasserstein2_unif_circle), for a non-uniform sample."""
    M = mt.manifolds.make("circle", radius=1.7)
    rng = np.random.default_rng(0)
    ang = np.mod(rng.vonmises(0.3, 2.0, 400), 2 * np.pi)
    x = 1.7 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    r = wasserstein_to_law(x, M, floor="none")
    u = ot.utils.get_coordinate_circle(x)
    ref = 2 * np.pi * 1.7 * math.sqrt(float(np.squeeze(ot.semidiscrete_wasserstein2_unif_circle(u))))
    assert r.components["intrinsic_w2"] == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("name, D, tol", [("circle", None, 2e-3), ("circle", 6, 2e-3),
                                          ("helix3d", None, 3e-3), ("spiral2d", None, None)])
def test_value_and_bracket_against_exact_ot_to_a_quantile_grid(name, D, tol):
    """lower <= W2 <= upper against exact OT to a 6,000-point quantile grid (its own error
    bounded by speed / (sqrt(12) m)); on the circle and the helix the value is the W2 itself up
    to the chordal-vs-geodesic plan difference (measured < 1e-3 here)."""
    M = mt.manifolds.make(name, ambient_dim=D, seed=1)
    rng = np.random.default_rng(2)
    x = M.sample(300, rng) + 0.05 * rng.standard_normal((300, M.ambient_dim))
    r = wasserstein_to_law(x, M, floor="none")
    w, disc = _emd_to_grid(x, M)
    assert r.lower - disc - 1e-9 <= w <= r.upper + disc + 1e-9
    assert r.lower <= r.value <= r.upper
    if tol is not None:
        assert abs(r.value - w) <= tol + disc


def test_concentric_rescaling_closed_form():
    """Stratified angles on a circle of radius (1+eps) R: the Voronoi arcs have equal mass, so
    W2^2 = R^2 [(1+eps)^2 + 1 - 2 (1+eps) sin(pi/n)/(pi/n)] exactly."""
    R, eps, n = 1.3, 0.07, 500
    M = mt.manifolds.make("circle", radius=R)
    th = 2 * np.pi * (np.arange(n) + 0.5) / n + 0.123
    x = (1 + eps) * R * np.stack([np.cos(th), np.sin(th)], axis=1)
    r = wasserstein_to_law(x, M, floor="none")
    s = math.sin(math.pi / n) / (math.pi / n)
    exact = R * math.sqrt((1 + eps) ** 2 + 1 - 2 * (1 + eps) * s)
    assert r.value == pytest.approx(exact, rel=1e-12)
    assert r.lower >= eps * R * (1 - 1e-12)  # the distance-to-M bound


def test_known_monotone_reparametrisation_on_the_circle():
    """theta = 2 pi phi(q), phi(q) = q + a sin(2 pi q)/(2 pi) (monotone for a < 1), at the n
    midpoint quantiles: geodesic W2 -> R a / sqrt 2, and the plan's chordal cost ->
    R sqrt(2 (1 - J0(a))) (Bessel J0), both up to O(1/n)."""
    R, a, n = 0.8, 0.6, 200_000
    M = mt.manifolds.make("circle", radius=R)
    q = (np.arange(n) + 0.5) / n
    th = 2 * np.pi * q + a * np.sin(2 * np.pi * q)
    x = R * np.stack([np.cos(th), np.sin(th)], axis=1)
    r = wasserstein_to_law(x, M, floor="none")
    assert r.components["intrinsic_w2"] == pytest.approx(R * a / math.sqrt(2), rel=1e-4)
    assert r.value == pytest.approx(R * math.sqrt(2 * (1 - sc.j0(a))), rel=1e-4)
    assert r.lower <= r.value


def test_rotation_invariance_and_embedding():
    """Rotating a non-uniform sample leaves its distance to the uniform circle unchanged, and
    so does embedding it isometrically in R^D."""
    M2 = mt.manifolds.make("circle")
    M9 = mt.manifolds.make("circle", ambient_dim=9, seed=4)
    rng = np.random.default_rng(5)
    ang = rng.vonmises(1.0, 1.5, 300)
    x = (1 + 0.1 * rng.standard_normal(300))[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    c, s = math.cos(0.9), math.sin(0.9)
    xr = x @ np.array([[c, s], [-s, c]])
    v = wasserstein_to_law(x, M2, floor="none").value
    assert wasserstein_to_law(xr, M2, floor="none").value == pytest.approx(v, rel=1e-12)
    assert wasserstein_to_law(x @ M9.Q.T, M9, floor="none").value == pytest.approx(v, rel=1e-12)


def test_floor_falls_like_one_over_sqrt_n_on_the_circle():
    """floor = E W2(nu_n, nu) ~ n^{-1/2} (d = 1): ratio over a factor 16 in n is 1/4, within
    the spread of a 20-draw mean (relative SE ~ 0.1 each; tolerance 3 SE of the ratio)."""
    M = mt.manifolds.make("circle")
    x = M.sample(100, 0)
    f1 = wasserstein_to_law(M.sample(250, 0), M, floor_repeats=20).floor
    f2 = wasserstein_to_law(M.sample(4000, 0), M, floor_repeats=20).floor
    assert f2 / f1 == pytest.approx(0.25, abs=0.25 * 3 * 0.1 * math.sqrt(2))
    # cached: the same call returns the same floor
    assert wasserstein_to_law(x, M).floor == wasserstein_to_law(x + 1e-3, M).floor


def test_semidiscrete_two_antipodal_atoms_on_the_sphere():
    """Atoms at +-c e_3 on the unit sphere S^2 split it into hemispheres of mass 1/2 (Voronoi
    cells of equal mass: optimal), so W2^2 = 1 + c^2 - c exactly (E[z | z > 0] = 1/2)."""
    M = mt.manifolds.make("sphere", k=2)
    c = 0.6
    x = np.array([[0, 0, c], [0, 0, -c]], dtype=float)
    r = wasserstein_to_law(x, M, floor="none", max_iter=3000, n_eval=200_000, seed=1)
    exact = math.sqrt(1 + c * c - c)
    se = r.components["dual_se"] / (2 * exact)
    assert r.method == "semidiscrete"
    assert abs(r.value - exact) < 4 * se + 2e-3
    assert r.lower <= r.value <= r.upper


def test_semidiscrete_against_exact_ot_to_a_large_reference():
    """flat torus T^2, 30 atoms: semi-discrete value vs exact OT to 20,000 reference points
    (whose own error for 30 atoms is ~1%)."""
    M = mt.manifolds.make("flat_torus")
    x = M.sample(30, 3) + 0.05 * np.random.default_rng(3).standard_normal((30, 4))
    r = wasserstein_to_law(x, M, floor="none", max_iter=4000, seed=2)
    ref = M.sample(20_000, 9)
    w = math.sqrt(ot.emd2(np.full(30, 1 / 30), np.full(20_000, 1 / 20_000), ot.dist(x, ref),
                          numItermax=10**8))
    assert r.value == pytest.approx(w, rel=0.03)
    assert r.lower <= r.value <= r.upper


@pytest.mark.parametrize("kw, match", [(dict(p=1), "p must be 2"),
                                       (dict(method="nope"), "method must be"),
                                       (dict(floor="maybe"), "floor must be"),
                                       (dict(floor_repeats=1), "floor_repeats")])
def test_bad_arguments_are_named(kw, match):
    M = mt.manifolds.make("circle")
    with pytest.raises(ValueError, match=match):
        wasserstein_to_law(M.sample(10, 0), M, **kw)


def test_curve_method_refuses_a_surface_and_bad_shapes():
    S = mt.manifolds.make("sphere", k=2)
    with pytest.raises(ValueError, match="method='curve'"):
        wasserstein_to_law(S.sample(10, 0), S, method="curve")
    C = mt.manifolds.make("circle")
    with pytest.raises(ValueError, match="shape"):
        wasserstein_to_law(np.zeros((5, 3)), C)
    with pytest.raises(ValueError, match="NaN"):
        wasserstein_to_law(np.full((5, 2), np.nan), C)


def test_public_reexport():
    assert mt.metrics.wasserstein_to_law is wasserstein_to_law
