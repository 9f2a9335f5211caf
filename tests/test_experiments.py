"""Experiments on tiny grids: schema of the rows, determinism, and the anchor-error orders."""

import numpy as np
import pandas as pd
import pytest

from magt_theory import analysis, experiments

TINY = {
    "anchor_error": dict(manifold="circle", D=4, t=0.05, K=[16, 64], n_queries=32, repeats=1),
    "pullback": dict(manifold="circle", t=0.1, eps=[0.05], n_w2=100, n_fisher=50, K=256),
    "sample_size": dict(manifold="circle", D=3, n=64, K=32, min_steps=3, max_steps=3, width=16,
                        depth=1, batch_size=16, n_gen=500),
}
TINY["smoothing_level"] = dict(TINY["sample_size"], t=0.2)
TINY["ambient_dim"] = dict(TINY["sample_size"], D=5)
TINY["memorisation"] = dict(TINY["sample_size"], manifold="flat_torus", k=2, D=None,
                            n_gen_max=60, sd_iter=20)

LEAD = ["experiment", "manifold", "d", "D", "seed"]
TIMINGS = {"seconds_train", "seconds_sampling"}


@pytest.mark.parametrize("name", sorted(TINY))
def test_rows_schema_and_determinism(name):
    params = dict(TINY[name], seed=3)
    a = experiments.run(name, params)
    b = experiments.run(name, params)
    assert list(a.columns[:5]) == LEAD
    assert {"quantity", "value"} <= set(a.columns)
    assert (a["experiment"] == name).all() and (a["seed"] == 3).all()
    assert np.isfinite(a["value"]).all()
    keep = ~a["quantity"].isin(TIMINGS)
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True))
    c = experiments.run(name, dict(TINY[name], seed=4))
    assert not np.allclose(c[keep]["value"].to_numpy(), a[keep]["value"].to_numpy())


def test_every_sweep_experiment_is_registered():
    assert set(TINY) <= set(experiments.names())


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="bogus"):
        experiments.run("anchor_error", {"bogus": 1})
    with pytest.raises(ValueError, match="experiment"):
        experiments.get("nope")


def test_anchor_mse_falls_like_one_over_K_on_circle():
    """Convergence order (MAGT Lemma 1): slope of the SNIS score MSE in K is -1.

    At t = 0.1 (sigma = 0.32) the ESS at K = 256 is ~50, so the SNIS error is in its
    asymptotic 1/K regime; the band 0.15 is ~3 bootstrap standard errors of the fitted slope
    at this size (measured spread of the slope over seeds ~0.05).
    """
    df = experiments.run("anchor_error", dict(manifold="circle", D=3, t=0.1,
                                              K=[256, 512, 1024, 2048, 4096],
                                              n_queries=256, repeats=4, seed=0))
    mse = df[df["quantity"] == "anchor_mse"]
    fit = analysis.fit_slope(mse["K"].to_numpy(), mse["value"].to_numpy(), n_boot=500)
    assert abs(fit.slope + 1.0) < 0.15, fit


def test_ess_scales_like_sigma_to_the_d_on_circle():
    """ESS ~ K sigma^d (d = 1 for the circle) for sigma well below the radius."""
    frames = [experiments.run("anchor_error", dict(manifold="circle", t=t, K=[4096],
                                                   n_queries=128, repeats=2, seed=1))
              for t in (1e-4, 4e-4, 1.6e-3, 6.4e-3)]
    ess = pd.concat(frames)
    ess = ess[ess["quantity"] == "ess"]
    fit = analysis.fit_slope(ess["sigma"].to_numpy(), ess["value"].to_numpy(), n_boot=500)
    assert abs(fit.slope - 1.0) < 0.15, fit
