"""Negative controls: each verdict row is shown failing under a deliberately wrong ingredient.

For every claim of these experiments that carries a verdict, the experiment is run on a small
grid twice, without and with the control named in the row's ``control`` column, and the rows go
through :func:`magt_theory.claims.verdicts`: the control run must turn the row
``inconsistent`` (and the clean run must not). Rows without a control are diagnostics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from magt_theory import claims, experiments

GRIDS = {
    "anchor_error": (dict(manifold="circle", K=[64, 256, 1024, 4096], n_queries=64, repeats=1),
                     {"t": [0.003, 0.01, 0.03, 0.1, 0.3], "seed": [0, 1]}),
    "pullback": (dict(manifold="circle", n_w2=300, n_fisher=200, K=2048),
                 {"t": [0.01, 0.03, 0.1, 0.3], "seed": [0, 1]}),
    "alignment": (dict(manifold="helix3d", n=8, n_steps=60),
                  {"sigma_min": [0.001, 0.003, 0.01, 0.03, 0.1], "seed": [0]}),
    "robustness": (dict(manifold="vmf_mixture", eps=[0.001, 0.01], n=32, n_steps=30),
                   {"sigma_min": [0.001, 0.003, 0.01, 0.03], "seed": [0]}),
    "chargen_steps": (dict(manifold="circle", K=[8, 16, 32, 64, 128], n_ref_steps=512,
                           n_eval=500), {"T": [0.9], "seed": [0, 1]}),
}
#: (experiment, control) -> the verdict rows (quantity, filter on direction) it must fail
CASES = [
    ("anchor_error", "fixed_anchors"),
    ("anchor_error", "frozen_sigma"),
    ("pullback", "fisher_denoiser"),
    ("pullback", "independent_latents"),
    ("pullback", "no_crn"),
    ("alignment", "score_scale"),
    ("robustness", "swap_sites"),
    ("chargen_steps", "biased_step"),
]


def _run(exp: str, control: str) -> pd.DataFrame:
    fixed, grid = GRIDS[exp]
    keys = list(grid)
    frames = []
    for a in grid[keys[0]]:
        for b in grid[keys[1]]:
            frames.append(experiments.run(exp, dict(fixed, **{keys[0]: a, keys[1]: b},
                                                    control=control)))
    return pd.concat(frames, ignore_index=True)


_CACHE: dict = {}


def _table(exp: str, control: str) -> pd.DataFrame:
    if (exp, control) not in _CACHE:
        _CACHE[(exp, control)] = claims.verdicts({exp: _run(exp, control)}, n_boot=300)
    return _CACHE[(exp, control)]


def _key(df: pd.DataFrame) -> pd.Series:
    return df[["manifold", "quantity", "direction", "note"]].apply(
        lambda r: (r["manifold"], r["quantity"], r["direction"], str(r["note"]).split(";")[-1]),
        axis=1)


@pytest.mark.parametrize("exp,control", CASES)
def test_control_turns_its_rows_inconsistent(exp, control):
    clean = _table(exp, "none")
    mine = clean[clean["control"] == control]
    assert len(mine), f"no verdict row of {exp} names the control {control!r}"
    assert not (mine["verdict"] == "inconsistent").any(), mine[["quantity", "note"]].to_string()
    bad = _table(exp, control)
    hit = bad[bad["control"] == control]
    assert len(hit) == len(mine)
    assert (hit["verdict"] == "inconsistent").all(), \
        hit[["quantity", "direction", "verdict", "note"]].to_string()


def test_every_verdict_row_names_a_tested_control():
    tested = {c for _, c in CASES}
    for exp in GRIDS:
        tab = _table(exp, "none")
        judged = tab[~tab["verdict"].isin(["diagnostic", "exact"])]
        assert set(judged["control"]) <= tested, (exp, set(judged["control"]))
        assert (judged["control"] != "").all()
        assert (tab.loc[tab["verdict"] == "diagnostic", "control"] == "").all()


def test_pullback_rows_carry_the_direction():
    tab = _table("pullback", "none")
    ratio = tab[tab["quantity"] == "ratio_w2_sqrt_emag"]
    assert set(ratio["direction"]) == {"tangent", "normal", "mixed"}
    assert (tab.loc[tab["quantity"] == "c_pb", "direction"] == "").all()
    lsi = tab[tab["quantity"] == "lsi_ratio"]
    assert set(lsi["direction"]) == {"tangent", "normal", "mixed"}
    assert (lsi["verdict"] == "diagnostic").all()


@pytest.mark.parametrize("manifold", ["circle", "sphere"])
def test_alignment_exact_by_symmetry(manifold):
    """On a uniform law of a homogeneous manifold the flow map's top-d singular vectors span
    the tangent space exactly (rotation equivariance), so sin theta_max is round-off."""
    df = experiments.run("alignment", dict(manifold=manifold, D=3 if manifold == "circle"
                                           else 4, sigma_min=0.01, n=6, n_steps=30))
    sin = df.loc[df["quantity"] == "sin_theta_max_svd", "value"].to_numpy()
    assert sin.size == 1 and 0 <= sin[0] <= 1e-10
    # a law without that symmetry (a von Mises-Fisher mixture) is not exact
    other = experiments.run("alignment", dict(manifold="vmf_mixture", sigma_min=0.01, n=6,
                                              n_steps=30))
    assert other.loc[other["quantity"] == "sin_theta_max_svd", "value"].iloc[0] > 1e-6


def test_unknown_control_is_named():
    for exp in GRIDS:
        with pytest.raises(ValueError, match="control"):
            experiments.run(exp, dict(GRIDS[exp][0], control="bogus"))


# --------------------------------------------------------------------------- pull-back families
@pytest.mark.parametrize("manifold", ["circle", "sphere"])
def test_pullback_families_geometry(manifold):
    """Tangent family stays on M, normal family has no tangent part, RMS displacement = eps."""
    from magt_theory import manifolds
    from magt_theory.experiments import pullback

    M = manifolds.make(manifold, seed=0)
    u = np.random.default_rng(7).standard_normal((4000, M.generator_latent_dim))
    x = M.generator(u)
    eps = 1e-3
    for fam in pullback.FAMILIES:
        y = pullback.make_family(M, fam)(eps)(u)
        dx = y - x
        rms = np.sqrt(np.mean(np.sum(dx**2, 1)))
        # normalised on an independent latent sample: agreement to the Monte Carlo error
        assert rms == pytest.approx(eps, rel=0.05), fam
        T = M.tangent_basis(x)
        tang = np.linalg.norm(np.einsum("nDd,nD->nd", T, dx), axis=1)
        if fam == "tangent":
            assert np.max(M.distance(y)) < 1e-12  # a reparametrisation: on M exactly
        if fam == "normal":
            assert np.max(tang) < 1e-12 * max(1.0, np.max(np.abs(dx)))
        if fam == "mixed":
            assert np.mean(tang) > 0.1 * eps


def test_pullback_fresh_latents_per_t():
    """W2 rows at two levels are independent replicates (not the same latents)."""
    kw = dict(manifold="circle", eps=[0.05], n_w2=200, n_fisher=50, K=256,
              families=["tangent"])
    a = experiments.run("pullback", dict(kw, t=0.1))
    b = experiments.run("pullback", dict(kw, t=0.2))
    wa = a.loc[a["quantity"] == "w2", "value"].iloc[0]
    wb = b.loc[b["quantity"] == "w2", "value"].iloc[0]
    assert wa != wb
    # and the unsmoothed W2 does not depend on t beyond sampling noise (same law)
    assert wa == pytest.approx(wb, rel=0.2)


# --------------------------------------------------------------------------- diagnostics
def _smoothing_frame(curve, seeds=(0, 1, 2, 3)):
    rng = np.random.default_rng(3)
    recs = []
    for t, w in curve.items():
        for s in seeds:
            for q, v in (("w2", w + 0.001 * rng.standard_normal()), ("w2_floor", 0.01)):
                recs.append(dict(experiment="smoothing_level", manifold="circle", d=1, D=4,
                                 seed=s, t=t, quantity=q, value=v))
    return pd.DataFrame(recs)


def test_interior_optimum_is_a_diagnostic_that_keeps_the_rule():
    """No control runs through smoothing_level: a diagnostic, the note says what the rule says
    (resolved interior optimum; optimum at the grid edge)."""
    u = claims.interior_optimum_rows(_smoothing_frame({0.01: 0.3, 0.05: 0.1, 0.2: 0.25}))
    edge = claims.interior_optimum_rows(_smoothing_frame({0.01: 0.1, 0.05: 0.2, 0.2: 0.3}))
    for (row,), rule in ((u, "consistent"), (edge, "inconsistent")):
        assert row["verdict"] == "diagnostic" and row["control"] == ""
        assert f"rule would say {rule}" in row["note"]
    assert "t=0.05" in u[0]["note"] and "t=0.01" in edge[0]["note"]


# --------------------------------------------------------------------------- W1+W2 optimality
def test_step_hj_residual_is_zero_on_the_exact_solution_for_every_step():
    """U = lambda |x|^2 / (2 (C - t)) solves -d_t U + |grad U|^2/(2 lambda) = 0: the Euler path
    of v = -grad U / lambda is straight at constant speed, so the step-integrated residual is
    round-off at every K; U with C + t (the opposite-sign equation) is not."""
    import torch

    from magt_theory.models.proximal_flow import euler_flow, hj_residual_discrete

    lam, T, C = 0.3, 1.0, 1.7
    z = torch.as_tensor(np.random.default_rng(0).standard_normal((200, 3)))
    for sign, K in ((-1, 3), (-1, 16), (1, 8)):
        def U(x, t, s=sign):
            return lam * (x * x).sum(-1) / (2 * (C + s * t))

        def v(x, t, s=sign):
            return -x / (C + s * t)

        _, tr = euler_flow(v, z, T, K, return_trajectory=True)
        r = hj_residual_discrete(U, tr.numpy(), T, lam)
        scale = lam * np.mean(np.sum(np.diff(tr.numpy(), axis=0) ** 2, 2)) / (2 * T / K)
        assert r.shape == (K - 1, 200)
        if sign < 0:
            assert np.max(np.abs(r)) < 1e-12 * max(scale, 1.0)
        else:
            assert np.sqrt(np.mean(r**2)) > 0.05 * scale


def test_exact_gaussian_velocity_against_a_numerical_minimiser():
    """The closed-form W1+W2 optimum from N(0, 1) to N(0, s^2): x_T = a x_0 with a minimising
    KL(N(0, a^2) || N(0, s^2)) + lambda (1 - a)^2 / (2 T), found here by scipy."""
    from scipy.optimize import minimize_scalar

    from magt_theory.experiments.w1w2_checks import exact_gaussian_velocity

    for s, lam, T in ((0.5, 0.05, 1.0), (2.0, 0.7, 0.5), (1.0, 0.3, 1.0)):
        def obj(a):
            return 0.5 * (a * a / s**2 - 1 - np.log(a * a / s**2)) + lam * (1 - a) ** 2 / (2 * T)

        a = minimize_scalar(obj, bounds=(1e-3, 10), method="bounded",
                            options={"xatol": 1e-12}).x
        v = exact_gaussian_velocity([s], lam, T)
        x0 = np.array([[1.3]])
        # v*(x(t), t) at x(t) = (1 - (1 - a) t / T) x0 is the constant (a - 1) x0 / T
        for t in (0.0, 0.4 * T):
            xt = (1 - (1 - a) * t / T) * x0
            # (a bounded scalar minimiser locates a to about sqrt(machine epsilon))
            assert v(xt, t)[0, 0] == pytest.approx((a - 1) * 1.3 / T, rel=1e-6, abs=1e-6)


W1W2_TINY = dict(steps=150, n=500, n_eval=300, width=32)


@pytest.mark.slow
def test_curl_control_turns_the_w1w2_optimality_rows_inconsistent():
    """The W1+W2 optimality rows through the experiment: clean runs are not inconsistent; a
    non-potential rotation added to the kinetic flow's velocity (control "curl") makes both
    the step HJ residual and the straightness deficit exceed the W1-only ablation's. The
    W1-only runs are the same with and without the control (it leaves them as trained)."""
    seeds = (0, 1, 2)
    ref = [experiments.run("w1w2_checks", dict(W1W2_TINY, variant="w1", seed=s))
           for s in seeds]
    again = experiments.run("w1w2_checks", dict(W1W2_TINY, variant="w1", seed=0,
                                                control="curl"))
    keep = ~ref[0]["quantity"].isin(["seconds_train"])
    np.testing.assert_allclose(ref[0].loc[keep, "value"].to_numpy(),
                               again.loc[keep.to_numpy(), "value"].to_numpy())
    verdicts = {}
    for control in ("none", "curl"):
        runs = [experiments.run("w1w2_checks", dict(W1W2_TINY, variant="w1w2", seed=s,
                                                    control=control)) for s in seeds]
        df = pd.concat(ref + runs, ignore_index=True)
        rows = claims.w1w2_optimality_rows(df)
        assert {r["quantity"] for r in rows} == {"hj_residual_step_rel", "straightness"}
        assert all(r["control"] == "curl" for r in rows)
        verdicts[control] = {r["quantity"]: (r["verdict"], r["note"]) for r in rows}
    assert all(v != "inconsistent" for v, _ in verdicts["none"].values()), verdicts
    assert all(v == "inconsistent" for v, _ in verdicts["curl"].values()), verdicts


def test_magt_noise_control_turns_equal_time_inconsistent():
    """MAGT blurred by three times the data's scale: the cheapest diffusion budget already
    beats it in every seed, so the time ratio is an upper bound near 2x, below the claimed 10x.
    (The clean row's verdict is the benchmark's finding, not asserted here.)"""
    kw = dict(n=300, magt_steps=100, score_steps=200, K=32, n_gen=300, n_w2=200, nfe=[2, 4, 8],
              width=32, control="magt_noise")
    # three seeds: the t-interval (2 degrees of freedom) must absorb wall-time noise on a
    # shared machine
    df = pd.concat([experiments.run("equal_time", dict(kw, seed=s)) for s in (0, 1, 2)])
    (row,) = claims.equal_time_rows(df)
    assert row["control"] == "magt_noise"
    assert row["verdict"] == "inconsistent", row["note"]
    assert "3 where the cheapest budget already beats MAGT" in row["note"]


@pytest.mark.slow
def test_shrinking_budget_turns_the_chargen_n_row_inconsistent():
    """CharGen W2 to mu_T vs n: the bound allows a slope up to about 0 over n = 100..1600; a
    budget shrinking like 1/n makes W2 grow with n (inconsistent), the fixed budget does not."""
    kw = dict(steps=200, K=16, width=32, depth=2, n_eval=1000, n_decomp=50, T=0.99)
    out = {}
    for control in ("none", "shrinking_budget"):
        df = pd.concat([experiments.run("chargen_n", dict(kw, n=n, seed=s, control=control))
                        for n in (100, 200, 400, 800, 1600) for s in (0, 1)])
        tab = claims.verdicts({"chargen_n": df}, n_boot=300)
        row = tab[(tab["quantity"] == "w2_T")].iloc[0]
        assert row["control"] == "shrinking_budget"
        out[control] = row
    assert out["none"]["verdict"] != "inconsistent", out["none"]["note"]
    assert out["shrinking_budget"]["verdict"] == "inconsistent", out["shrinking_budget"]["note"]
