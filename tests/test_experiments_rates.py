"""MAGT rate experiments (sample_size, ambient_dim, memorisation): training budget, convergence
flag, the n = infinity control, the claim rows, and the negative controls that turn them
inconsistent (run through the same experiments and claims)."""

import numpy as np
import pandas as pd
import pytest

from magt_theory import claims, experiments
from magt_theory.experiments._training import budget_steps, convergence

#: a small but converging training budget (about 2.5 s per job; the n = infinity control
#: reaches W2 ~ 0.05 on the circle at 1200 steps, 0.03 at the plateau from 2000 on): the
#: small-sample generators of the shrinking_data control then sit clearly above the control
SMALL = dict(manifold="circle", D=3, t=0.1, K=128, width=64, depth=3, batch_size=128,
             epochs=1, min_steps=1200, max_steps=1200, n_gen=4000)


def _run(name, grid, **fixed):
    frames = []
    for params in grid:
        frames.append(experiments.run(name, dict(SMALL, **fixed, **params)))
    return pd.concat(frames, ignore_index=True)


def test_budget_scales_with_n_and_is_clipped():
    assert budget_steps(10_000, 20, 128, 400, 2000) == 1562
    assert budget_steps(100, 20, 128, 400, 2000) == 400
    assert budget_steps(10**6, 20, 128, 400, 2000) == 2000
    assert budget_steps(0, 20, 128, 400, 2000) == 2000  # the n = infinity control


def test_convergence_flags_a_falling_loss_only():
    rng = np.random.default_rng(0)
    flat = 1.0 + 0.05 * rng.standard_normal(500)
    falling = np.linspace(2.0, 1.0, 500) + 0.05 * rng.standard_normal(500)
    assert convergence(flat, 0.02)[1] == 0
    drop, flag = convergence(falling, 0.02)
    # independent: relative drop of the window means (last fifth vs the fifth before it)
    expect = (falling[300:400].mean() - falling[400:].mean()) / falling[400:].mean()
    assert drop == pytest.approx(expect) and flag == 1


def test_infinity_control_rows_and_finite_n_rows():
    inf = experiments.run("sample_size", dict(SMALL, n=0, min_steps=20, max_steps=20, seed=1))
    fin = experiments.run("sample_size", dict(SMALL, n=50, min_steps=20, max_steps=20, seed=1))
    qi, qf = set(inf["quantity"]), set(fin["quantity"])
    assert {"w2", "w2_lower", "w2_upper", "w2_floor", "steps", "under_trained"} <= qi
    assert "w2_empirical" not in qi and {"w2_empirical", "w2_train"} <= qf
    v = dict(zip(fin["quantity"], fin["value"]))
    assert v["w2_lower"] <= v["w2"] <= v["w2_upper"]
    assert v["w2_train"] == v["w2_empirical"]  # no control: the generator saw every point
    with pytest.raises(ValueError, match=r"n must be an integer >= 0, not 1 \(training sample size"):
        experiments.run("sample_size", dict(SMALL, n=1))
    with pytest.raises(ValueError, match="control must be"):
        experiments.run("sample_size", dict(SMALL, control="bogus"))


def _synthetic(exponent, seeds=5, ns=(100, 300, 1000, 3000, 10000), d=1, D=8, noise=0.03):
    """Tidy rows whose excess over the control follows 0.5 n^exponent (lognormal noise)."""
    rng = np.random.default_rng(1)
    rows = []
    base = dict(experiment="sample_size", manifold="circle", d=d, D=D, control="none")
    for s in range(seeds):
        rows.append(dict(base, seed=s, n=0, quantity="w2", value=0.03))
        for n in ns:
            ex = 0.5 * n**exponent * np.exp(noise * rng.standard_normal())
            rows += [dict(base, seed=s, n=n, quantity="w2", value=0.03 + ex),
                     dict(base, seed=s, n=n, quantity="w2_train",
                          value=0.4 * n**-0.5 * np.exp(noise * rng.standard_normal())),
                     dict(base, seed=s, n=n, quantity="under_trained", value=0.0)]
    return pd.DataFrame(rows)


def test_rate_rows_on_synthetic_excess():
    """An excess falling like n^-0.5 satisfies the Corollary 2 bound; one growing like n^0.1
    violates it; the fitted slope is the OLS slope of the excess (independent polyfit)."""
    good = claims.rate_rows(_synthetic(-0.5), "sample_size", n_boot=300)
    row = next(r for r in good if r["quantity"] == "w2_excess")
    df = _synthetic(-0.5)
    w = df[df["quantity"] == "w2"]
    ex = w[w["n"] > 0].groupby("n")["value"].mean() - 0.03
    assert row["fitted_slope"] == pytest.approx(np.polyfit(np.log(ex.index), np.log(ex), 1)[0],
                                                abs=0.01)
    assert row["verdict"] == "consistent" and row["control"] == "shrinking_data"
    emp = next(r for r in good if r["quantity"] == "w2_train")
    assert emp["verdict"] == "consistent"
    bad = claims.rate_rows(_synthetic(0.1), "sample_size", n_boot=300)
    assert next(r for r in bad if r["quantity"] == "w2_excess")["verdict"] == "inconsistent"


def test_ambient_slope_difference_on_synthetic_rows():
    """Same excess slope at D = 2 and D = 512: difference consistent with 0; an excess that is
    flat at D = 512: inconsistent."""
    same = pd.concat([_synthetic(-0.5, D=2), _synthetic(-0.5, D=512)]).assign(
        experiment="ambient_dim")
    rows = claims.ambient_slope_rows(same, n_boot=300)
    diff = next(r for r in rows if r["quantity"] == "slope_diff")
    assert diff["verdict"] == "consistent" and abs(diff["fitted_slope"]) < 0.05
    flat = pd.concat([_synthetic(-0.5, D=2), _synthetic(0.0, D=512)]).assign(
        experiment="ambient_dim")
    diff = next(r for r in claims.ambient_slope_rows(flat, n_boot=300)
                if r["quantity"] == "slope_diff")
    assert diff["verdict"] == "inconsistent" and diff["fitted_slope"] > 0.4


@pytest.mark.slow
def test_shrinking_data_control_turns_the_sample_size_rows_inconsistent():
    """Negative control: the finite-n generator trained on round(100^2 / n) points (100, 50,
    25, 12): its error grows with n, so the Corollary 2 bound row and the empirical-rate row of
    the points it saw turn inconsistent."""
    grid = [dict(n=n, seed=s) for n in (0, 100, 200, 400, 800) for s in (0, 1, 2, 3)]
    df = _run("sample_size", grid, control="shrinking_data")
    rows = {r["quantity"]: r for r in claims.rate_rows(df, "sample_size", n_boot=300)}
    assert rows["w2_excess"]["verdict"] == "inconsistent", rows["w2_excess"]["note"]
    assert rows["w2_train"]["verdict"] == "inconsistent", rows["w2_train"]["note"]


@pytest.mark.slow
def test_ambient_blur_control_turns_the_ambient_rows_inconsistent():
    """Negative control: a normal error of RMS blur log2(D/2) (n/100)^{1/2} in the finite-n
    generators: at D = 64 the excess grows with n, so its slope differs from D = 2's
    (difference row inconsistent)."""
    grid = [dict(n=n, seed=s, D=D) for D in (2, 64) for n in (0, 100, 200, 400, 800)
            for s in (0, 1, 2, 3)]
    df = _run("ambient_dim", grid, control="ambient_blur", blur=0.05, t=0.1)
    rows = claims.ambient_slope_rows(df, n_boot=300)
    diff = next(r for r in rows if r["quantity"] == "slope_diff")
    assert diff["verdict"] == "inconsistent", diff["note"]


@pytest.mark.slow
def test_shrinking_data_control_turns_the_memorisation_row_inconsistent():
    """MAGT trained on round(100^2 / n) points, against the empirical measure of all n: the
    slope difference exceeds the predicted one (d = 1, flat torus with one circle)."""
    grid = [dict(n=n, seed=s) for n in (0, 100, 200, 400, 800) for s in (0, 1)]
    df = _run("memorisation", grid, manifold="flat_torus", k=1, D=None,
              control="shrinking_data")
    rows = claims.memorisation_rows(df, n_boot=300)
    row = next(r for r in rows if r["quantity"] == "slope_magt_minus_emp")
    assert row["verdict"] == "inconsistent", row["note"]
