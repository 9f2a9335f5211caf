"""Benchmark of the foundation layer: manifold scores, SNIS anchors, exact Wasserstein.

Prints ratios measured side by side in one run (not a timed test):

(a) ``M.smoothed_score`` of the circle embedded in ``R^64`` on ``N = 10^6`` points vs one
    ``y @ Q`` matmul of the same input (``Q`` the ``64 x 2`` embedding; a memory-bound
    reference that reads the input once).
(b) ``magt_theory.anchors.snis`` (streaming log-sum-exp over anchor chunks) with
    ``B = K = 4096``, ``D = 64`` vs the dense reference ``torch.cdist`` + ``softmax`` + matmul
    (torch, float64, CPU): time ratio. Peak memory is measured with ``tracemalloc`` on the
    numpy path of ``snis`` vs the same dense reference written with numpy/scipy
    (``scipy.spatial.distance.cdist`` + ``scipy.special.softmax`` + matmul): numpy reports its
    array allocations to ``tracemalloc``, so the traced peak is the peak of array memory
    allocated during the call (inputs excluded). Torch's CPU allocator is not traced.
(c) ``wasserstein(x, y, p=2, method="exact")`` (POT network simplex) at ``n = 5000`` vs
    ``scipy.optimize.linear_sum_assignment`` on the same squared-distance matrix (for uniform
    weights and equal sizes the optimal plan is a permutation, so both give ``W_2``).

Timings are the best of ``--repeats`` runs after a warm-up. Threads: ``OMP_NUM_THREADS``
(default 1, set before numpy is imported) and ``torch.set_num_threads(--threads)``.

Usage::

    python benchmarks/bench_foundation.py            # full sizes (about a minute or more)
    python benchmarks/bench_foundation.py --quick    # small sizes, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
import scipy.spatial.distance as ssd  # noqa: E402
import scipy.special as sc  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
from magt_theory.anchors import snis  # noqa: E402
from magt_theory.metrics import wasserstein  # noqa: E402


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(N=100_000, D=64, B=1024, K=1024, chunk=256, n_ot=1000, repeats=3)
    return dict(N=1_000_000, D=64, B=4096, K=4096, chunk=1024, n_ot=5000, repeats=3)


def _best_time(fn, repeats: int, warmup: bool = True) -> float:
    """Fastest of ``repeats`` runs (after one warm-up), robust to other load on the machine."""
    if warmup:
        fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _traced_peak(fn) -> float:
    """Peak bytes allocated (numpy arrays included) during ``fn()``, via tracemalloc."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def bench_score(s: dict, rows: list) -> dict:
    """Append the (a) row to ``rows``; return the timings ``{"t_score", "t_matmul"}`` in
    seconds (empty dict when skipped)."""
    try:
        import magt_theory as mt

        M = mt.manifolds.make("circle", ambient_dim=s["D"])
    except Exception as exc:  # manifolds not available in this checkout
        msg = f"mt.manifolds.make('circle') failed: {exc}"
        rows.append(("(a) circle smoothed_score", "skipped", msg))
        return {}
    rng = np.random.default_rng(0)
    sigma = 0.1
    y = M.sample(s["N"], rng) + sigma * rng.standard_normal((s["N"], s["D"]))
    Q = M.Q if M.Q is not None else np.eye(s["D"])
    t_score = _best_time(lambda: M.smoothed_score(y, sigma=sigma), s["repeats"])
    t_mm = _best_time(lambda: y @ Q, s["repeats"])
    rows.append(
        (
            f"(a) circle smoothed_score, N={s['N']}, D={s['D']}",
            f"{t_score:.3f} s vs y@Q {t_mm:.4f} s",
            f"ratio {t_score / t_mm:.1f}x",
        )
    )
    return {"t_score": t_score, "t_matmul": t_mm}


def bench_snis(s: dict, rows: list) -> dict:
    """Append the (b) rows to ``rows``; return ``{"t_snis_torch", "t_dense_torch",
    "t_snis_numpy", "t_dense_numpy", "peak_snis_numpy", "peak_dense_numpy"}`` (s, bytes)."""
    B, K, D, chunk = s["B"], s["K"], s["D"], s["chunk"]
    rng = np.random.default_rng(1)
    c = rng.standard_normal((K, D)) / np.sqrt(D)
    y = 0.9 * c[rng.integers(0, K, B)] + 0.3 * rng.standard_normal((B, D)) / np.sqrt(D)
    alpha, sigma = 0.9, 0.3
    yt, ct = torch.tensor(y), torch.tensor(c)

    def ours_t():
        return snis(yt, ct, alpha=alpha, sigma=sigma, chunk_size=chunk)

    def dense_t():
        d2 = torch.cdist(yt, alpha * ct) ** 2
        w = torch.softmax(-d2 / (2 * sigma**2), dim=1)
        return w @ ct

    t_ours = _best_time(ours_t, s["repeats"])
    t_dense = _best_time(dense_t, s["repeats"])
    err = float((ours_t().posterior_mean - dense_t()).abs().max())
    rows.append(
        (
            f"(b) snis torch f64, B={B}, K={K}, D={D}, chunk={chunk}",
            f"{t_ours:.3f} s vs cdist+softmax+matmul {t_dense:.3f} s",
            f"ratio {t_ours / t_dense:.2f}x, max |dm| {err:.1e}",
        )
    )

    def ours_np():
        return snis(y, c, alpha=alpha, sigma=sigma, chunk_size=chunk)

    def dense_np():
        d2 = ssd.cdist(y, alpha * c, metric="sqeuclidean")
        w = sc.softmax(-d2 / (2 * sigma**2), axis=1)
        return w @ c

    t_ours_np = _best_time(ours_np, 1)
    t_dense_np = _best_time(dense_np, 1)
    p_ours = _traced_peak(ours_np)
    p_dense = _traced_peak(dense_np)
    rows.append(
        (
            "(b) snis numpy: time / traced peak memory",
            f"{t_ours_np:.3f} s, {p_ours / 2**20:.1f} MiB vs dense {t_dense_np:.3f} s, "
            f"{p_dense / 2**20:.1f} MiB",
            f"time {t_ours_np / t_dense_np:.2f}x, memory {p_ours / p_dense:.3f}x "
            f"(B*K*8 = {B * K * 8 / 2**20:.0f} MiB)",
        )
    )
    return {"t_snis_torch": t_ours, "t_dense_torch": t_dense, "t_snis_numpy": t_ours_np,
            "t_dense_numpy": t_dense_np, "peak_snis_numpy": p_ours, "peak_dense_numpy": p_dense}


def bench_w2(s: dict, rows: list) -> dict:
    """Append the (c) row to ``rows``; return ``{"t_pot", "t_cost", "t_lsa", "w_pot",
    "w_lsa"}`` (seconds; W2 values)."""
    n = s["n_ot"]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, 3))
    y = rng.standard_normal((n, 3)) + 0.5
    t0 = time.perf_counter()
    w_pot = wasserstein(x, y, p=2, method="exact")
    t_pot = time.perf_counter() - t0
    t0 = time.perf_counter()
    C = ssd.cdist(x, y, metric="sqeuclidean")
    t_cost = time.perf_counter() - t0
    t0 = time.perf_counter()
    r, cidx = so.linear_sum_assignment(C)
    t_lsa = time.perf_counter() - t0
    w_lsa = float(np.sqrt(C[r, cidx].mean()))
    rows.append(
        (
            f"(c) exact W2, n={n}, D=3",
            f"POT emd {t_pot:.2f} s vs cdist {t_cost:.2f} s + LSA {t_lsa:.2f} s",
            f"time ratio {t_pot / (t_cost + t_lsa):.2f}x, W2 {w_pot:.10f} vs {w_lsa:.10f} "
            f"(rel diff {abs(w_pot - w_lsa) / w_lsa:.1e})",
        )
    )
    return {"t_pot": t_pot, "t_cost": t_cost, "t_lsa": t_lsa, "w_pot": w_pot, "w_lsa": w_lsa}


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    s = _sizes(args.quick)
    rows: list = []
    for bench in (bench_score, bench_snis, bench_w2):
        bench(s, rows)
    width = max(len(r[0]) for r in rows)
    print(f"bench_foundation ({'quick' if args.quick else 'full'}; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}, torch threads {torch.get_num_threads()})")
    for name, timing, ratio in rows:
        print(f"{name:<{width}}  {timing}  |  {ratio}")
    return rows


if __name__ == "__main__":
    main()
