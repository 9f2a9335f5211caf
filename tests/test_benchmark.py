"""Benchmark reproduction: experiment rows, seed-claim experiments, table builder, verdict rows,
configs and the workflow wiring (magt_theory.experiments.benchmark, chargen_steps, chargen_n,
w1w2_checks, equal_time; magt_theory.benchmark_report; magt_theory.claims).

The table builder and the verdict rows are checked on synthetic tidy frames whose summaries are
recomputed here with numpy; the Euler-order experiment is checked against the first-order slope.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from magt_theory import benchmark_report as br
from magt_theory import claims, cli, experiments, workflow
from magt_theory.experiments import benchmark as bm

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflows/config/schema.json"
LEAD = ["experiment", "manifold", "d", "D", "seed"]

TINY = dict(n=200, n_valid=100, n_gen=100, n_w2=80, n_scatter=20, width=16, depth=2,
            batch_size=64, t_grid=[0.1, 0.3], K=32, magt_steps=10, n_select=50, score_steps=20,
            fm_steps=20, wgan_steps=5, chargen_K=8, chargen_steps=20, w1w2_steps=5, w1w2_K=3)
EXPECTED_NFE = {"magt": 1, "magt_ddim": 7, "ddim1000": 1000, "dpmpp20": 20, "dpmpp40": 40,
                "fm20": 20, "wgan_gp": 1, "chargen": 1, "w1w2": 3}


# ----------------------------------------------------------------------- experiment rows
@pytest.mark.parametrize("method", bm.METHODS)
def test_benchmark_rows_schema(method):
    df = experiments.run("benchmark", dict(TINY, method=method, manifold="helix3d", seed=1))
    assert list(df.columns[:5]) == LEAD
    assert list(df.columns[-2:]) == ["quantity", "value"]
    assert (df["experiment"] == "benchmark").all() and (df["method"] == method).all()
    assert (df["d"] == 1).all() and (df["D"] == 3).all()
    q = df.set_index("quantity")["value"]
    for name in ("w2", "w2_sq", "w2_rel", "diameter", "w2_noise_floor", "off_manifold_rate",
                 "nfe", "seconds_per_1e4", "seconds_train", "under_trained", "grad_steps"):
        assert np.isfinite(q[name]) and q[name] >= 0
    assert 0 <= q["off_manifold_rate"] <= 1
    assert q["w2_sq"] == pytest.approx(q["w2"] ** 2) and q["under_trained"] in (0.0, 1.0)
    assert q["w2_rel"] == pytest.approx(q["w2"] / q["diameter"])
    assert q["nfe"] == EXPECTED_NFE[method]
    assert ("t_selected" in q.index) == method.startswith("magt")
    samples = df[df["quantity"].str.startswith("sample_x")]
    assert len(samples) == TINY["n_scatter"] * 3
    assert sorted(samples["sample_index"].unique()) == list(range(TINY["n_scatter"]))


def test_benchmark_is_deterministic_and_validates():
    a = experiments.run("benchmark", dict(TINY, method="chargen", manifold="moons2d"))
    b = experiments.run("benchmark", dict(TINY, method="chargen", manifold="moons2d"))
    keep = ~a["quantity"].isin(["seconds_per_1e4", "seconds_train"])
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True))
    with pytest.raises(ValueError, match="benchmark: method must be one of"):
        experiments.run("benchmark", dict(TINY, method="vae"))
    with pytest.raises(ValueError, match="n_w2 must be <= n_gen = 100"):
        experiments.run("benchmark", dict(TINY, n_w2=500))
    with pytest.raises(ValueError, match="unknown parameter"):
        experiments.run("benchmark", dict(TINY, stepz=3))
    with pytest.raises(ValueError, match="benchmark: control must be one of"):
        experiments.run("benchmark", dict(TINY, control="nope"))
    with pytest.raises(ValueError, match="benchmark: scale must be one of"):
        experiments.run("benchmark", dict(TINY, scale=-1.0))
    with pytest.raises(ValueError, match="benchmark: steps must be null or an integer >= 1"):
        experiments.run("benchmark", dict(TINY, steps=0))


# every single-parameter check of the benchmark is the declared schema's (SPEC.resolve), which
# names the parameter and what it accepts; _validate keeps what the schema cannot say
@pytest.mark.parametrize("bad, message", [
    (dict(n_w2=1), "benchmark: n_w2 must be an integer >= 2; got 1"),
    (dict(n_scatter=-1), "benchmark: n_scatter must be an integer >= 0; got -1"),
    (dict(floor_repeats=1), "benchmark: floor_repeats must be an integer >= 2; got 1"),
    (dict(width=0), "benchmark: width must be an integer >= 1; got 0"),
    (dict(magt_steps=True), "benchmark: magt_steps must be an integer >= 1; got True"),
    (dict(refine_t=0.0), "benchmark: refine_t must be a number > 0 and < 1"),
    (dict(chargen_T=1.0), "benchmark: chargen_T must be a number > 0 and < 1"),
    (dict(t_grid=[0.5, 1.0]),
     "benchmark: t_grid must be a non-empty list, each a number > 0 and < 1"),
    (dict(t_grid=[]), "benchmark: t_grid must be a non-empty list"),
    (dict(plateau_tol=1.0), "benchmark: plateau_tol must be a number > 0 and < 1"),
    (dict(w2_method="sinkhorn"), "benchmark: w2_method must be one of ['auto', 'law', 'exact']"),
    (dict(geometry=[1]), "benchmark: geometry must be per-dataset constants"),
    (dict(geometry={"rings2d": 3}), "benchmark: geometry must be per-dataset constants"),
    # JSON Schema counts 200.0 as an integer; the int-annotated fields do not
    (dict(n=200.0), "benchmark: n must be an integer >= 2; got 200.0"),
    (dict(steps=5.0), "benchmark: steps must be null or an integer >= 1; got 5.0"),
    (dict(n_scatter=101), "n_scatter must be in [0, n_gen = 100]; got 101"),
])
def test_benchmark_rejects_bad_parameters_before_any_work(bad, message, monkeypatch):
    def no_work(*a, **k):  # pragma: no cover - reached only when validation lets bad through
        raise AssertionError("the job started before its parameters were checked")

    monkeypatch.setattr(bm, "dataset_setup", no_work)
    with pytest.raises(ValueError, match=re.escape(message)):
        experiments.run("benchmark", dict(TINY, **bad))


def test_benchmark_split_modules_and_reexports():
    """benchmark.py declares and runs; datasets/W2 and methods live in private modules, every
    name the benchmark exported before the split is the same object from there."""
    from magt_theory.experiments import _bench_data, _bench_methods, equal_time, sensitivity

    for name in ("DATASETS", "DATASET_CONSTANTS", "W2_METHODS", "make_dataset",
                 "dataset_diameter", "dataset_setup", "jittered_sample", "resolve_w2_method",
                 "measure_w2"):
        assert getattr(bm, name) is getattr(_bench_data, name), name
    for name in ("BUILDERS", "_build", "_apply_control", "_convergence", "plateau",
                 "time_sampler", "ddim_refine"):
        assert getattr(bm, name) is getattr(_bench_methods, name), name
    assert tuple(bm.BUILDERS) == bm.METHODS
    assert sensitivity._score is equal_time._score is _bench_methods._score
    assert sensitivity.ddim_refine is bm.ddim_refine
    sizes = {f.name: len(f.read_text().splitlines())
             for f in (Path(bm.__file__), Path(_bench_data.__file__),
                       Path(_bench_methods.__file__))}
    assert sizes["benchmark.py"] <= 350 and max(sizes.values()) <= 500, sizes


def test_sensitivity_score_network_is_the_benchmark_builder():
    """The builder (DiffusionModel, ReLU) trains the same network, bit for bit, as the hand-built
    ScoreNetwork + train_score_network the sensitivity experiment used before."""
    from magt_theory.experiments import _bench_methods
    from magt_theory.models import diffusion as df

    rng = np.random.default_rng(3)
    data = rng.standard_normal((64, 3)) * [1.0, 0.5, 0.1]
    p = dict(width=16, depth=2, score_steps=7, batch_size=16, lr=1e-3, seed=4)
    net = _bench_methods._score(data, p)
    with torch.random.fork_rng():
        torch.manual_seed(p["seed"])
        ref = df.ScoreNetwork(3, width=16, depth=2, activation="relu",
                              sigma_data=max(float(np.sqrt(np.mean(data**2))), 1e-3))
    ref = df.train_score_network(data, steps=7, batch_size=16, lr=1e-3, seed=4, net=ref)
    np.testing.assert_array_equal(net.train_losses_, ref.train_losses_)
    for a, b in zip(net.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    y = torch.as_tensor(rng.standard_normal((5, 3)), dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(net(y, 0.3), ref(y, 0.3))


def test_chargen_steps_euler_error_is_first_order():
    df = experiments.run("chargen_steps", dict(K=[8, 16, 32, 64], n_ref_steps=256, n_eval=200))
    assert list(df.columns[:5]) == LEAD
    e = df[df["quantity"] == "euler_error"].sort_values("K")
    slope = np.polyfit(np.log(e["K"]), np.log(e["value"]), 1)[0]
    assert abs(slope + 1) < 0.1  # forward Euler on the oracle Föllmer flow (T = 0.9)
    hz = df.set_index("quantity")["value"]
    assert hz["horizon_w2"] <= hz["horizon_bound"] + 2 * hz["w2_noise_floor_T"]
    from magt_theory import plotting

    fig = plotting.FIGURES["chargen_euler_vs_K"][1](df)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="n_ref_steps"):
        experiments.run("chargen_steps", dict(K=[8, 128], n_ref_steps=256))


def test_seed_claim_experiments_rows():
    ch = experiments.run("chargen_n", dict(n=100, steps=10, K=8, width=16, depth=2,
                                           n_eval=60, n_decomp=40))
    need = {"w2", "w2_noise_floor", "w2_empirical", "w2_T", "err_velocity", "err_euler",
            "err_fitting", "err_horizon", "err_sum", "horizon_bound", "semigroup_defect"}
    assert need <= set(ch["quantity"]) and list(ch.columns[:5]) == LEAD
    from magt_theory import plotting

    assert len(plotting.FIGURES["chargen_vs_n"][1](ch).axes) == 1
    w = experiments.run("w1w2_checks", dict(D=3, variant="w2", steps=5, K=3, n=100,
                                            n_eval=60, width=16))
    need = {"kinetic_energy", "kinetic_bound", "max_speed", "speed_bound", "straightness",
            "hj_residual_rel", "step_rel_h", "dv", "grad_phi_max", "diverged", "w2"}
    assert need <= set(w["quantity"]) and (w["D"] == 3).all() and (w["d"] == 2).all()
    et = experiments.run("equal_time", dict(n=100, magt_steps=5, score_steps=5, K=16,
                                            n_gen=60, n_w2=40, nfe=[2, 4], width=16))
    assert set(et["method"]) == {"magt", "dpmpp"}
    assert sorted(et["nfe"].unique()) == [1, 2, 4]


# ----------------------------------------------------------------------- table builder
def _synthetic(seeds=(0, 1, 2)):
    rng = np.random.default_rng(7)
    recs = []
    spec = {"magt": (1, 0.01), "ddim1000": (1000, 3.0), "dpmpp20": (20, 0.2)}
    for ds in ("moons2d", "rings2d"):
        for me, (nfe, sec) in spec.items():
            for s in seeds:
                vals = {"w2": rng.uniform(0.1, 0.3), "w2_noise_floor": 0.05,
                        "off_manifold_rate": rng.uniform(0, 0.2), "nfe": nfe,
                        "seconds_per_1e4": sec * rng.uniform(0.9, 1.1),
                        "seconds_train": rng.uniform(1, 2)}
                for q, v in vals.items():
                    recs.append(dict(experiment="benchmark", manifold=ds, d=1, D=2, seed=s,
                                     method=me, quantity=q, value=v))
                for i in range(5):
                    for j in range(2):
                        recs.append(dict(experiment="benchmark", manifold=ds, d=1, D=2, seed=s,
                                         method=me, quantity=f"sample_x{j}", sample_index=i,
                                         value=rng.standard_normal()))
    return pd.DataFrame(recs)


def test_summary_table_against_numpy():
    df = _synthetic()
    tab = br.summary_table(df)
    assert list(tab["manifold"]) == ["rings2d"] * 3 + ["moons2d"] * 3  # the paper's order
    assert list(tab["method"][:3]) == ["magt", "ddim1000", "dpmpp20"]
    for _, r in tab.iterrows():
        sub = df[(df.manifold == r.manifold) & (df.method == r.method)]
        for q in ("w2", "off_manifold_rate", "seconds_per_1e4"):
            v = sub[sub.quantity == q].sort_values("seed")["value"].to_numpy()
            assert r[f"{q}_mean"] == pytest.approx(v.mean())
            assert r[f"{q}_std"] == pytest.approx(v.std(ddof=1))
            lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
            assert (r[f"{q}_ci_low"], r[f"{q}_ci_high"]) == pytest.approx((lo, hi))
        magt = df[(df.manifold == r.manifold) & (df.method == "magt")
                  & (df.quantity == "seconds_per_1e4")]["value"].mean()
        assert r["time_ratio"] == pytest.approx(r["seconds_per_1e4_mean"] / magt)
        assert r["n_seeds"] == 3
    ratios = br.time_ratios(tab)
    assert list(ratios.columns) == ["ddim1000", "dpmpp20"]  # multi-step methods only
    gm = np.exp(np.mean(np.log(ratios.loc[["rings2d", "moons2d"], "ddim1000"])))
    assert ratios.loc["geometric mean", "ddim1000"] == pytest.approx(gm)
    md = br.to_markdown(tab, ratios)
    first = tab.iloc[0]
    assert f"{first['w2_mean']:.3f} [{first['w2_ci_low']:.3f}, {first['w2_ci_high']:.3f}]" in md
    assert "W2^2" in md and "under-trained" in md
    assert "geometric mean" in md and md.count("\n|") >= 6 + 3


def test_write_report_and_scatter_grid(tmp_path):
    df = _synthetic(seeds=(0,))
    paths = br.write_report(df, tmp_path / "res", tmp_path / "fig" / "scatter")
    tab = pd.read_csv(paths["csv"])
    assert len(tab) == 6 and tab["w2_std"].isna().all()  # one seed: std undefined
    assert "–" not in Path(paths["md"]).read_text().split("\n")[6].split("|")[4]
    assert paths["png"].exists() and paths["pdf"].exists()
    fig = br.scatter_grid(df)
    assert len(fig.axes) == 2 * 3
    with pytest.raises(ValueError, match="no sample rows"):
        br.scatter_grid(df[~df["quantity"].str.startswith("sample")])
    with pytest.raises(ValueError, match="column"):
        br.summary_table(df.drop(columns="method"))
    rc = cli.main(["benchmark-report", str(_to_parquet(df, tmp_path)),
                   "--out-dir", str(tmp_path / "cli")])
    assert rc == 0 and (tmp_path / "cli" / "benchmark_table.md").exists()


def _to_parquet(df, tmp_path):
    path = tmp_path / "benchmark.parquet"
    df.to_parquet(path)
    return path


# ----------------------------------------------------------------------- verdict rows
def _euler_frame(slope):
    recs = []
    for s in (0, 1):
        for K in (8, 16, 32, 64):
            for q, v in (("euler_error", 2.0 * K**slope * (1 + 0.01 * s)),
                         ("w2", 3.0 * K**slope + 0.001), ("w2_noise_floor", 0.001)):
                recs.append(dict(experiment="chargen_steps", manifold="circle", d=1, D=2,
                                 seed=s, T=0.9, K=K, quantity=q, value=v))
    return pd.DataFrame(recs)


def test_chargen_euler_rows_verdicts():
    good = claims.chargen_euler_rows(_euler_frame(-1.0), n_boot=200)
    assert [r["verdict"] for r in good] == ["consistent", "consistent"]
    assert good[0]["fitted_slope"] == pytest.approx(-1.0, abs=1e-6)
    bad = claims.chargen_euler_rows(_euler_frame(-0.5), n_boot=200)
    assert bad[0]["verdict"] == "inconsistent"


def _w1w2_frame(ke_factor, w2_grad):
    recs = []
    for variant in ("w1w2", "w2"):
        for D in (2, 3):
            for s in (0, 1):
                grad = w2_grad if (variant == "w2" and D == 3) else 0.8
                vals = dict(kinetic_energy=ke_factor * 200, kinetic_bound=200, max_speed=5,
                            speed_bound=20, step_rel_h=0.01, step_rms_h=0.03, step_rms_h2=0.01,
                            grad_phi_max=grad, diverged=0, dv=0.05, L_w1=0.2)
                for q, v in vals.items():
                    recs.append(dict(experiment="w1w2_checks", manifold="gaussian_subspace",
                                     d=2, D=D, seed=s, variant=variant, L=1.0, quantity=q,
                                     value=v))
    return pd.DataFrame(recs)


def test_w1w2_rows_verdicts():
    """Diagnostics (no control shown failing them); the note keeps what the rule says."""
    rows = {(r["quantity"], r["claim"]): r for r in claims.w1w2_rows(_w1w2_frame(0.1, 9.0))}
    assert all(r["verdict"] == "diagnostic" for r in rows.values())
    for key in [("kinetic_energy", "bound"), ("max_speed", "bound"),
                ("step_rel_h", "invariance"), ("grad_phi_max", "ill-posedness")]:
        assert "rule would say consistent" in rows[key]["note"]
    rows = {(r["quantity"], r["claim"]): r for r in claims.w1w2_rows(_w1w2_frame(1.5, 0.9))}
    assert "rule would say inconsistent" in rows[("kinetic_energy", "bound")]["note"]
    assert "rule would say inconsistent" in rows[("grad_phi_max", "ill-posedness")]["note"]


def _optimality_frame(ratio, seeds=(0, 1, 2, 3)):
    rng = np.random.default_rng(5)
    recs = []
    for s in seeds:
        base = {"hj_residual_step_rel": 0.8 * np.exp(0.05 * rng.standard_normal()),
                "straightness": 1 - 0.05 * np.exp(0.05 * rng.standard_normal())}
        for variant in ("w1w2", "w1"):
            f = ratio * np.exp(0.1 * rng.standard_normal()) if variant == "w1w2" else 1.0
            for q, v in (("hj_residual_step_rel", f * base["hj_residual_step_rel"]),
                         ("straightness", 1 - f * (1 - base["straightness"]))):
                recs.append(dict(experiment="w1w2_checks", manifold="gaussian_subspace", d=2,
                                 D=2, seed=s, variant=variant, L=1.0, quantity=q, value=v))
    return pd.DataFrame(recs)


def test_w1w2_optimality_rows_against_numpy():
    """Paired log-ratio W1+W2 / W1-only with a Student-t interval (recomputed here)."""
    for ratio, expect in ((0.3, "consistent"), (0.8, "consistent"), (1.6, "inconsistent"),
                          (1.0, "inconclusive")):
        df = _optimality_frame(ratio)
        rows = {r["quantity"]: r for r in claims.w1w2_optimality_rows(df)}
        assert set(rows) == {"hj_residual_step_rel", "straightness"}
        for q, r in rows.items():
            piv = df[df["quantity"] == q].pivot_table(index="seed", columns="variant",
                                                       values="value")
            if q == "straightness":
                piv = 1 - piv
            rho = np.log(piv["w1w2"] / piv["w1"]).to_numpy()
            half = stats.t.ppf(0.975, 3) * rho.std(ddof=1) / 2
            assert r["fitted_slope"] == pytest.approx(np.exp(rho.mean()), rel=1e-9)
            assert r["ci_high"] == pytest.approx(np.exp(rho.mean() + half), rel=1e-9)
            assert r["control"] == "curl"
            assert r["verdict"] == expect, (ratio, q, r["note"])
            assert r["tight"] == (ratio == 0.3)
    # one seed: no interval, inconclusive; no W1-only ablation: no row
    one = claims.w1w2_optimality_rows(_optimality_frame(0.5, seeds=(0,)))
    assert {r["verdict"] for r in one} == {"inconclusive"}
    df = _optimality_frame(0.5)
    assert claims.w1w2_optimality_rows(df[df["variant"] == "w1w2"]) == []


def test_equal_time_rows_interpolate_the_matching_time():
    recs = []
    table = {("magt", 1): (0.2, 1.0), ("dpmpp", 2): (0.5, 0.8), ("dpmpp", 5): (0.25, 2.0),
             ("dpmpp", 10): (0.1, 4.0)}
    for (me, nfe), (w2, sec) in table.items():
        for s in (0, 1):
            for q, v in (("w2", w2 * (1 + 0.1 * s)), ("seconds_per_1e4", sec)):
                recs.append(dict(experiment="equal_time", manifold="moons2d", d=1, D=2, seed=s,
                                 method=me, nfe=nfe, quantity=q, value=v))
    (row,) = claims.equal_time_rows(pd.DataFrame(recs))
    assert row["quantity"] == "time_ratio_at_equal_w2" and row["control"] == "magt_noise"
    # a zero-width interval at about 2.4x: below the claimed 10x
    assert row["verdict"] == "inconsistent"
    # W2 scales by (1 + 0.1 s) for MAGT and diffusion alike: the same match in every seed;
    # between NFE 5 (W2 0.25, 2 s) and NFE 10 (0.1, 4 s), log-log interpolation
    a = (np.log(0.2) - np.log(0.25)) / (np.log(0.1) - np.log(0.25))
    expect = np.exp(np.log(2.0) + a * (np.log(4.0) - np.log(2.0))) / 1.0
    assert row["fitted_slope"] == pytest.approx(expect, rel=1e-9)
    assert row["ci_low"] == pytest.approx(expect, rel=1e-9)
    assert "2 seed(s) with a match, 0 where" in row["note"] and "0 censored" in row["note"]


def _equal_time_frame(magt_sec, magt_w2=0.2, seeds=(0, 1, 2)):
    rng = np.random.default_rng(11)
    recs = []
    table = {("dpmpp", 2): (0.5, 0.8), ("dpmpp", 5): (0.25, 2.0), ("dpmpp", 10): (0.1, 4.0)}
    for s in seeds:
        f = np.exp(0.05 * rng.standard_normal())
        rows_ = {**table, ("magt", 1): (magt_w2, magt_sec * f)}
        for (me, nfe), (w2, sec) in rows_.items():
            for q, v in (("w2", w2), ("seconds_per_1e4", sec)):
                recs.append(dict(experiment="equal_time", manifold="moons2d", d=1, D=2, seed=s,
                                 method=me, nfe=nfe, quantity=q, value=v))
    return pd.DataFrame(recs)


def test_equal_time_verdicts_and_bounds():
    """Ratio >= 10 claimed: fast MAGT consistent, slow MAGT inconsistent; a MAGT beaten by the
    cheapest budget gives upper bounds (can be inconsistent, never consistent); a MAGT no
    budget reaches gives lower bounds (can be consistent, never inconsistent)."""
    (fast,) = claims.equal_time_rows(_equal_time_frame(0.01))
    (slow,) = claims.equal_time_rows(_equal_time_frame(1.0))
    assert fast["verdict"] == "consistent" and fast["ci_low"] >= 10
    assert slow["verdict"] == "inconsistent" and slow["ci_high"] < 10
    (beaten,) = claims.equal_time_rows(_equal_time_frame(0.01, magt_w2=0.9))
    assert "3 where the cheapest budget" in beaten["note"] and beaten["verdict"] == "inconclusive"
    assert beaten["fitted_slope"] == pytest.approx(0.8 / 0.01, rel=0.1)
    (unreached,) = claims.equal_time_rows(_equal_time_frame(1.0, magt_w2=0.01))
    assert "3 censored" in unreached["note"] and unreached["verdict"] == "inconclusive"
    (one,) = claims.equal_time_rows(_equal_time_frame(0.01, seeds=(0,)))
    assert one["verdict"] == "inconclusive"


def test_verdicts_table_includes_the_new_rows():
    frames = {"chargen_steps": _euler_frame(-1.0), "w1w2_checks": _w1w2_frame(0.1, 9.0)}
    table = claims.verdicts(frames, n_boot=200)
    assert set(table["experiment"]) == {"chargen_steps", "w1w2_checks"}
    assert list(table.columns) == claims.analysis.VERDICT_COLUMNS


# ----------------------------------------------------------------------- configs & workflow
@pytest.mark.parametrize("name", ["benchmark", "benchmark_paper"])
def test_configs_validate(name):
    cfg = workflow.load_config(ROOT / f"workflows/config/{name}.yaml", SCHEMA)
    pts = workflow.points(cfg, "benchmark")
    methods = {p["method"] for p in pts.values()}
    datasets = {p["manifold"] for p in pts.values()}
    assert methods == set(bm.METHODS) and datasets == set(bm.DATASETS)
    # seed intervals from >= 5 seeds; one equal budget of gradient steps for every method
    assert len({p["seed"] for p in pts.values()}) >= 5
    assert len({p["steps"] for p in pts.values()}) == 1 and next(iter(pts.values()))["steps"]
    sens = workflow.points(cfg, "sensitivity")
    assert {p["manifold"] for p in sens.values()} == set(bm.DATASETS)
    assert len({p["seed"] for p in sens.values()}) >= 5
    for p in sens.values():  # every (axis, level) job names a value of its grid
        assert 0 <= p["level"] < len(p[f"{p['axis']}_grid"])


def test_config_rejects_bad_benchmark_values():
    import yaml

    cfg = yaml.safe_load((ROOT / "workflows/config/benchmark.yaml").read_text())
    cfg["experiments"]["benchmark"]["grid"]["method"] = ["magt", "vae"]
    with pytest.raises(workflow.ConfigError, match="experiments.benchmark.grid.method"):
        workflow.load_config(cfg, SCHEMA)
    cfg = yaml.safe_load((ROOT / "workflows/config/benchmark.yaml").read_text())
    cfg["experiments"]["benchmark"]["fixed"]["chargen_T"] = 1.0
    with pytest.raises(workflow.ConfigError, match="chargen_T"):
        workflow.load_config(cfg, SCHEMA)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("snakemake") is None and not (
    Path(sys.executable).parent / "snakemake").exists(), reason="snakemake not installed")
def test_benchmark_rules_only_with_a_benchmark_experiment():
    exe = str(Path(sys.executable).parent / "snakemake")

    def rules(config):
        out = subprocess.run([exe, "--list-rules", "--configfile", config], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert {"benchmark_table", "benchmark_scatter", "benchmark_sensitivity"} <= set(
        rules("workflows/config/benchmark.yaml"))
    assert not {"benchmark_table", "benchmark_scatter", "benchmark_sensitivity"} & set(
        rules("workflows/config/smoke.yaml"))


# ----------------------------------------------------------------------- datasets, W2, convergence
def test_dataset_constants_and_diameter_against_brute_force():
    from scipy.spatial.distance import pdist

    for name in bm.DATASETS:
        M = bm.make_dataset(name)
        for k, v in bm.DATASET_CONSTANTS[name].items():  # the documented constants are used
            got = getattr(M, k, None) if k != "radii" else tuple(M.radii)
            assert got == pytest.approx(v), (name, k)
        diam = bm.dataset_diameter(M)
        x = M.sample(3000, np.random.default_rng(0))
        brute = pdist(x).max()  # a sample's diameter: below the support's, and close to it
        assert brute <= diam * (1 + 1e-9), name
        assert brute >= 0.97 * diam, name
    small = bm.make_dataset("rings2d", {"rings2d": {"radii": [0.5, 1.0]}, "torus3d": {"R": 9}})
    assert bm.dataset_diameter(small) == pytest.approx(2.0)
    with pytest.raises(TypeError):
        bm.make_dataset("helix3d", {"helix3d": {"height": 3.0}})


def test_measure_w2_is_one_homogeneous_in_the_scale():
    M = bm.make_dataset("torus3d")
    x = M.sample(300, np.random.default_rng(1)) + 0.05
    p = dict(bm.DEFAULTS, n_w2=300, floor_repeats=2)
    a = dict(bm.measure_w2(x, M, 1.0, "exact", p, np.random.default_rng(5)))
    b = dict(bm.measure_w2(2.5 * x, M, 2.5, "exact", p, np.random.default_rng(5)))
    assert b["w2"] == pytest.approx(2.5 * a["w2"]) and b["w2_sq"] == pytest.approx(b["w2"] ** 2)
    assert b["w2_noise_floor"] == pytest.approx(2.5 * a["w2_noise_floor"])
    df = experiments.run("benchmark", dict(TINY, method="magt", manifold="moons2d",
                                           scale="unit_diameter", n_scatter=0))
    q = df.set_index("quantity")["value"]
    assert q["diameter"] == pytest.approx(1.0) and q["w2_rel"] == pytest.approx(q["w2"])


def test_plateau_criterion_against_numpy():
    rng = np.random.default_rng(0)
    steps = np.arange(1000)
    falling = np.exp(-steps / 400) + 0.01 * rng.standard_normal(1000)  # still falling at the end
    flat = 1.0 + 0.05 * rng.standard_normal(1000)
    ok, drop = bm.plateau(falling)
    a, b = falling[400:500].mean(), falling[-100:].mean()
    assert drop == pytest.approx((a - b) / max(abs(a), abs(b))) and not ok
    assert bm.plateau(flat)[0]
    assert bm.plateau(falling[:10]) == (False, pytest.approx(np.nan, nan_ok=True))
    rows = dict(bm._convergence([flat, falling], 0.05))
    assert rows["under_trained"] == 1.0 and rows["loss_rel_drop"] == pytest.approx(drop)


def test_equal_budget_steps_override():
    for method in ("magt", "wgan_gp", "fm20"):
        df = experiments.run("benchmark", dict(TINY, method=method, manifold="moons2d", steps=25,
                                               n_scatter=0))
        assert df.set_index("quantity")["value"]["grad_steps"] == 25


# ----------------------------------------------------------------------- sensitivity
SENS = dict(n_grid=[60, 120], K_grid=[8, 16], t_grid=[0.1, 0.3, 0.5], n=80, K=8, t=0.3,
            n_gen=100, n_w2=100, width=16, depth=2, batch_size=32, steps=20, refine_steps=2,
            floor_repeats=2, w2_method="exact")


def test_sensitivity_rows_and_figure(tmp_path):
    parts = [experiments.run("sensitivity", dict(SENS, manifold="helix3d", axis=a, level=i,
                                                 seed=s))
             for a, levels in (("n", 2), ("K", 2), ("t", 3)) for i in range(levels)
             for s in ((0, 1) if a == "t" else (0,))]
    df = pd.concat(parts, ignore_index=True)
    assert list(df.columns[:5]) == LEAD and set(df["method"]) == {"magt", "magt_ddim"}
    n_rows = df[(df["axis"] == "n") & (df["quantity"] == "w2")]
    assert sorted(n_rows["n"].unique()) == [60, 120] and (n_rows["K"] == 8).all()
    t_rows = df[(df["axis"] == "t") & (df["quantity"] == "w2")]
    assert sorted(t_rows["t"].unique()) == [0.1, 0.3, 0.5]
    need = {"w2", "w2_sq", "w2_rel", "w2_noise_floor", "off_manifold_rate", "under_trained"}
    assert need <= set(df["quantity"])
    fig = br.sensitivity_figure(df)
    assert len(fig.axes) == 3  # (n, K, t) x one dataset
    path = tmp_path / "sens.parquet"
    df.to_parquet(path)
    assert cli.main(["benchmark-report", str(path), "--sensitivity",
                     str(tmp_path / "fig" / "sens")]) == 0
    assert (tmp_path / "fig" / "sens.png").exists()
    with pytest.raises(ValueError, match="level"):
        experiments.run("sensitivity", dict(SENS, axis="t", level=3))
    with pytest.raises(ValueError, match="axis"):
        experiments.run("sensitivity", dict(SENS, axis="D"))
    table = claims.verdicts({"sensitivity": df}, n_boot=200)
    assert set(table["swept"]) == {"n", "K", "t"} and (table["control"] == "growing_noise").all()


TINY_WORKFLOW = """
name: bench_tiny
threads: 1
bootstrap: 200
experiments:
  benchmark:
    grid:
      manifold: [moons2d, helix3d]
      method: [magt, ddim1000, fm20]
      seed: [0, 1]
    fixed: {n: 200, n_valid: 100, n_gen: 200, n_w2: 150, n_scatter: 50, width: 16, depth: 2,
            batch_size: 64, steps: 30, t_grid: [0.1, 0.3], K: 32, n_select: 100,
            floor_repeats: 2}
  sensitivity:
    grid:
      manifold: [moons2d]
      axis: [n, K, t]
      level: [0, 1, 2]
      seed: [0, 1]
    fixed: {n_grid: [100, 200, 400], K_grid: [8, 16, 32], t_grid: [0.1, 0.3, 0.6], n: 200,
            K: 16, t: 0.3, n_gen: 150, n_w2: 150, width: 16, depth: 2, batch_size: 32,
            steps: 30, refine_steps: 2, floor_repeats: 2}
"""


@pytest.mark.slow
@pytest.mark.workflow
def test_benchmark_workflow_end_to_end(tmp_path):
    """A tiny benchmark + sensitivity config through Snakemake: table, figures, claim rows."""
    for part in ("Snakefile", "workflows"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    (tmp_path / "tiny.yaml").write_text(TINY_WORKFLOW)
    res = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                          "tiny.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stderr[-5000:]
    out = tmp_path / "results" / "bench_tiny"
    table = pd.read_csv(out / "benchmark_table.csv")
    assert {"w2_mean", "w2_sq_mean", "w2_ci_low", "under_trained", "w2_method"} <= set(table)
    assert set(table["w2_method"]) == {"law", "exact"} or set(table["w2_method"]) == {"exact"}
    figs = tmp_path / "paper_figures" / "bench_tiny"
    assert (figs / "benchmark_sensitivity.png").exists()
    assert (figs / "benchmark_scatter.png").exists()
    v = pd.read_csv(out / "verdicts.csv")
    bench = v[v["experiment"].isin(["benchmark", "sensitivity"])]
    got = {(r.experiment, r.manifold, r.quantity, r.swept) for r in bench.itertuples()}
    for ds in ("moons2d", "helix3d"):
        for q in ("w2", "off_manifold_rate", "seconds_per_1e4"):
            assert ("benchmark", ds, q, "method") in got
    for ax in ("n", "K", "t"):
        assert ("sensitivity", "moons2d", "w2", ax) in got
    assert (bench["control"] != "").all()
