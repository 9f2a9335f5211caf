"""Large problems (issue 7, part 3): exact W2 beyond a dense cost matrix, scores and SNIS
anchors at D = 10^4, with memory bounded by chunking.

Independent references: ``scipy.optimize.linear_sum_assignment`` on the exact squared-distance
matrix (for uniform weights and n = m the optimal plan is a permutation, so its cost is
W2^2), POT's dense ``ot.emd2`` called directly, a dense ``cdist`` + softmax + matmul SNIS, and
the native-coordinate score rotated by the embedding ``Q`` plus the exact orthogonal part
``-(I - Q Q^T) y / sigma^2``. Memory: ``tracemalloc`` traces numpy's array allocations (so
its peak is the peak of array memory allocated during the call, inputs excluded); the C++
network simplex is not traced, so the lazy solver is also checked by the resident-set
high-water mark (``VmHWM``, Linux) of a fresh subprocess.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import ot
import pytest
import scipy.optimize as so
import scipy.spatial.distance as ssd
import scipy.special as sc

import magt_theory as mt
from magt_theory import metrics
from magt_theory.anchors import snis
from magt_theory.manifolds import _base

TEST_SEED = 20240611
D_LARGE = 10**4


def _traced_peak(fn):
    """(result, peak bytes of traced allocations during ``fn()`` above the level before it)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return out, peak


# ----------------------------------------------------------------------------- exact W2, lazy
@pytest.mark.parametrize("D", [2, 5])
def test_lazy_equals_assignment_and_dense(D):
    n = 500
    rng = np.random.default_rng(TEST_SEED + D)
    x = rng.standard_normal((n, D))
    y = 1.3 * rng.standard_normal((n, D)) + 0.4
    C = ssd.cdist(x, y, "sqeuclidean")
    r, c = so.linear_sum_assignment(C)
    ref = math.sqrt(C[r, c].mean())
    w_lazy = metrics.wasserstein(x, y, p=2, max_dense_bytes=0)
    w_dense = metrics.wasserstein(x, y, p=2, max_dense_bytes=math.inf)
    assert abs(w_lazy - ref) <= 1e-10
    assert abs(w_lazy - w_dense) <= 1e-10


@pytest.mark.parametrize("p", [1, 2])
def test_lazy_weighted_unequal_sizes_equals_pot_dense(p):
    rng = np.random.default_rng(TEST_SEED)
    x, y = rng.standard_normal((300, 3)), rng.standard_normal((220, 3)) + 0.3
    a, b = rng.uniform(0.2, 1.0, 300), rng.uniform(0.2, 1.0, 220)
    a, b = a / a.sum(), b / b.sum()
    M = ssd.cdist(x, y, "sqeuclidean" if p == 2 else "euclidean")
    ref = ot.emd2(a, b, M, numItermax=10**8) ** (1.0 / p)
    w = metrics.wasserstein(x, y, p=p, a=a, b=b, max_dense_bytes=0)
    assert abs(w - ref) <= 1e-10 * max(ref, 1.0)


def test_exact_switches_to_lazy_above_threshold(monkeypatch):
    rng = np.random.default_rng(TEST_SEED)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((30, 2))
    calls = []
    real_lazy, real_dense = ot.emd2_lazy, ot.emd2
    monkeypatch.setattr(ot, "emd2_lazy", lambda *a, **k: calls.append("lazy") or real_lazy(*a, **k))
    monkeypatch.setattr(ot, "emd2", lambda *a, **k: calls.append("dense") or real_dense(*a, **k))
    pairs_bytes = metrics.DENSE_BYTES_PER_PAIR * 40 * 30
    metrics.wasserstein(x, y, max_dense_bytes=pairs_bytes)  # at the threshold: dense
    metrics.wasserstein(x, y, max_dense_bytes=pairs_bytes - 1)  # just above: lazy
    metrics.wasserstein(x, y)  # default threshold (1 GiB): dense at this size
    assert calls == ["dense", "lazy", "dense"]
    # the documented default corresponds to ~5000 points a side
    n_switch = math.isqrt(metrics.DEFAULT_MAX_DENSE_BYTES // metrics.DENSE_BYTES_PER_PAIR)
    assert 4000 < n_switch < 6000


def test_lazy_non_optimal_raises():
    rng = np.random.default_rng(TEST_SEED)
    x, y = rng.standard_normal((200, 3)), rng.standard_normal((200, 3))
    with pytest.raises(RuntimeError, match=r"lazy network simplex\) stopped before optimality"):
        metrics.wasserstein(x, y, max_dense_bytes=0, numItermax=20)


@pytest.mark.parametrize("bad", [-1, "1e9", float("nan"), True, None])
def test_max_dense_bytes_validated(bad):
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="max_dense_bytes"):
        metrics.wasserstein(x, x + 1, max_dense_bytes=bad)


_LAZY_WORKER = textwrap.dedent(
    """
    import json, sys, tracemalloc
    import numpy as np
    from magt_theory.metrics import wasserstein

    n = int(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    x, y = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + 0.5
    # warm-up on the same lazy POT path (imports POT and its first allocations; a 50-point
    # call on the default solver would go to the assignment solver and import nothing)
    wasserstein(x[:50], y[:50], max_dense_bytes=0, solver="network_simplex")

    def status(key):
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key + ":"))

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current VmRSS
        rss0 = status("VmRSS")
    except OSError:
        rss0 = None
    tracemalloc.start()
    w = wasserstein(x, y, p=2, max_dense_bytes=0)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = None if rss0 is None else status("VmHWM") - rss0
    print(json.dumps({"w": w, "traced": traced, "rss": rss}))
    """
)


def _lazy_memory(n):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_WORKER, str(n), str(TEST_SEED)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _check_lazy_memory(n):
    res = _lazy_memory(n)
    dense_matrix = 8 * n * n
    # tracemalloc: nothing of size n^2 is allocated in Python/numpy (inputs are 48 n bytes)
    assert res["traced"] < dense_matrix / 100, res
    if res["rss"] is not None:  # whole process incl. the C++ solver: O(n), far below 8 n^2
        assert res["rss"] < dense_matrix / 4, res
    assert math.isfinite(res["w"]) and res["w"] > 0


def test_lazy_memory_bound():
    """n = 2000: the dense path would need 8 n^2 = 32 MB (cost) + ~128 MB (solver arcs)."""
    _check_lazy_memory(2000)


@pytest.mark.slow
def test_lazy_memory_bound_large():
    """n = 8000: 8 n^2 = 512 MB for the cost matrix alone, ~2.5 GB for the dense solver."""
    _check_lazy_memory(8000)


# ----------------------------------------------------------------------------- SNIS, D = 10^4
def test_snis_large_D_matches_dense_and_memory_is_chunked():
    B, K, chunk, D = 32, 512, 32, D_LARGE
    rng = np.random.default_rng(TEST_SEED)
    c = rng.standard_normal((K, D)) / math.sqrt(D)
    y = 0.9 * c[rng.integers(0, K, B)] + 0.1 * rng.standard_normal((B, D)) / math.sqrt(D)
    lw = rng.standard_normal(K)
    alpha, sigma = 0.9, 0.1
    res, peak = _traced_peak(
        lambda: snis(y, c, alpha=alpha, sigma=sigma, log_weights=lw, chunk_size=chunk)
    )
    # independent dense reference: exact distances, softmax, matmul
    d2 = ssd.cdist(y, alpha * c, "sqeuclidean")
    logits = lw[None, :] - d2 / (2 * sigma**2)
    w = sc.softmax(logits, axis=1)
    mean = w @ c
    scale = np.abs(mean).max()
    assert np.abs(res.posterior_mean - mean).max() <= 1e-10 * scale
    np.testing.assert_allclose(res.ess, 1.0 / np.sum(w * w, axis=1), rtol=1e-9)
    log_norm = sc.logsumexp(logits, axis=1) - math.log(K) - 0.5 * D * math.log(
        2 * math.pi * sigma**2)
    np.testing.assert_allclose(res.log_norm, log_norm, rtol=1e-12, atol=1e-9)
    # memory: outputs (two B x D) and their temporaries, a few chunk x D blocks, the finiteness
    # scan of the inputs (1 byte per entry) -- never a copy of the K x D anchors
    f8 = 8
    bound = f8 * D * (6 * B + 6 * chunk) + (K + B) * D + f8 * (chunk * chunk + 4 * K)
    assert peak < bound, (peak, bound)
    assert peak < 0.5 * f8 * K * D, (peak, f8 * K * D)


# ----------------------------------------------------------------------------- scores, D = 10^4
@pytest.mark.parametrize("name", ["spiral2d", "sphere"])
def test_smoothed_score_large_D(monkeypatch, name):
    """Embedded score at D = 10^4 = Q s_native(Q^T y) - (I - Q Q^T) y / sigma^2, with working
    memory beyond the (n, D) output bounded independently of n_chunks x nodes x D."""
    monkeypatch.setattr(_base, "QUERY_CHUNK", 32)  # several chunks at a small n
    n, sigma = 256, 0.05
    M = mt.manifolds.make(name, ambient_dim=D_LARGE, seed=3)
    M0 = mt.manifolds.make(name)
    rng = np.random.default_rng(TEST_SEED)
    y = M.sample(n, rng) + sigma * rng.standard_normal((n, D_LARGE))
    score, peak = _traced_peak(lambda: M.smoothed_score(y, sigma=sigma))
    assert score.shape == (n, D_LARGE) and np.all(np.isfinite(score))
    Q = M.Q
    assert Q.shape == (D_LARGE, M0.native_dim)
    np.testing.assert_allclose(Q.T @ Q, np.eye(M0.native_dim), atol=1e-12)
    yn = y @ Q
    ref = M0.smoothed_score(yn, sigma=sigma) @ Q.T - (y - yn @ Q.T) / sigma**2
    assert np.abs(score - ref).max() <= 1e-8 * np.abs(ref).max()
    out = 8 * n * D_LARGE
    assert peak < 2.5 * out, (peak, out)
