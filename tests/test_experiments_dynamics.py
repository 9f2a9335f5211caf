"""Dynamics experiments (alignment, robustness, magt_alignment): rows, determinism, scaling,
config schema, verdict rows and figures.

Independent references: the exact normal contraction of the oracle VP sampler (directions
orthogonal to the span of the data shrink by exactly ``prod c_1 = sigma_min / sigma_T``, so their
exponent on the clock ``T = log(sigma_T/sigma_min)`` is -1), the symmetry of the uniform circle
(the flow map's top singular vector is the tangent), CdC's predicted slopes (fitted with
:func:`magt_theory.analysis.fit_slope`), and synthetic tidy frames with a known outcome for the
verdict rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from magt_theory import analysis, claims, dynamics, experiments, manifolds, plotting, workflow

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflows" / "config" / "schema.json"
SMOKE = ROOT / "workflows" / "config" / "smoke.yaml"
LEAD = ["experiment", "manifold", "d", "D", "seed"]

TINY = {
    "alignment": dict(manifold="vmf_mixture", sigma_min=0.01, n=6, n_steps=30),
    "robustness": dict(manifold="vmf_mixture", sigma_min=0.01, eps=[1e-3, 1e-2], n=24,
                       n_steps=15),
    "magt_alignment": dict(manifold="circle", D=3, t=0.05, latent_extra=1, n=64, K=32, steps=3,
                           width=16, depth=1, batch_size=16, n_eval=16, n_draws=2),
}
TIMINGS = {"seconds_train"}


# --------------------------------------------------------------------------- rows, determinism
@pytest.mark.parametrize("name", sorted(TINY))
def test_rows_schema_and_determinism(name):
    a = experiments.run(name, dict(TINY[name], seed=3))
    b = experiments.run(name, dict(TINY[name], seed=3))
    assert list(a.columns[:5]) == LEAD
    assert list(a.columns[-2:]) == ["quantity", "value"]
    assert (a["experiment"] == name).all() and (a["seed"] == 3).all()
    assert np.isfinite(a["value"]).all()
    keep = ~a["quantity"].isin(TIMINGS)
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True))
    c = experiments.run(name, dict(TINY[name], seed=4))
    assert c[keep].shape == a[keep].shape
    assert not np.allclose(c[keep]["value"].to_numpy(), a[keep]["value"].to_numpy())


def test_alignment_rows_and_exact_normal_exponents():
    """Circle in R^6: the 4 directions orthogonal to its plane are contracted by exactly
    sigma_min/sigma_T (exponent -1 on the log-sigma clock); the top singular vector is the
    tangent by symmetry; the largest gap is at d = 1."""
    df = experiments.run("alignment", dict(manifold="circle", D=6, sigma_min=0.02, n=5,
                                           n_steps=40, seed=1))
    summary = df[df["index"].isna()].set_index("quantity")["value"]
    assert set(summary.index) == {
        "sin_theta_max_svd", "sin_theta_max_qr", "spectral_gap", "singular_value_ratio",
        "intrinsic_dim", "intrinsic_dim_accuracy", "score_tangent_rel", "lyapunov_svd_top",
        "lyapunov_svd_min", "lyapunov_qr_top", "lyapunov_qr_min", "mean_distance"}
    spec = df[df["quantity"] == "lyapunov_svd"].sort_values("index")
    assert spec["index"].tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(spec["value"].to_numpy()[2:], -1.0, atol=1e-10)
    assert df[df["quantity"] == "lyapunov_qr"]["index"].tolist() == [1, 2, 3]  # k = d + m
    assert summary["sin_theta_max_svd"] < 1e-10
    assert summary["intrinsic_dim"] == 1 and summary["intrinsic_dim_accuracy"] == 1
    assert summary["singular_value_ratio"] == pytest.approx(math.exp(summary["spectral_gap"]))
    T = math.log(math.sqrt(0.9999) / 0.02)
    np.testing.assert_allclose(df["log_sigma_ratio"], T, rtol=1e-12)
    assert (df["sigma_min"] == 0.02).all()


def test_alignment_summary_matches_alignment_table():
    """Wiring: the summary rows reproduce dynamics.alignment_table at the same seeds."""
    M = manifolds.make("vmf_mixture", seed=0)
    ref = dynamics.alignment_table(M, n=6, n_steps=30, t_min=0.01**2, seed=2)
    ref = ref.set_index("quantity")["value"]
    got = experiments.run("alignment", dict(TINY["alignment"], seed=2))
    got = got[got["index"].isna()].set_index("quantity")["value"]
    for q in ref.index:
        assert got[q] == pytest.approx(ref[q], rel=1e-12, abs=1e-15), q


def test_alignment_scaling_with_sigma_min():
    """CdC (derived), vMF mixture on S^2: s_d/s_{d+1} ~ sigma_min^-1 and sin theta ~ sigma_min
    (measured slopes -0.99 and 0.98 at n = 8; band 0.1)."""
    frames = [experiments.run("alignment", dict(manifold="vmf_mixture", sigma_min=s, n=8,
                                                n_steps=40, seed=0))
              for s in (0.003, 0.01, 0.03)]
    df = pd.concat(frames)
    for q, pred in (("singular_value_ratio", -1.0), ("sin_theta_max_svd", 1.0)):
        sub = df[df["quantity"] == q]
        fit = analysis.fit_slope(sub["sigma_min"], sub["value"], n_boot=200)
        assert abs(fit.slope - pred) < 0.1, (q, fit)


def test_robustness_rows_contrast_and_scaling():
    """Score-injected errors barely change the distance to M, denoiser-injected ones do (by
    more than 5x at sigma_min = 0.003); the score-induced change scales like sigma_min
    (measured slope 0.95, band 0.15), the denoiser-induced one does not (|slope| < 0.15)."""
    frames = [experiments.run("robustness", dict(manifold="vmf_mixture", sigma_min=s,
                                                 eps=[1e-3], n=32, n_steps=20, seed=0))
              for s in (0.003, 0.01, 0.03)]
    df = pd.concat(frames)
    assert set(df["site"]) == {"none", "score", "denoiser"}
    assert {"w2", "w2_noise_floor", "off_manifold_rate", "mean_distance"} == set(
        df[df["site"] == "none"]["quantity"])
    v = df.set_index(["sigma_min", "site", "quantity"])["value"]
    assert v[0.003, "denoiser", "abs_delta_distance"] > 5 * v[0.003, "score", "abs_delta_distance"]
    for s in (0.003, 0.01, 0.03):
        assert v[s, "denoiser", "normal_displacement"] > v[s, "score", "normal_displacement"]
    dd = df[df["quantity"] == "abs_delta_distance"]
    sc = dd[dd["site"] == "score"]
    dn = dd[dd["site"] == "denoiser"]
    assert abs(analysis.fit_slope(sc["sigma_min"], sc["value"], n_boot=200).slope - 1) < 0.15
    assert abs(analysis.fit_slope(dn["sigma_min"], dn["value"], n_boot=200).slope) < 0.15


def test_magt_alignment_gap_only_with_extra_latent_dims():
    base = dict(TINY["magt_alignment"], seed=0)
    with_gap = set(experiments.run("magt_alignment", base)["quantity"])
    no_gap = experiments.run("magt_alignment", dict(base, latent_extra=0))
    assert {"spectral_gap", "singular_value_ratio", "intrinsic_dim"} <= with_gap
    assert not {"spectral_gap", "intrinsic_dim"} & set(no_gap["quantity"])
    assert {"sin_theta_max_svd", "param_normal_tangent_ratio", "mean_distance"} <= set(
        no_gap["quantity"])
    assert (no_gap["latent_dim"] == 1).all()
    np.testing.assert_allclose(no_gap["sigma"], math.sqrt(0.05), rtol=1e-12)


@pytest.mark.parametrize("name, params, word", [
    ("alignment", dict(sigma_min=1.0), "sigma_min"),
    ("alignment", dict(sigma_min=0.0), "sigma_min"),
    ("alignment", dict(manifold="checker2d"), "D must exceed"),
    ("alignment", dict(bogus=1), "bogus"),
    ("robustness", dict(sites=["drift"]), "sites"),
    ("robustness", dict(sites=["score", "score"]), "sites"),
    ("robustness", dict(eps=[0.0]), "eps"),
    ("robustness", dict(sampler="euler"), "sampler"),
    ("magt_alignment", dict(latent_extra=-1), "latent_extra"),
    ("magt_alignment", dict(scale=0.0), "scale"),
])
def test_bad_parameters_are_named(name, params, word):
    with pytest.raises((ValueError, TypeError), match=word):
        experiments.run(name, params)


# --------------------------------------------------------------------------- config schema
def _smoke():
    return yaml.safe_load(SMOKE.read_text())


@pytest.mark.parametrize("mutate, key", [
    (lambda e: e["alignment"]["grid"].update(sigma_min=[0.01, 0.0]),
     "experiments.alignment.grid.sigma_min.1"),
    (lambda e: e["alignment"]["fixed"].update(m=-1), "experiments.alignment.fixed.m"),
    (lambda e: e["alignment"]["fixed"].update(t_max=1.0), "experiments.alignment.fixed.t_max"),
    (lambda e: e["robustness"]["fixed"].update(sites=["drift"]),
     "experiments.robustness.fixed.sites.0"),
    (lambda e: e["robustness"]["fixed"].update(eps=[0.01, -1]),
     "experiments.robustness.fixed.eps.1"),
    (lambda e: e["robustness"]["fixed"].update(sampler="euler"),
     "experiments.robustness.fixed.sampler"),
    (lambda e: e["robustness"]["fixed"].update(denoise_final="yes"),
     "experiments.robustness.fixed.denoise_final"),
    (lambda e: e["magt_alignment"]["fixed"].update(latent_extra=-1),
     "experiments.magt_alignment.fixed.latent_extra"),
    (lambda e: e["magt_alignment"]["fixed"].update(scale=2.0),
     "experiments.magt_alignment.fixed.scale"),
    (lambda e: e["magt_alignment"]["grid"].update(t=[1.0]),
     "experiments.magt_alignment.grid.t.0"),
    (lambda e: e["robustness"]["fixed"].update(bogus=1), "experiments.robustness.fixed"),
])
def test_schema_rejects_bad_values_naming_the_key(mutate, key):
    cfg = _smoke()
    workflow.load_config(cfg, SCHEMA)  # the shipped smoke config is valid
    mutate(cfg["experiments"])
    with pytest.raises(workflow.ConfigError) as exc:
        workflow.load_config(cfg, SCHEMA)
    assert f"'{key}'" in str(exc.value)


def test_schema_covers_every_parameter():
    import json

    defs = json.loads(SCHEMA.read_text())["$defs"]
    for name in TINY:
        assert set(defs[f"{name}_params"]["properties"]) == set(experiments.get(name).DEFAULTS)
        assert set(defs[f"{name}_grid"]["properties"]) == set(experiments.get(name).DEFAULTS)


# --------------------------------------------------------------------------- verdict rows
def _robustness_frame(score_slope=1.0, flip=None, seeds=(0, 1)):
    """Synthetic robustness rows: score |d dist| = eps sigma^score_slope, denoiser = 3 eps."""
    rng = np.random.default_rng(0)
    recs = []
    for seed in seeds:
        for s in (0.001, 0.01, 0.1):
            for e in (1e-3, 1e-2):
                noise = np.exp(0.01 * rng.standard_normal(4))
                vals = {"score": e * s**score_slope, "denoiser": 3 * e}
                if flip == (s, e):
                    vals["score"] = 10 * vals["denoiser"]
                for k, (site, v) in enumerate(vals.items()):
                    for j, q in enumerate(("abs_delta_distance", "normal_displacement")):
                        recs.append(dict(experiment="robustness", manifold="circle", d=1, D=2,
                                         seed=seed, sigma_min=s, n=32, eps=e, site=site,
                                         quantity=q, value=v * noise[2 * k + j]))
    return pd.DataFrame(recs)


def test_injection_contrast_rows():
    ok = claims.injection_contrast_rows(_robustness_frame())
    assert [r["quantity"] for r in ok] == ["normal_displacement", "abs_delta_distance"]
    assert all(r["verdict"] == "consistent" and r["claim"] == "contrast" for r in ok)
    assert "6/6 points of the whole grid" in ok[0]["note"]
    # the score run leaves the support at the smallest eps: the linear-response row fails
    bad = claims.injection_contrast_rows(_robustness_frame(flip=(0.1, 1e-3)))
    assert bad[0]["verdict"] == "inconsistent" and "(0.1, 0.001)" in bad[0]["note"]
    # the same failure away from the smallest sigma_min leaves the distance row consistent
    assert bad[1]["verdict"] == "consistent" and "5/6 points" in bad[1]["note"]
    bad2 = claims.injection_contrast_rows(_robustness_frame(flip=(0.001, 1e-2)))
    assert bad2[1]["verdict"] == "inconsistent"
    assert list(claims._row(**bad2[1])) == analysis.VERDICT_COLUMNS


def test_robustness_slope_claims():
    """Slope claims of robustness.SPEC: score distance change ~ sigma_min (slope 1), denoiser's flat (slope 0)."""
    good = claims.verdicts({"robustness": _robustness_frame()}, n_boot=200)
    slopes = good[good["swept"] == "sigma_min"]
    assert len(slopes) == 4 and (slopes["verdict"] == "consistent").all()
    bad = claims.verdicts({"robustness": _robustness_frame(score_slope=2.0)}, n_boot=200)
    score = bad[(bad["swept"] == "sigma_min") & (bad["predicted_slope"] == 1.0)]
    assert len(score) == 2 and (score["verdict"] == "inconsistent").all()


def _alignment_frame(sin_fn, d=1, D=2, manifold="vmf_mixture", dims=None):
    rng = np.random.default_rng(1)
    recs = []
    for seed in (0, 1):
        for s in (0.001, 0.003, 0.01, 0.03):
            n1 = np.exp(0.01 * rng.standard_normal(2))
            est = d if dims is None else dims.get(s, d)
            for q, v in (("sin_theta_max_svd", sin_fn(s) * n1[0]),
                         ("singular_value_ratio", 0.5 / s * n1[1]),
                         ("intrinsic_dim", est), ("intrinsic_dim_accuracy", float(est == d))):
                recs.append(dict(experiment="alignment", manifold=manifold, d=d, D=D, seed=seed,
                                 sigma_min=s, log_sigma_ratio=-math.log(s), n=8, index=np.nan,
                                 quantity=q, value=v))
    return pd.DataFrame(recs)


def test_tangent_alignment_rows():
    rate = claims.tangent_alignment_rows(_alignment_frame(lambda s: 2 * s), n_boot=200)
    assert len(rate) == 1 and rate[0]["verdict"] == "consistent" and rate[0]["claim"] == "rate"
    assert rate[0]["fitted_slope"] == pytest.approx(1.0, abs=0.02)
    quad = claims.tangent_alignment_rows(_alignment_frame(lambda s: s**2), n_boot=200)
    assert quad[0]["verdict"] == "inconsistent"
    exact = claims.tangent_alignment_rows(_alignment_frame(lambda s: 2e-16, manifold="circle"))
    assert exact[0]["verdict"] == "exact" and exact[0]["claim"] == "exact"
    assert np.isnan(exact[0]["fitted_slope"]) and "round-off" in exact[0]["note"]


def test_intrinsic_dim_rows_and_gap_claim():
    both = pd.concat([_alignment_frame(lambda s: s),
                      _alignment_frame(lambda s: s, d=2, D=3, manifold="torus3d",
                                       dims={0.03: 1})])
    rows = {r["manifold"]: r for r in claims.intrinsic_dim_rows(both)}
    # diagnostics (no control moves the gap off d); the note keeps what the rule says
    assert rows["vmf_mixture"]["verdict"] == "diagnostic"
    assert "rule would say consistent" in rows["vmf_mixture"]["note"]
    assert rows["torus3d"]["verdict"] == "diagnostic" and "0.03" in rows["torus3d"]["note"]
    assert "rule would say inconsistent" in rows["torus3d"]["note"]
    table = claims.verdicts({"alignment": both}, n_boot=200)
    assert list(table.columns) == analysis.VERDICT_COLUMNS
    gap = table[table["quantity"] == "singular_value_ratio"]
    assert len(gap) == 2 and (gap["verdict"] == "consistent").all()
    assert np.allclose(gap["predicted_slope"], -1.0) and (gap["source"] == "CdC (derived)").all()
    assert (gap["control"] == "score_scale").all()


# --------------------------------------------------------------------------- figures
def test_figures_render(tmp_path):
    align = pd.concat([
        experiments.run("alignment", dict(manifold=m, sigma_min=s, n=4, n_steps=20))
        for m in ("vmf_mixture", "circle") for s in (0.01, 0.03, 0.1)])
    rob = _robustness_frame()
    magt = pd.concat([experiments.run("magt_alignment", dict(TINY["magt_alignment"], t=t))
                      for t in (0.05, 0.2)])
    frames = {"alignment": align, "robustness": rob, "magt_alignment": magt}
    names = plotting.names(list(frames))
    assert {"alignment_gap", "alignment_sin_theta", "alignment_spectra", "robustness_ratio",
            "magt_alignment"} <= set(names)
    for name in ("alignment_gap", "alignment_sin_theta", "alignment_spectra", "robustness_ratio",
                 "magt_alignment"):
        paths = plotting.render(name, frames[plotting.FIGURES[name][0]], tmp_path / name)
        assert all(p.stat().st_size > 1000 for p in paths)
    # only exact (symmetric) manifolds: a figure that says so instead of a fit through round-off
    plotting.render("alignment_sin_theta", align[align["manifold"] == "circle"], tmp_path / "x")
