"""Tests of magt_theory.anchors (SNIS over anchor images, Kish ESS).

References are computed independently on the full B x K matrix with scipy.special
(logsumexp / softmax) and explicit differences, never with the library itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
import torch

from magt_theory.anchors import SNISResult, kish_ess, snis

torch.set_num_threads(1)
TEST_SEED = 20240611


def _reference(y, c, alpha, sigma, lw):
    """Dense SNIS on the full (B, K) matrix with explicit differences."""
    D = y.shape[1]
    d2 = ((y[:, None, :] - alpha * c[None, :, :]) ** 2).sum(-1)
    logits = lw[None, :] - d2 / (2 * sigma**2)
    w = sc.softmax(logits, axis=1)
    m = w @ c
    ess = 1.0 / (w**2).sum(1)  # (sum w)^2 / sum w^2 with normalised w
    log_norm = (
        sc.logsumexp(logits, axis=1) - np.log(c.shape[0]) - 0.5 * D * np.log(2 * np.pi * sigma**2)
    )
    return m, ess, (alpha * m - y) / sigma**2, log_norm, w


def _problem(B=37, K=101, D=5, seed=TEST_SEED):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((K, D)) + 0.7
    y = 1.3 * rng.standard_normal((B, D)) + 0.5
    lw = rng.standard_normal(K)
    return y, c, lw


def _circle(n, rng):
    th = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(th), np.sin(th)]


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("chunk", [1, 7, 16, 37, 101, 1024])
def test_snis_matches_dense_logsumexp(chunk):
    # chunk sizes 7 and 16 divide neither B = 37 nor K = 101
    y, c, lw = _problem()
    alpha, sigma = 0.8, 0.6
    m, ess, score, ln, w = _reference(y, c, alpha, sigma, lw)
    res, wt = snis(
        y, c, alpha=alpha, sigma=sigma, log_weights=lw, chunk_size=chunk, return_weights=True
    )
    assert isinstance(res, SNISResult)
    assert res.posterior_mean.dtype == np.float64 and res.posterior_mean.shape == (37, 5)
    assert _rel(res.posterior_mean, m) < 1e-12
    assert _rel(res.score, score) < 1e-12
    assert _rel(res.ess, ess) < 1e-12
    assert _rel(res.log_norm, ln) < 1e-12
    assert _rel(wt, w) < 1e-12
    assert np.all(res.ess >= 1 - 1e-12) and np.all(res.ess <= c.shape[0] * (1 + 1e-12))


def test_snis_unpacks_as_four_fields():
    y, c, _ = _problem(B=4, K=9, D=3)
    m, ess, score, log_norm = snis(y, c, sigma=0.5)
    assert m.shape == (4, 3) and score.shape == (4, 3)
    assert ess.shape == (4,) and log_norm.shape == (4,)


def test_snis_far_from_origin_cancellation():
    # a cloud far from the origin: the expansion |y|^2 - 2 y.c + |c|^2 must not lose accuracy
    y, c, lw = _problem(B=20, K=50, D=3)
    shift = 1e4
    m, ess, score, ln, _ = _reference(y + shift, c + shift, 1.0, 0.5, lw)
    res = snis(y + shift, c + shift, sigma=0.5, log_weights=lw, chunk_size=16)
    assert _rel(res.posterior_mean - shift, m - shift) < 1e-9
    assert _rel(res.ess, ess) < 1e-9
    assert np.max(np.abs(res.log_norm - ln)) < 1e-6


def test_snis_tiny_sigma_nearest_anchor_limit():
    rng = np.random.default_rng(TEST_SEED)
    K, D, alpha, sigma = 64, 4, 0.9, 1e-4
    c = rng.standard_normal((K, D))
    y = alpha * c[:10] + 0.3 * rng.standard_normal((10, D))
    d2 = ((y[:, None, :] - alpha * c[None]) ** 2).sum(-1)
    order = np.sort(d2, axis=1)
    # the gap between nearest and second-nearest is >> sigma^2, so the limit is exact in float64
    assert np.all(order[:, 1] - order[:, 0] > 1e-3)
    near = np.argmin(d2, axis=1)
    for chunk in (5, 1024):
        res = snis(y, c, alpha=alpha, sigma=sigma, chunk_size=chunk)
        for v in res:
            assert np.all(np.isfinite(v))
        np.testing.assert_allclose(res.posterior_mean, c[near], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.ess, 1.0, rtol=1e-12)
        np.testing.assert_allclose(res.score, (alpha * c[near] - y) / sigma**2, rtol=1e-9)
        ln = -order[:, 0] / (2 * sigma**2) - np.log(K) - 0.5 * D * np.log(2 * np.pi * sigma**2)
        np.testing.assert_allclose(res.log_norm, ln, rtol=1e-9)


def test_snis_tiny_sigma_torch_float64_no_nan():
    rng = np.random.default_rng(1)
    c = _circle(500, rng)
    y = _circle(30, rng) + 0.01 * rng.standard_normal((30, 2))
    res = snis(torch.tensor(y), torch.tensor(c), sigma=1e-4, chunk_size=64)
    for v in res:
        assert torch.isfinite(v).all()


def test_log_weights_shift_invariance():
    y, c, lw = _problem()
    r1 = snis(y, c, alpha=0.7, sigma=0.4, log_weights=lw, chunk_size=13)
    r2 = snis(y, c, alpha=0.7, sigma=0.4, log_weights=lw + 123.4, chunk_size=13)
    np.testing.assert_allclose(r2.posterior_mean, r1.posterior_mean, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(r2.score, r1.score, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(r2.ess, r1.ess, rtol=1e-12)
    np.testing.assert_allclose(r2.log_norm, r1.log_norm + 123.4, rtol=1e-12)


def test_log_norm_is_unbiased_density_estimate():
    # anchors from N(0, 1) in D = 1, VE smoothing: p(y) = N(y; 0, 1 + sigma^2) exactly.
    # The mean of the inner estimate over anchor draws must match it (5 standard errors).
    rng = np.random.default_rng(TEST_SEED)
    sigma, K, R = 0.5, 200, 400
    y = np.array([[-1.0], [0.0], [0.8]])
    est = np.array(
        [np.exp(snis(y, rng.standard_normal((K, 1)), sigma=sigma).log_norm) for _ in range(R)]
    )
    truth = st.norm.pdf(y[:, 0], scale=np.sqrt(1 + sigma**2))
    se = est.std(axis=0, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(est.mean(0) - truth) < 5 * se)


def test_torch_and_numpy_agree_and_keep_dtype_device():
    y, c, lw = _problem()
    rn = snis(y, c, alpha=0.9, sigma=0.5, log_weights=lw, chunk_size=10)
    rt = snis(
        torch.tensor(y), torch.tensor(c), alpha=0.9, sigma=0.5, log_weights=torch.tensor(lw),
        chunk_size=10,
    )
    for a, b in zip(rt, rn):
        assert isinstance(a, torch.Tensor) and a.dtype == torch.float64
        assert _rel(a.numpy(), b) < 1e-12
    # mixed input: numpy centers with a torch query
    rm = snis(torch.tensor(y), c, alpha=0.9, sigma=0.5, log_weights=lw, chunk_size=10)
    assert _rel(rm.posterior_mean.numpy(), rn.posterior_mean) < 1e-12
    # float32 keeps float32; error at the float32 rounding level
    f32 = torch.float32
    r32 = snis(torch.tensor(y, dtype=f32), torch.tensor(c, dtype=f32), alpha=0.9, sigma=0.5)
    rn0 = snis(y, c, alpha=0.9, sigma=0.5)
    assert r32.posterior_mean.dtype == torch.float32
    assert _rel(r32.posterior_mean.double().numpy(), rn0.posterior_mean) < 1e-4


def test_torch_outputs_are_detached():
    y, c, _ = _problem(B=5, K=11, D=2)
    ct = torch.tensor(c, requires_grad=True)
    res = snis(torch.tensor(y), ct, sigma=0.5)
    assert not res.posterior_mean.requires_grad and not res.score.requires_grad


def test_kish_ess_matches_direct_formula_and_is_shift_invariant():
    rng = np.random.default_rng(TEST_SEED)
    lw = 3 * rng.standard_normal((6, 50))
    w = np.exp(lw)
    direct = w.sum(1) ** 2 / (w**2).sum(1)
    np.testing.assert_allclose(kish_ess(lw), direct, rtol=1e-12)
    np.testing.assert_allclose(kish_ess(lw - 800.0), direct, rtol=1e-12)  # would underflow naively
    np.testing.assert_allclose(kish_ess(torch.tensor(lw)).numpy(), direct, rtol=1e-12)
    np.testing.assert_allclose(kish_ess(np.zeros(17)), 17.0, rtol=1e-14)
    np.testing.assert_allclose(kish_ess(np.array([0.0, -np.inf, 0.0])), 2.0, rtol=1e-14)
    np.testing.assert_allclose(kish_ess(lw.T, axis=0), direct, rtol=1e-12)


def _circle_ess(sigmas, K=4096, B=256, seed=TEST_SEED):
    rng = np.random.default_rng(seed)
    c = _circle(K, rng)
    x = _circle(B, rng)
    z = rng.standard_normal((B, 2))
    return np.array([snis(x + s * z, c, sigma=s).ess.mean() for s in sigmas])


def test_ess_falls_monotonically_as_sigma_shrinks_on_circle():
    sig = np.geomspace(1e-3, 0.3, 10)
    ess = _circle_ess(sig)
    assert np.all(np.diff(ess) > 0)


def test_ess_scales_like_K_sigma_to_the_d_on_circle():
    # docs/conventions.md §4-5 [derived]: ESS ~ K sigma^d; for uniform anchors on the unit circle the local
    # (flat) computation gives ESS ~= K sigma / sqrt(pi). Regime: K sigma >> 1, sigma << 1.
    K = 4096
    sig = np.geomspace(5e-3, 0.1, 7)
    ess = _circle_ess(sig, K=K)
    slope = st.linregress(np.log(sig), np.log(ess)).slope
    assert abs(slope - 1.0) < 0.1, slope  # d = 1, band +-0.1
    ratio = ess / (K * sig / np.sqrt(np.pi))
    assert np.all(np.abs(ratio - 1.0) < 0.1), ratio


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(sigma=0.0), ValueError),
        (dict(sigma=-1.0), ValueError),
        (dict(sigma=np.nan), ValueError),
        (dict(sigma="a"), TypeError),
        (dict(sigma=None), TypeError),
        (dict(alpha=0.0), ValueError),
        (dict(alpha=1.5), ValueError),
        (dict(chunk_size=0), ValueError),
        (dict(chunk_size=2.5), TypeError),
        (dict(log_weights=np.zeros(3)), ValueError),
        (dict(log_weights=np.r_[np.nan, np.zeros(10)]), ValueError),
        (dict(return_weights="yes"), TypeError),
    ],
)
def test_snis_bad_arguments_raise(kwargs, exc):
    y, c, _ = _problem(B=4, K=11, D=3)
    base = dict(sigma=0.5)
    base.update(kwargs)
    with pytest.raises(exc):
        snis(y, c, **base)


def test_snis_bad_shapes_raise():
    y, c, _ = _problem(B=4, K=11, D=3)
    with pytest.raises(ValueError, match="y"):
        snis(y[:, :2], c, sigma=0.5)
    with pytest.raises(ValueError, match="centers"):
        snis(y, np.zeros((0, 3)), sigma=0.5)
    yn = y.copy()
    yn[0, 0] = np.inf
    with pytest.raises(ValueError, match="y"):
        snis(yn, c, sigma=0.5)
    with pytest.raises(ValueError, match="y"):
        snis(torch.tensor(y[:, :2]), torch.tensor(c), sigma=0.5)
    with pytest.raises(ValueError, match="log_weights"):
        snis(torch.tensor(y), torch.tensor(c), sigma=0.5, log_weights=torch.zeros(3))


def test_kish_ess_bad_input():
    with pytest.raises(ValueError):
        kish_ess(np.array([0.0, np.nan]))
    with pytest.raises(ValueError):
        kish_ess(np.array([-np.inf, -np.inf]))
    with pytest.raises(ValueError):
        kish_ess(np.zeros(0))


# ------------------------------------------------------------------ per-query anchors
def _per_query_reference(y, c, alpha, sigma, lw):
    """Query by query, plain float64 formulas (independent of the code under test)."""
    B, K, D = c.shape
    out = []
    for b in range(B):
        logits = lw[b] - ((y[b] - alpha * c[b]) ** 2).sum(1) / (2 * sigma**2)
        w = np.exp(logits - sc.logsumexp(logits))
        m = w @ c[b]
        log_norm = (sc.logsumexp(logits) - np.log(K)
                    - 0.5 * D * np.log(2 * np.pi * sigma**2))
        out.append((m, 1.0 / np.sum(w**2), (alpha * m - y[b]) / sigma**2, log_norm, w))
    return [np.array(v) for v in zip(*out)]


def test_snis_per_query_matches_direct_formulas_numpy_and_torch():
    from magt_theory.anchors import snis_per_query

    rng = np.random.default_rng(3)
    B, K, D, alpha, sigma = 7, 11, 4, 0.9, 0.3
    y = rng.normal(size=(B, D))
    c = rng.normal(size=(B, K, D))
    lw = rng.normal(size=(B, K))
    ref = _per_query_reference(y, c, alpha, sigma, lw)
    res, w = snis_per_query(y, c, alpha, sigma, lw, return_weights=True)
    for got, want in zip((*res, w), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    res_t = snis_per_query(torch.as_tensor(y), torch.as_tensor(c), alpha, sigma,
                           torch.as_tensor(lw))
    for got, want in zip(res_t, ref):
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)


def test_snis_per_query_with_shared_centers_equals_snis():
    """Same anchors for every query: the per-query SNIS is the shared (streaming) one."""
    from magt_theory.anchors import snis_per_query

    rng = np.random.default_rng(4)
    y, c = rng.normal(size=(5, 3)), rng.normal(size=(9, 3))
    shared = snis(y, c, alpha=0.8, sigma=0.5)
    per = snis_per_query(y, np.broadcast_to(c, (5, 9, 3)), alpha=0.8, sigma=0.5)
    for a, b in zip(shared, per):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_snis_per_query_rejects_bad_arguments():
    from magt_theory.anchors import snis_per_query

    y, c = np.zeros((2, 3)), np.zeros((2, 4, 3))
    with pytest.raises(ValueError, match="centers"):
        snis_per_query(y, c[0], sigma=1.0)
    with pytest.raises(ValueError, match="y must"):
        snis_per_query(np.zeros((3, 3)), c, sigma=1.0)
    with pytest.raises(ValueError, match="log_weights"):
        snis_per_query(y, c, sigma=1.0, log_weights=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="centers"):
        snis_per_query(y, np.full((2, 4, 3), np.nan), sigma=1.0)
    with pytest.raises(ValueError, match="sigma"):
        snis_per_query(y, c, sigma=0.0)
    with pytest.raises(TypeError, match="return_weights"):
        snis_per_query(y, c, sigma=1.0, return_weights="yes")
