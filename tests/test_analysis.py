"""Tests of magt_theory.analysis: slope fits, bootstrap CIs, verdict logic, verdict table.

Independent references: the OLS standard error formula, per-seed linregress slopes (whose mean
equals the pooled slope in a balanced design, so the cluster bootstrap is the bootstrap of a
mean), coverage over repeated synthetic data sets, and hand-derived slopes.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from magt_theory import analysis
from magt_theory.analysis import VERDICT_COLUMNS, FitResult, fit_slope, verdict, verdict_rows

SEED = 12345


def _fit(slope, lo, hi):
    return FitResult(slope=slope, intercept=0.0, ci_low=lo, ci_high=hi, n_points=10,
                     n_groups=None, stderr=0.0, level=0.95, method="pairs", n_boot=2000)


# ---------------------------------------------------------------------------------------------
# fit_slope
# ---------------------------------------------------------------------------------------------
def test_fit_slope_recovers_power_law():
    rng = np.random.default_rng(SEED)
    x = np.repeat(np.geomspace(10, 1e4, 10), 6)
    noise = 0.1
    y = 2.0 * x**-0.7 * np.exp(noise * rng.standard_normal(x.size))
    res = fit_slope(x, y, n_boot=2000, seed=1)
    lx = np.log(x)
    se = noise / np.sqrt(np.sum((lx - lx.mean()) ** 2))  # exact OLS standard error
    assert abs(res.slope + 0.7) < 5 * se
    assert res.ci_low < -0.7 < res.ci_high
    assert res.intercept == pytest.approx(np.log(2.0), abs=5 * noise / np.sqrt(x.size) * 4)
    assert res.n_points == x.size and res.method == "pairs" and res.n_groups is None
    # the percentile CI width is close to the normal-theory width 2 * 1.96 * se
    assert (res.ci_high - res.ci_low) == pytest.approx(2 * 1.96 * se, rel=0.25)
    # deterministic given the seed
    assert fit_slope(x, y, n_boot=2000, seed=1) == res


def test_fit_slope_ci_coverage():
    """Over 200 independent data sets the 95% CI covers the true slope ~95% of the time."""
    rng = np.random.default_rng(SEED + 1)
    x = np.repeat(np.geomspace(1, 100, 10), 3)
    hits, reps = 0, 200
    for r in range(reps):
        y = 3.0 * x**-1.3 * np.exp(0.2 * rng.standard_normal(x.size))
        res = fit_slope(x, y, n_boot=400, seed=r)
        hits += res.ci_low <= -1.3 <= res.ci_high
    cover = hits / reps
    se = np.sqrt(0.95 * 0.05 / reps)
    # pairs bootstrap slightly under-covers at 30 points; 5 standard errors below nominal
    assert 0.95 - 5 * se < cover <= 1.0


def test_cluster_bootstrap_uses_groups():
    """Per-seed random slopes: the cluster CI is the bootstrap of the mean per-seed slope."""
    rng = np.random.default_rng(SEED + 2)
    G, xs = 20, np.geomspace(10, 1e4, 8)
    seed_slopes = -0.5 + 0.1 * rng.standard_normal(G)
    x = np.tile(xs, G)
    g = np.repeat(np.arange(G), xs.size)
    x_mid = np.exp(np.mean(np.log(xs)))  # seed lines pivot at the centre: no intercept effect
    y = 2.0 * (x / x_mid) ** seed_slopes[g] * np.exp(0.01 * rng.standard_normal(x.size))
    per_seed = np.array([stats.linregress(np.log(xs), np.log(y[g == k])).slope for k in range(G)])
    clus = fit_slope(x, y, n_boot=4000, seed=3, groups=g)
    pairs = fit_slope(x, y, n_boot=4000, seed=3)
    assert clus.method == "cluster" and clus.n_groups == G
    # balanced design: pooled OLS slope = mean of per-seed slopes
    assert clus.slope == pytest.approx(per_seed.mean(), abs=1e-12)
    se_mean = per_seed.std(ddof=0) / np.sqrt(G)
    assert (clus.ci_high - clus.ci_low) == pytest.approx(2 * 1.96 * se_mean, rel=0.15)
    assert clus.ci_low < -0.5 < clus.ci_high
    # pairs treat the 160 points as independent: with seed-level random slopes their variance is
    # ~ S4 / S2^2 ~ 0.22 of the true one (sandwich formula over the 8 log-x values)
    assert (pairs.ci_high - pairs.ci_low) < 0.6 * (clus.ci_high - clus.ci_low)
    # labels of any type work (same sort order -> same resamples)
    relabeled = fit_slope(x, y, n_boot=4000, seed=3, groups=np.array([f"s{k:02d}" for k in g]))
    assert relabeled.ci_low == pytest.approx(clus.ci_low) and relabeled.ci_high == pytest.approx(clus.ci_high)


def test_ratefit_wrapper():
    x = np.geomspace(1, 1e3, 12)
    y = 5.0 * x**-0.25 * np.exp(0.01 * np.sin(np.arange(12)))
    rf = analysis.RateFit(n_boot=500, seed=0).fit(x, y)
    assert rf.slope_ == pytest.approx(stats.linregress(np.log(x), np.log(y)).slope, abs=1e-12)
    assert rf.ci_[0] <= rf.slope_ <= rf.ci_[1]
    assert np.allclose(rf.predict(x), np.exp(rf.intercept_) * x**rf.slope_)
    with pytest.raises(ValueError, match="not fitted"):
        analysis.RateFit().predict(x)


def test_fit_slope_rejects_bad_input():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    with pytest.raises(ValueError, match=r"^y must be > 0.*log of a non-positive"):
        fit_slope(x, np.array([1.0, 0.0, 0.5, 0.2]))
    with pytest.raises(ValueError, match=r"^x must be > 0"):
        fit_slope(np.array([-1.0, 2.0, 4.0, 8.0]), x)
    with pytest.raises(ValueError, match="NaN"):
        fit_slope(x, np.array([1.0, np.nan, 0.5, 0.2]))
    with pytest.raises(ValueError, match="same length"):
        fit_slope(x, x[:3])
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_slope(x[:2], x[:2])
    with pytest.raises(ValueError, match="2 distinct"):
        fit_slope(np.ones(4), x)
    with pytest.raises(ValueError, match="level"):
        fit_slope(x, x, level=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        fit_slope(x, x, n_boot=10)
    with pytest.raises(ValueError, match="groups must hold at least 2"):
        fit_slope(x, x, groups=np.zeros(4))
    with pytest.raises(ValueError, match="groups must have shape"):
        fit_slope(x, x, groups=np.zeros(3))


# ---------------------------------------------------------------------------------------------
# verdict
# ---------------------------------------------------------------------------------------------
def test_verdict_rate():
    # allowed [p - b, p + b] = [-0.55, -0.45]; CI [-0.53, -0.47] inside: consistent
    v, tight, note = verdict(_fit(-0.5, -0.53, -0.47), -0.5, "rate", band=0.05, var="n")
    assert (v, tight) == ("consistent", False) and "rate confirmed" in note and "in n" in note
    # inside the half band [-0.525, -0.475]: tight
    assert verdict(_fit(-0.5, -0.52, -0.48), -0.5, "rate", band=0.05)[:2] == ("consistent", True)
    # CI overlaps the allowed interval and sticks out: neither confirmed nor excluded
    v, tight, note = verdict(_fit(-0.48, -0.52, -0.44), -0.5, "rate", band=0.05)
    assert (v, tight) == ("inconclusive", False) and "not inside" in note
    # CI misses the allowed interval: excluded
    v, tight, note = verdict(_fit(-0.40, -0.43, -0.37), -0.5, "rate", band=0.05)
    assert (v, tight) == ("inconsistent", False) and "excluded" in note
    # a wide CI that covers p is inconclusive; a max width never rescues it
    assert verdict(_fit(-0.6, -0.9, -0.3), -0.5, "rate", band=0.05)[0] == "inconclusive"
    assert verdict(_fit(-0.6, -0.9, -0.3), -0.5, "rate", band=0.5, max_ci_width=0.2)[0] == \
        "inconclusive"
    assert verdict(_fit(-0.6, -0.9, -0.3), -0.5, "rate", band=0.5)[0] == "consistent"
    # mapping input works too
    assert verdict({"slope": -0.5, "ci_low": -0.51, "ci_high": -0.49}, -0.5, "rate")[0] == \
        "consistent"


def test_verdict_issue_counterexamples():
    """The two cases a width-first rule called inconclusive are decisive: inconsistent."""
    # a bound of slope -1 (n -> oo) against a measured +1 [0.7, 1.3]
    v, tight, note = verdict(_fit(1.0, 0.7, 1.3), -1.0, "bound", band=0.1, direction="large")
    assert (v, tight) == ("inconsistent", False) and "violated" in note
    # a rate of 0 against a measured -1.75 [-2.0, -1.5]
    v, tight, _ = verdict(_fit(-1.75, -2.0, -1.5), 0.0, "rate", band=0.1)
    assert (v, tight) == ("inconsistent", False)
    # however wide the CI, as long as it excludes what the claim allows
    assert verdict(_fit(5.0, 0.7, 30.0), -1.0, "bound", band=0.1)[0] == "inconsistent"
    assert verdict(_fit(-5.0, -30.0, -1.5), 0.0, "rate", band=0.1,
                   max_ci_width=0.1)[0] == "inconsistent"


def test_verdict_bound_large_direction():
    # bound ~ n^-0.5 as n -> oo; measured decays faster (-1): holds, loose by n^0.5
    v, tight, note = verdict(_fit(-1.0, -1.05, -0.95), -0.5, "bound", band=0.1, direction="large", var="n")
    assert (v, tight) == ("consistent", False)
    assert "loose" in note and "n^0.5" in note and "n -> oo" in note
    # measured decays slower (-0.2) than the bound (-0.5): violated as n -> oo
    v, tight, note = verdict(_fit(-0.2, -0.25, -0.15), -0.5, "bound", band=0.1, direction="large", var="n")
    assert (v, tight) == ("inconsistent", False) and "violated" in note
    # slopes agree: holds and tight
    v, tight, note = verdict(_fit(-0.52, -0.56, -0.48), -0.5, "bound", band=0.1, direction="large")
    assert (v, tight) == ("consistent", True) and "tight" in note
    # within band above the bound is not a violation
    assert verdict(_fit(-0.35, -0.38, -0.32), -0.5, "bound", band=0.2, direction="large")[0] == "consistent"
    # the CI straddles the allowed edge p + b = -0.4: inconclusive
    v, _, note = verdict(_fit(-0.4, -0.6, -0.2), -0.5, "bound", band=0.1)
    assert v == "inconclusive" and "straddles" in note
    # a very wide CI entirely on the allowed side confirms the bound
    assert verdict(_fit(-3.0, -6.0, -0.6), -0.5, "bound", band=0.1)[:2] == ("consistent", False)


def test_verdict_bound_small_direction():
    # bound ~ sigma^-5 as sigma -> 0; measured blows up like sigma^-2.1: holds, loose by sigma^-2.9
    fit = _fit(-2.1, -2.3, -1.9)
    v, tight, note = verdict(fit, -5.0, "bound", band=0.2, direction="small", var="sigma")
    assert (v, tight) == ("consistent", False)
    assert note.startswith("bound holds but is loose: measured slope -2.1 [-2.3, -1.9] vs bound -5 in sigma")
    assert "sigma^-2.9" in note and "sigma -> 0" in note
    # the same fit against a bound that matters as sigma -> oo would be violated
    assert verdict(fit, -5.0, "bound", band=0.2, direction="large")[0] == "inconsistent"
    # measured blows up faster (-6) than the bound (-5) as sigma -> 0: violated
    v, tight, note = verdict(_fit(-6.0, -6.2, -5.8), -5.0, "bound", band=0.2, direction="small", var="sigma")
    assert (v, tight) == ("inconsistent", False) and "violated" in note
    v, tight, _ = verdict(_fit(-5.05, -5.2, -4.9), -5.0, "bound", band=0.2, direction="small")
    assert (v, tight) == ("consistent", True)
    assert verdict(_fit(-5.0, -5.5, -4.5), -5.0, "bound", band=0.2, direction="small")[0] == \
        "inconclusive"


def test_verdict_rejects_bad_arguments():
    fit = _fit(-1.0, -1.1, -0.9)
    with pytest.raises(ValueError, match="claim"):
        verdict(fit, -1.0, "guess")
    with pytest.raises(ValueError, match="direction"):
        verdict(fit, -1.0, "bound", direction="up")
    with pytest.raises(ValueError, match="band"):
        verdict(fit, -1.0, "rate", band=-0.1)
    with pytest.raises(ValueError, match="max_ci_width"):
        verdict(fit, -1.0, "rate", band=0.0, max_ci_width=0.0)
    with pytest.raises(ValueError, match="predicted"):
        verdict(fit, float("nan"), "rate")
    with pytest.raises(ValueError, match="ci_low <= ci_high"):
        verdict(_fit(-1.0, -0.9, -1.1), -1.0, "rate")
    with pytest.raises(TypeError, match="slope"):
        verdict(object(), -1.0, "rate")


# ---------------------------------------------------------------------------------------------
# verdict_rows
# ---------------------------------------------------------------------------------------------
MANIFOLDS = [("circle", 1, 2), ("sphere", 2, 3)]


def _anchor_df(rng, sigmas=(0.1,)):
    """anchor_mse ~ 3/K * sigma^-2 (a VE-like slope of -2 in sigma), ess = K sigma^d."""
    rows = []
    for man, d, D in MANIFOLDS:
        for seed in range(5):
            for K in (64, 128, 256, 512, 1024, 2048):
                for s in sigmas:
                    base = dict(experiment="anchor", manifold=man, d=d, D=D, seed=seed, K=K,
                                sigma=s, alpha=1.0)
                    mse = 3.0 / K * s**-2 * np.exp(0.05 * rng.standard_normal())
                    rows.append({**base, "quantity": "anchor_mse", "value": mse})
                    rows.append({**base, "quantity": "ess", "value": 0.8 * K * s**d
                                 * np.exp(0.02 * rng.standard_normal())})
    return pd.DataFrame(rows)


def _w2_df(rng):
    """w2 = n^-1/2 above a noise floor 0.02 (reached at n = 2500), with the floor rows."""
    rows = []
    for man, d, D in MANIFOLDS[:1]:
        for seed in range(4):
            for n in (10, 40, 160, 640, 2560, 10240):
                base = dict(experiment="sample_rate", manifold=man, d=d, D=D, seed=seed, n=n)
                w2 = max(n**-0.5, 0.02) * np.exp(0.03 * rng.standard_normal())
                rows.append({**base, "quantity": "w2", "value": w2})
                rows.append({**base, "quantity": "w2_noise_floor", "value": 0.02})
    return pd.DataFrame(rows)


def test_verdict_rows_schema_and_verdicts():
    rng = np.random.default_rng(SEED)
    df = _anchor_df(rng, sigmas=(0.05, 0.1, 0.2, 0.4))
    specs = [
        dict(experiment="anchor", quantity="anchor_mse", swept="K", bound="anchor_mc",
             filter={"sigma": 0.1}, control="c1"),
        dict(experiment="anchor", quantity="anchor_mse", swept="sigma", bound="anchor_mc",
             filter={"K": 256}, band=0.2, control="c2"),
        analysis.VerdictSpec(experiment="anchor", quantity="ess", swept="sigma", bound="ess",
                             filter={"K": 1024}, control="c3"),
    ]
    out = verdict_rows(df, specs, n_boot=1000)
    assert list(out.columns) == VERDICT_COLUMNS
    assert len(out) == 6 and out["tight"].dtype == bool
    k_rows = out[out["swept"] == "K"]
    assert np.allclose(k_rows["predicted_slope"], -1.0, atol=1e-12)
    assert (k_rows["verdict"] == "consistent").all() and k_rows["tight"].all()
    assert (k_rows["source"] == "MAGT Lemma 1").all() and (k_rows["claim"] == "bound").all()
    # MSE ~ sigma^-2 vs bound sigma^-(d+4): holds as sigma -> 0, loose by sigma^-(d+2)
    s_rows = out[(out["swept"] == "sigma") & (out["quantity"] == "anchor_mse")].set_index("manifold")
    assert s_rows.loc["circle", "predicted_slope"] == pytest.approx(-5.0, abs=1e-12)
    assert s_rows.loc["sphere", "predicted_slope"] == pytest.approx(-6.0, abs=1e-12)
    assert (s_rows["verdict"] == "consistent").all() and not s_rows["tight"].any()
    assert "loose" in s_rows.loc["circle", "note"]
    assert re.search(r"loose by sigma\^-(2\.9|3)", s_rows.loc["circle", "note"])
    assert s_rows.loc["circle", "fitted_slope"] == pytest.approx(-2.0, abs=0.1)
    # ESS ~ K sigma^d: a rate with slope d from the manifold's d
    e_rows = out[out["quantity"] == "ess"].set_index("manifold")
    assert np.allclose(e_rows.loc[["circle", "sphere"], "predicted_slope"], [1.0, 2.0], atol=1e-12)
    assert (e_rows["verdict"] == "consistent").all() and (e_rows["claim"] == "rate").all()
    assert set(out["control"]) == {"c1", "c2", "c3"} and (out["direction"] == "").all()
    # without a control the same rows are diagnostics: the fit is kept, no verdict
    diag = verdict_rows(df, [dict(specs[0], control=None)], n_boot=1000)
    assert (diag["verdict"] == "diagnostic").all() and (diag["control"] == "").all()
    assert np.allclose(diag["fitted_slope"], k_rows["fitted_slope"])
    assert diag["note"].str.contains("rule would say consistent").all()


def test_verdict_rows_noise_floor_and_local_slope():
    rng = np.random.default_rng(SEED + 5)
    df = _w2_df(rng)
    spec = dict(experiment="sample_rate", quantity="w2", swept="n", bound="empirical_w",
                floor_quantity="w2_noise_floor", control="c")
    with pytest.raises(ValueError, match="floor_factor must be >= 3"):
        verdict_rows(df, [dict(spec, floor_factor=1.5)])
    row = verdict_rows(df, [spec], n_boot=1000).iloc[0]
    # n = 2560 (w2 = 0.0198) and 10240 (0.02) sit at the floor and are dropped, and so is
    # n = 640 (w2 = 0.0395 < 3 x 0.02)
    assert "excluded 3 of 6 n values" in row["note"] and "640, 2560, 10240" in row["note"]
    assert row["verdict"] == "consistent" and row["tight"]
    assert row["fitted_slope"] == pytest.approx(-0.5, abs=0.05)
    # without the floor the plateau flattens the fit and the rate is rejected
    row2 = verdict_rows(df, [dict(spec, floor_quantity=None, band=0.05)], n_boot=1000).iloc[0]
    assert row2["verdict"] == "inconsistent" and row2["fitted_slope"] > -0.45
    # d = 2: predicted = local slope -1/2 + 1/(2 log n) at the geometric mean of the fitted n
    df2 = df.assign(d=2)
    row3 = verdict_rows(df2, [dict(spec, predicted="local")], n_boot=1000).iloc[0]
    n_mid = np.exp(np.mean(np.log([10, 40, 160])))
    assert row3["predicted_slope"] == pytest.approx(-0.5 + 1 / (2 * np.log(n_mid)), rel=1e-12)
    assert "local slope" in row3["note"]
    # default: the bound's own slope over the fitted n = OLS slope of log sqrt(log n / n)
    row5 = verdict_rows(df2, [spec], n_boot=1000).iloc[0]
    lx = np.log([10.0, 40.0, 160.0])
    expect = stats.linregress(lx, 0.5 * (np.log(lx) - lx)).slope
    assert row5["predicted_slope"] == pytest.approx(expect, rel=1e-10)
    assert "asymptotic exponent -0.5" in row5["note"]
    row4 = verdict_rows(df2, [dict(spec, predicted="asymptotic")], n_boot=1000).iloc[0]
    assert row4["predicted_slope"] == -0.5


def test_verdict_rows_fit_range_and_too_few_points():
    rng = np.random.default_rng(SEED + 6)
    df = _w2_df(rng)
    spec = dict(experiment="sample_rate", quantity="w2", swept="n", bound="empirical_w",
                fit_range=(None, 640), control="c")
    row = verdict_rows(df, [spec], n_boot=500).iloc[0]
    assert "fit range" in row["note"] and row["verdict"] == "consistent"
    few = verdict_rows(df, [dict(spec, fit_range=(100, 700))], n_boot=500).iloc[0]
    assert few["verdict"] == "inconclusive" and np.isnan(few["fitted_slope"]) and not few["tight"]
    assert "too few points" in few["note"]


def test_verdict_rows_errors_and_grouping():
    rng = np.random.default_rng(SEED + 7)
    df = _anchor_df(rng, sigmas=(0.1, 0.2))
    spec = dict(experiment="anchor", quantity="anchor_mse", swept="K", bound="anchor_mc")
    # sigma varies at fixed K: averaging over it would be wrong
    with pytest.raises(ValueError, match="column 'sigma' takes several values"):
        verdict_rows(df, [spec], n_boot=200)
    by_sigma = verdict_rows(df, [dict(spec, group_by=["sigma"])], n_boot=200)
    assert len(by_sigma) == 4 and by_sigma["note"].str.contains("sigma=0.1").sum() == 2
    with pytest.raises(ValueError, match="no rows"):
        verdict_rows(df, [dict(spec, quantity="w2")], n_boot=200)
    assert verdict_rows(df, [dict(spec, quantity="w2")], n_boot=200, on_missing="warn").empty
    # a filter that keeps nothing is a missing spec too (not a KeyError)
    with pytest.raises(ValueError, match="no rows"):
        verdict_rows(df, [dict(spec, filter={"K": [3]})], n_boot=200)
    assert verdict_rows(df, [dict(spec, filter={"K": [3]})], on_missing="warn").empty
    with pytest.raises(ValueError, match="unknown spec key"):
        verdict_rows(df, [dict(spec, bandd=0.1)])
    with pytest.raises(ValueError, match="unknown bound"):
        verdict_rows(df, [dict(spec, bound="anchor_mcc")])
    with pytest.raises(ValueError, match="not a symbol of bound"):
        verdict_rows(df, [dict(spec, swept="n")])
    with pytest.raises(ValueError, match="filter column"):
        verdict_rows(df, [dict(spec, filter={"tau": 1})])
    with pytest.raises(ValueError, match="lacks required column"):
        verdict_rows(df.drop(columns="seed"), [spec])
    zero = df[df["sigma"] == 0.1].copy()
    zero.loc[zero.index[0], "value"] = 0.0
    with pytest.raises(ValueError, match="y must be > 0"):
        verdict_rows(zero, [spec], n_boot=200)


def test_package_reexports_the_names_of_the_former_module():
    """``analysis`` is a package of private modules; the names the rest of the code imports are
    re-exported from it and are the objects its private modules define."""
    from magt_theory.analysis import _fit, _spec, _table, _verdict

    where = {_fit: ["FitResult", "fit_slope", "t_interval", "RateFit", "MIN_CLUSTERS"],
             _verdict: ["verdict", "VERDICTS", "ERROR_DIRECTIONS"],
             _spec: ["VerdictSpec"], _table: ["verdict_rows", "VERDICT_COLUMNS"]}
    for module, names in where.items():
        for name in names:
            assert getattr(analysis, name) is getattr(module, name), name
            assert name in analysis.__all__, name
