"""Tests of MAGT: exact chunked gradient, SNIS convergence, area formula, training, persistence.

References are computed independently of the code under test: plain autograd through the
softmax (gradient), the manifolds' closed-form smoothed scores and densities, numpy finite
differences (Jacobians), closed-form Gaussian posteriors (MAP proposal), POT (W2).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
import torch
from scipy.stats import linregress

import magt_theory as mt
from magt_theory.models import (
    FORMAT_NAME,
    MAGT,
    MLP,
    AnchorSet,
    MAGTConfig,
    MAPProposal,
    area_log_density,
    magt_loss_and_grad,
    make_proposal,
    select_t,
    smoothed_log_density,
    snis_mean,
    snis_score,
)

torch.set_num_threads(1)
TEST_SEED = 20260219
TINY = {
    "latent_dim": 1,
    "width": 16,
    "depth": 2,
    "n_anchors": 32,
    "batch_size": 32,
    "chunk_size": 7,
    "steps": 5,
}


# ----------------------------------------------------------------------- exact gradient
def _autograd_reference(net, y0, yt, anchors: AnchorSet, alpha, sigma):
    """Plain autograd through the softmax over all anchors at once (no chunking)."""
    G, K, d = anchors.u.shape
    H = net(anchors.u.reshape(G * K, d)).reshape(G, K, -1)
    logits = -((yt[:, None, :] - alpha * H) ** 2).sum(-1) / (2 * sigma**2)
    if anchors.log_weights is not None:
        logits = logits + anchors.log_weights
    w = torch.softmax(logits, dim=1)
    m = (w[..., None] * H).sum(1)
    loss = (alpha**2 / sigma**4 * ((m - y0) ** 2).sum(-1)).mean()
    net.zero_grad()
    loss.backward()
    return loss.item(), [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize(
    "proposal, base",
    [
        ("mc", "normal"),
        ("mc", "uniform"),
        ("qmc", "normal"),
        ("qmc", "uniform"),
        ("map", "normal"),
        ("map_mix", "normal"),
        ("map", "uniform"),
    ],
)
@pytest.mark.parametrize("chunk", [4, 5, 64])
def test_chunked_gradient_equals_autograd(proposal, base, chunk):
    B, K, D, d = 5, 13, 3, 2  # chunk sizes 4, 5 do not divide K = 13 (nor B K = 65)
    torch.manual_seed(TEST_SEED)
    net = MLP(d, D, width=7, depth=2, activation="tanh", dtype="float64")
    alpha, sigma = mt.smoothing.vp(0.36)
    g = torch.Generator().manual_seed(TEST_SEED)
    y0 = torch.randn(B, D, dtype=torch.float64, generator=g)
    yt = alpha * y0 + sigma * torch.randn(B, D, dtype=torch.float64, generator=g)
    prop = MAPProposal(mix=0.3) if proposal == "map_mix" else make_proposal(proposal)
    anchors = prop.draw(net, yt, K, d, alpha, sigma, base, g)
    assert anchors.u.shape == ((B if prop.per_query else 1), K, d)
    assert (anchors.log_weights is not None) == prop.per_query
    net.zero_grad()
    loss, _ = magt_loss_and_grad(net, y0, yt, anchors, alpha, sigma, chunk_size=chunk)
    ours = [p.grad.clone() for p in net.parameters()]
    ref_loss, ref = _autograd_reference(net, y0, yt, anchors, alpha, sigma)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    scale = max(r.abs().max().item() for r in ref)
    assert scale > 1e-3  # the check is not vacuous
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-11, atol=1e-12 * scale)


def test_phase2_autograd_sees_at_most_chunk_size_anchors():
    """Peak autograd memory scales with K_c: no differentiable call of h gets more rows."""
    calls = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = MLP(1, 3, width=8, depth=1, dtype="float64")

        def forward(self, u):
            calls.append((torch.is_grad_enabled(), u.shape[0]))
            return self.net(u)

    h = Spy()
    g = torch.Generator().manual_seed(0)
    y0 = torch.randn(4, 3, dtype=torch.float64, generator=g)
    anchors = make_proposal("mc").draw(h, y0, 50, 1, 0.9, 0.4, "normal", g)
    magt_loss_and_grad(h, y0, y0, anchors, 0.9, 0.4, chunk_size=8)
    grad_calls = [n for enabled, n in calls if enabled]
    assert sum(grad_calls) == 50 and max(grad_calls) <= 8
    assert max(n for _, n in calls) <= 8


# ------------------------------------------------------------------ SNIS with exact h*
@pytest.fixture(scope="module")
def circle_queries():
    M = mt.manifolds.make("circle", ambient_dim=8, seed=3)
    alpha, sigma = mt.smoothing.vp(0.1)
    rng = np.random.default_rng(TEST_SEED)
    y = alpha * M.sample(200, rng) + sigma * rng.standard_normal((200, 8))
    return M, y, alpha, sigma, M.smoothed_score(y, sigma=sigma, alpha=alpha)


KS = 2 ** np.arange(5, 12)  # 32 .. 2048


def _score_mse(M, y, alpha, sigma, s_true, proposal, K, repeats):
    h = lambda u: M.generator(u)
    errs = [
        np.mean(
            np.sum(
                (snis_score(h, y, alpha, sigma, int(K), 1, proposal=proposal, seed=r) - s_true)
                ** 2,
                1,
            )
        )
        for r in range(repeats)
    ]
    return float(np.mean(errs))


def test_snis_score_mc_mse_falls_like_one_over_K(circle_queries):
    """Lemma 1 [MAGT]: E|s~_K - s|^2 = O(1/K) for MC anchors; fitted slope within -1 +- 0.2."""
    M, y, alpha, sigma, s_true = circle_queries
    mse = [_score_mse(M, y, alpha, sigma, s_true, "mc", K, repeats=20) for K in KS]
    slope = linregress(np.log(KS), np.log(mse)).slope
    assert -1.2 <= slope <= -0.8, (slope, mse)


def test_snis_score_qmc_beats_mc_and_rate_is_at_least_one_over_K(circle_queries):
    """QMC: error O(K^-1 log^d K) is a bound; on the circle (d = 1, smooth periodic integrand)
    a scrambled Sobol net is a stratified sample and the MSE falls much faster (about K^-3):
    assert the slope is at most -0.8 and QMC's error is below MC's at every K."""
    M, y, alpha, sigma, s_true = circle_queries
    mse_q = [_score_mse(M, y, alpha, sigma, s_true, "qmc", K, repeats=10) for K in KS]
    mse_mc = [_score_mse(M, y, alpha, sigma, s_true, "mc", K, repeats=10) for K in KS]
    slope = linregress(np.log(KS), np.log(mse_q)).slope
    assert slope <= -0.8, (slope, mse_q)
    assert all(q < m for q, m in zip(mse_q, mse_mc)), (mse_q, mse_mc)


def test_snis_score_map_with_defensive_mixture_falls_like_one_over_K(circle_queries):
    """MAP/Laplace with a defensive prior component (weights bounded by 1/mix): slope -1 +- 0.2."""
    M, y, alpha, sigma, s_true = circle_queries
    Ks = 2 ** np.arange(4, 10)
    mse = [
        _score_mse(M, y[:100], alpha, sigma, s_true[:100], MAPProposal(mix=0.5), K, repeats=8)
        for K in Ks
    ]
    slope = linregress(np.log(Ks), np.log(mse)).slope
    assert -1.2 <= slope <= -0.8, (slope, mse)


def test_map_proposal_is_the_exact_posterior_for_a_linear_gaussian_generator():
    """For h(u) = A u + b and a normal base the posterior of u given y is
    N(Lambda^{-1} (alpha/sigma^2) A^T (y - alpha b), Lambda^{-1}), Lambda = I + (alpha^2/sigma^2) A^T A:
    Gauss-Newton finds its mean and the zeta=1, tau=0 Laplace proposal equals it, so every
    importance-weighted anchor has the same SNIS weight (ESS = K)."""
    d, D, K = 2, 5, 64
    torch.manual_seed(TEST_SEED)
    net = MLP(d, D, depth=0, dtype="float64")  # affine
    A = net.net[0].weight.detach().numpy()
    b = net.net[0].bias.detach().numpy()
    alpha, sigma = mt.smoothing.vp(0.2)
    rng = np.random.default_rng(TEST_SEED)
    y = rng.standard_normal((7, D))
    lam = np.eye(d) + alpha**2 / sigma**2 * A.T @ A
    mean = np.linalg.solve(lam, (alpha / sigma**2) * A.T @ (y - alpha * b).T).T
    prop = MAPProposal(zeta=1.0, tau=0.0, steps=3)
    g = torch.Generator().manual_seed(1)
    u_hat, J = prop.mode(net, torch.as_tensor(y), d, alpha, sigma, "normal", g)
    np.testing.assert_allclose(u_hat.numpy(), mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J.numpy(), np.broadcast_to(A, (7, D, d)), rtol=1e-12)
    _, ess = snis_mean(net, y, alpha, sigma, K, d, proposal=prop, seed=2)
    np.testing.assert_allclose(ess, K, rtol=1e-9)


@pytest.mark.parametrize("proposal", ["mc", "qmc"])
def test_smoothed_log_density_estimate_matches_closed_form(proposal):
    """log (1/K) sum_k phi(y; alpha h*(u_k), sigma^2 I) vs the circle's closed form, within
    5 standard errors (SE of log p^ by the delta method, from an independent anchor draw)."""
    M = mt.manifolds.make("circle", ambient_dim=4, seed=1)
    alpha, sigma = mt.smoothing.vp(0.2)
    rng = np.random.default_rng(TEST_SEED)
    y = alpha * M.sample(20, rng) + sigma * rng.standard_normal((20, 4))
    K = 4096
    est = smoothed_log_density(
        lambda u: M.generator(u), y, alpha, sigma, K, 1, proposal=proposal, seed=5
    )
    exact = M.smoothed_log_density(y, sigma=sigma, alpha=alpha)
    x = M.generator(rng.standard_normal((K, 1)))
    sq = ((y[:, None, :] - alpha * x[None]) ** 2).sum(-1)
    phi = np.exp(-0.5 * sq / sigma**2)
    se = phi.std(1, ddof=1) / (math.sqrt(K) * phi.mean(1))
    assert np.all(np.abs(est - exact) < 5 * se), (est - exact, se)


# --------------------------------------------------------------------------- area formula
M_DIMS = {"circle": 6, "helix3d": 5, "sphere": 7}


@pytest.mark.parametrize("name", ["circle", "helix3d", "sphere"])
def test_area_formula_with_exact_generator_equals_manifold_density(name):
    M = mt.manifolds.make(name, ambient_dim=M_DIMS[name], seed=2)
    k = M.generator_latent_dim
    rng = np.random.default_rng(TEST_SEED)
    u = np.clip(rng.standard_normal((64, k)), -2.5, 2.5)  # keep Archimedes' chart off its poles
    logp = area_log_density(lambda v: M.generator(v), u, base="normal")
    assert logp.dtype == np.float64 and logp.shape == (64,)
    np.testing.assert_allclose(logp, M.log_density(M.generator(u)), rtol=0, atol=1e-8)


def test_area_formula_of_mlp_matches_finite_difference_jacobian():
    d, D = 2, 5
    torch.manual_seed(TEST_SEED)
    net = MLP(d, D, width=16, depth=2, activation="tanh", dtype="float64")
    u = np.random.default_rng(TEST_SEED).standard_normal((10, d))
    f = lambda v: net(torch.as_tensor(v)).detach().numpy()
    eps = 1e-6
    J = np.stack(
        [(f(u + eps * e) - f(u - eps * e)) / (2 * eps) for e in np.eye(d)], -1
    )  # (n, D, d)
    logdet = np.linalg.slogdet(np.einsum("nDi,nDj->nij", J, J))[1]
    expected = -0.5 * (u * u).sum(1) - d * 0.5 * math.log(2 * math.pi) - 0.5 * logdet
    np.testing.assert_allclose(area_log_density(net, u), expected, rtol=0, atol=1e-7)
    model = MAGT(latent_dim=d, width=16, depth=2, activation="tanh", dtype="float64", steps=0)
    model.fit(np.zeros((3, D)))
    assert model.log_density(u).shape == (10,)


# ----------------------------------------------------------------------------- training
def test_short_training_on_circle_reaches_the_noise_floor():
    """Circle in R^8, n = 2000: W2 from ~1 at initialisation to within 3x the two-sample noise
    floor at the same sample size; off-manifold rate (threshold 0.1) below 5%."""
    M = mt.manifolds.make("circle", ambient_dim=8, seed=0)
    n = 2000
    train = M.sample(4000, 1)
    ref = M.sample(n, 2)
    floor = mt.metrics.noise_floor(M.sample, n, rng=3, repeats=3).mean
    cfg = MAGTConfig(
        t=0.1,
        latent_dim=1,
        width=128,
        depth=3,
        n_anchors=256,
        batch_size=256,
        steps=1000,
        lr=1e-3,
        seed=0,
    )
    w2_init = mt.metrics.wasserstein(MAGT(cfg.replace(steps=0)).fit(train).sample(n, seed=5), ref)
    t0 = time.perf_counter()
    model = MAGT(cfg).fit(train, progress=False)
    seconds = time.perf_counter() - t0
    x = model.sample(n, seed=5)
    w2 = mt.metrics.wasserstein(x, ref)
    off = mt.metrics.off_manifold_rate(x, M, threshold=0.1)
    print(
        f"\nW2 init {w2_init:.4f} -> {w2:.4f}; noise floor {floor:.4f}; off-manifold {off:.4f}; {seconds:.1f}s"
    )
    assert w2_init > 10 * floor
    assert w2 < 3 * floor
    assert off < 0.05
    assert len(model.history_) == 1000 and np.all(np.isfinite(model.history_["loss"]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"proposal": "qmc"},
        {"proposal": "map", "map_mix": 0.3, "n_anchors": 32, "batch_size": 128, "steps": 600},
    ],
    ids=["qmc", "map"],
)
def test_short_training_with_qmc_and_map_anchors_reaches_the_noise_floor(overrides):
    """Same bar as the MC run, other proposals (QMC ~10 s, MAP ~40 s on one core)."""
    M = mt.manifolds.make("circle", ambient_dim=8, seed=0)
    n = 2000
    train, ref = M.sample(4000, 1), M.sample(n, 2)
    floor = mt.metrics.noise_floor(M.sample, n, rng=3, repeats=3).mean
    cfg = MAGTConfig(
        t=0.1,
        latent_dim=1,
        width=128,
        depth=3,
        n_anchors=256,
        batch_size=256,
        steps=1000,
        lr=1e-3,
        seed=0,
    ).replace(**overrides)
    x = MAGT(cfg).fit(train, progress=False).sample(n, seed=5)
    assert mt.metrics.wasserstein(x, ref) < 3 * floor
    assert mt.metrics.off_manifold_rate(x, M, threshold=0.1) < 0.05


def test_training_is_deterministic_given_the_seed():
    x = mt.manifolds.make("circle", ambient_dim=3).sample(200, 0)
    for proposal in ("mc", "qmc", "map"):
        cfg = MAGTConfig(t=0.3, proposal=proposal, seed=4, **TINY)
        a, b = MAGT(cfg).fit(x), MAGT(cfg).fit(x)
        np.testing.assert_array_equal(a.history_["loss"], b.history_["loss"])
        np.testing.assert_array_equal(a.sample(50, seed=1), b.sample(50, seed=1))
        c = MAGT(cfg.replace(seed=5)).fit(x)
        assert not np.array_equal(a.history_["loss"], c.history_["loss"])
    assert not np.array_equal(a.sample(50, seed=1), a.sample(50, seed=2))


def test_float64_and_float32_models():
    x = np.random.default_rng(0).standard_normal((100, 2))
    m64 = MAGT(t=0.3, dtype="float64", **TINY).fit(x)
    m32 = MAGT(t=0.3, **TINY).fit(x)
    assert next(m64.generator_.parameters()).dtype == torch.float64
    assert next(m32.generator_.parameters()).dtype == torch.float32
    assert m64.sample(4).dtype == np.float64 and m32.sample(4).dtype == np.float64


def test_sample_is_one_forward_pass_of_the_generator():
    x = np.random.default_rng(0).standard_normal((100, 3))
    model = MAGT(t=0.5, **TINY).fit(x)
    u = model.sample_latent(30, seed=9)
    direct = model.generator_(u).detach().double().numpy()
    np.testing.assert_array_equal(model.sample(30, seed=9), direct)


def test_progress_bar_is_silent_when_not_a_terminal(capsys):
    MAGT(t=0.5, **TINY).fit(np.zeros((10, 2)))
    assert capsys.readouterr().err == ""


BAD = [
    ("t", 0.0),
    ("t", 1.0),
    ("t", -0.5),
    ("t", float("nan")),
    ("n_anchors", 0),
    ("latent_dim", 0),
    ("chunk_size", 0),
    ("batch_size", 0),
    ("steps", -1),
    ("lr", 0.0),
    ("lr_schedule", "linear"),
    ("lr_min", 1.0),
    ("base", "laplace"),
    ("proposal", "is"),
    ("activation", "sine"),
    ("width", 0),
    ("depth", -1),
    ("jitter", -0.1),
    ("seed", -1),
    ("dtype", "float16"),
    ("betas", (0.9, 1.0)),
    ("grad_clip", 0.0),
    ("map_zeta", 0.0),
    ("map_tau", -1.0),
    ("map_steps", -1),
    ("map_init", 0),
    ("map_mix", 1.0),
]


@pytest.mark.parametrize("name, value", BAD)
def test_bad_hyper_parameters_raise_before_training(name, value):
    with pytest.raises(ValueError, match=name):
        MAGTConfig(**{name: value})
    with pytest.raises(ValueError, match=name):
        MAGT(**{name: value})


def test_bad_data_raises_before_training():
    model = MAGT(t=0.5, **TINY)
    with pytest.raises(ValueError, match="data"):
        model.fit(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="data"):
        model.fit(np.zeros((3, 2, 2)))
    assert not hasattr(model, "generator_")
    with pytest.raises(RuntimeError, match="not fitted"):
        model.sample(3)


def test_select_t_returns_the_best_model_and_the_curve():
    M = mt.manifolds.make("circle")
    train, valid = M.sample(300, 0), M.sample(200, 1)
    cfg = MAGTConfig(**{**TINY, "steps": 30})
    for criterion in ("w2", "dsm"):
        model, curve = select_t(train, valid, [0.2, 0.5], cfg, criterion=criterion, seed=0)
        assert list(curve.columns) == ["t", "criterion", "value", "final_loss", "seconds"]
        assert curve["t"].tolist() == [0.2, 0.5] and np.all(np.isfinite(curve["value"]))
        assert model.config.t == curve["t"][curve["value"].idxmin()]
    w2 = mt.metrics.wasserstein(model.sample(200, seed=0), valid)
    assert curve.loc[0, "criterion"] == "dsm" and w2 > 0
    with pytest.raises(ValueError, match="t_grid"):
        select_t(train, valid, [0.2, 1.2], cfg)


# -------------------------------------------------------------------------- persistence
def test_save_load_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((100, 3))
    model = MAGT(t=0.4, **TINY).fit(x)
    path = tmp_path / "m.pt"
    model.save(path)
    assert os.listdir(tmp_path) == ["m.pt"]  # no temp file left behind
    loaded = MAGT.load(path)
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.sample(20, seed=3), model.sample(20, seed=3))
    np.testing.assert_array_equal(loaded.history_["loss"], model.history_["loss"])
    assert list(loaded.history_.columns) == ["step", "loss", "ess", "lr", "seconds"]


def test_load_rejects_corrupt_and_foreign_files(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x02this is not a torch file")
    with pytest.raises(ValueError, match="not a readable MAGT model file"):
        MAGT.load(corrupt)
    model = MAGT(t=0.4, **TINY).fit(np.zeros((10, 2)))
    model.save(tmp_path / "good.pt")
    raw = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable"):
        MAGT.load(tmp_path / "truncated.pt")
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    torch.save({**payload, "version": 99}, tmp_path / "v99.pt")
    with pytest.raises(ValueError, match="version 99"):
        MAGT.load(tmp_path / "v99.pt")
    torch.save({**payload, "format": "something.else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=FORMAT_NAME):
        MAGT.load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        MAGT.load(tmp_path / "missing.pt")
