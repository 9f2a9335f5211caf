"""The benchmark's claim rows (magt_theory.benchmark_claims): decision logic on synthetic frames
recomputed here, and every row's negative control run through the real experiment (tiny sizes)
and shown to turn the row ``inconsistent``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from magt_theory import analysis, benchmark_claims as bc, experiments

torch.set_num_threads(1)

TINY = dict(n=300, n_valid=100, n_gen=200, n_w2=150, n_scatter=0, width=32, depth=2,
            batch_size=64, t_grid=[0.1], K=32, magt_steps=60, n_select=50, score_steps=60,
            fm_steps=300, wgan_steps=5, chargen_K=8, chargen_steps=20, w1w2_steps=5,
            w1w2_K=3, w2_method="exact", floor_repeats=2)
SENS = dict(n_grid=[60, 120, 240], K_grid=[8, 16, 32], t_grid=[0.1, 0.3, 0.5], n=120, K=16,
            t=0.3, n_gen=150, n_w2=150, width=16, depth=2, batch_size=32, steps=20,
            refine=False, w2_method="exact", floor_repeats=2)


def test_seed_interval_against_scipy():
    v = np.array([0.3, 0.35, 0.28, 0.31, 0.4])
    m, lo, hi = bc.seed_interval(v)
    ref = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert m == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(ref)
    assert bc.seed_interval([1.0])[1:] == (-math.inf, math.inf)
    with pytest.raises(ValueError):
        bc.seed_interval([np.nan])


def _bench_frame(w2, seeds=5, spread=0.01, sec=None):
    rng = np.random.default_rng(0)
    recs = []
    for method, mu in w2.items():
        for s in range(seeds):
            vals = {"w2": mu + spread * rng.standard_normal(), "w2_noise_floor": 0.01,
                    "off_manifold_rate": mu / 10, "under_trained": 0.0,
                    "nfe": 1000 if method == "ddim1000" else 1,
                    "seconds_per_1e4": (sec or {}).get(method, 1.0) * (1 + 0.01 * s)}
            recs += [dict(experiment="benchmark", manifold="moons2d", seed=s, method=method,
                          quantity=q, value=v) for q, v in vals.items()]
    return pd.DataFrame(recs)


@pytest.mark.parametrize("w2,expected", [
    ({"magt": 0.1, "ddim1000": 0.3, "fm20": 0.2}, "consistent"),
    ({"magt": 0.1, "magt_ddim": 0.05, "fm20": 0.2}, "consistent"),  # its own variant is no rival
    ({"magt": 0.2, "ddim1000": 0.205, "fm20": 0.3}, "inconclusive"),
    ({"magt": 0.3, "ddim1000": 0.1, "fm20": 0.31}, "inconsistent"),
])
def test_lowest_rows_decide_only_where_intervals_separate(w2, expected):
    rows = {r["quantity"]: r for r in bc.benchmark_rows(_bench_frame(w2))}
    assert rows["w2"]["verdict"] == expected
    assert rows["w2"]["control"] == "noisy_magt"
    m, lo, hi = bc.seed_interval(_bench_frame(w2).query("method == 'magt' and quantity == 'w2'")
                                 ["value"])
    assert rows["w2"]["ci_low"] == pytest.approx(lo) and rows["w2"]["ci_high"] == pytest.approx(hi)


def test_speed_row_on_synthetic_timings():
    fast = bc.benchmark_rows(_bench_frame({"magt": 0.1, "ddim1000": 0.2},
                                          sec={"magt": 0.01, "ddim1000": 5.0}))
    (row,) = [r for r in fast if r["quantity"] == "seconds_per_1e4"]
    assert row["verdict"] == "consistent" and row["control"] == "slow_magt"
    # every seed's ratio is 5.0 (1 + 0.01 s) / (0.01 (1 + 0.01 s)) = 500: a zero-width interval
    assert row["ci_low"] == pytest.approx(500) and row["ci_high"] == pytest.approx(500)
    slow = bc.benchmark_rows(_bench_frame({"magt": 0.1, "ddim1000": 0.2},
                                          sec={"magt": 1.0, "ddim1000": 5.0}))
    assert [r for r in slow if r["quantity"] == "seconds_per_1e4"][0]["verdict"] == "inconsistent"


def _sens_frame(slope, t_curve, seeds=4):
    rng = np.random.default_rng(1)
    recs = []
    for s in range(seeds):
        for axis, vals in (("n", [100, 300, 1000, 3000]), ("K", [16, 64, 256])):
            for i, v in enumerate(vals):
                w = 0.5 * (v / vals[0]) ** slope * math.exp(0.02 * rng.standard_normal())
                recs.append(dict(experiment="sensitivity", manifold="rings2d", seed=s, axis=axis,
                                 level=i, n=v if axis == "n" else 1000,
                                 K=v if axis == "K" else 64, t=0.3, method="magt",
                                 quantity="w2", value=w))
        for i, (t, w) in enumerate(t_curve.items()):
            recs.append(dict(experiment="sensitivity", manifold="rings2d", seed=s, axis="t",
                             level=i, n=1000, K=64, t=t, method="magt", quantity="w2",
                             value=w + 0.005 * rng.standard_normal()))
    return pd.DataFrame(recs)


def test_sensitivity_rows_on_synthetic_curves():
    good = {(r["swept"]): r for r in bc.sensitivity_rows(
        _sens_frame(-0.5, {0.1: 0.3, 0.3: 0.2, 0.5: 0.25}), n_boot=300)}
    assert good["n"]["verdict"] == "consistent" and good["K"]["verdict"] == "consistent"
    assert good["n"]["fitted_slope"] == pytest.approx(-0.5, abs=0.05)
    assert good["t"]["verdict"] == "consistent"
    flat = {(r["swept"]): r for r in bc.sensitivity_rows(
        _sens_frame(0.0, {0.1: 0.2, 0.3: 0.2, 0.5: 0.3}), n_boot=300)}
    assert flat["n"]["verdict"] == "inconclusive" and flat["t"]["verdict"] == "inconclusive"
    bad = {(r["swept"]): r for r in bc.sensitivity_rows(
        _sens_frame(0.3, {0.1: 0.1, 0.3: 0.2, 0.5: 0.3}), n_boot=300)}
    assert bad["n"]["verdict"] == "inconsistent" and bad["t"]["verdict"] == "inconsistent"
    assert list(bc.rows({"sensitivity": _sens_frame(-0.5, {0.1: 0.3, 0.3: 0.2, 0.5: 0.25})})
                .columns) == analysis.VERDICT_COLUMNS


# ---------------------------------------------------------------- negative controls, real runs
def _bench(method, control="none", seeds=(0, 1, 2)):
    return pd.concat([experiments.run("benchmark", dict(TINY, manifold="moons2d", method=method,
                                                        seed=s, control=control))
                      for s in seeds], ignore_index=True)


def test_noisy_magt_control_turns_lowest_rows_inconsistent():
    df = pd.concat([_bench("magt", "noisy_magt"), _bench("fm20")], ignore_index=True)
    rows = {r["quantity"]: r for r in bc.benchmark_rows(df)}
    assert rows["w2"]["verdict"] == "inconsistent", rows["w2"]["note"]
    assert rows["off_manifold_rate"]["verdict"] == "inconsistent", rows["off_manifold_rate"]["note"]


def test_slow_magt_control_turns_speed_row_inconsistent():
    tiny = dict(TINY, n_gen=100, n_w2=100)
    df = pd.concat([experiments.run("benchmark", dict(tiny, manifold="moons2d", method=m, seed=s,
                                                      control="slow_magt"))
                    for m in ("magt", "ddim1000") for s in (0, 1, 2)], ignore_index=True)
    (row,) = [r for r in bc.benchmark_rows(df) if r["quantity"] == "seconds_per_1e4"]
    assert row["verdict"] == "inconsistent", row["note"]


def test_growing_noise_control_turns_sensitivity_rows_inconsistent():
    df = pd.concat([experiments.run("sensitivity", dict(SENS, manifold="rings2d", axis=a,
                                                        level=i, seed=s,
                                                        control="growing_noise"))
                    for a in ("n", "K", "t") for i in range(3) for s in (0, 1, 2)],
                   ignore_index=True)
    rows = {r["swept"]: r for r in bc.sensitivity_rows(df, n_boot=300)}
    for axis in ("n", "K", "t"):
        assert rows[axis]["verdict"] == "inconsistent", (axis, rows[axis]["note"])
