"""Benchmark of the numpy path: start-up per job, closed-form scores, exact W2, smoke wall time.

Prints measurements taken side by side in one run (not a timed test):

(a) **Start-up per job**: wall time of fresh interpreters running ``python -m magt_theory
    --help`` (what every workflow job pays before its own work), ``import magt_theory``,
    ``import magt_theory.experiments``, and ``import torch`` for reference; best of
    ``--repeats``. With ``--baseline DIR`` (a checkout of an older version) the same commands
    run with ``DIR`` first on ``sys.path``, side by side.
(b) **Closed-form smoothed score vs matmul**: ``M.smoothed_score(y, sigma)`` for the circle,
    the 2-sphere and the flat 2-torus embedded in ``R^64`` on ``N = 10^5`` points vs one
    ``y @ Q`` of the same input (``Q`` the ``64 x n`` embedding), run round-robin. Also the
    general path
    (``Manifold.posterior``, which computes the log density too) and the largest difference
    between the two (round-off).
(c) **Exact W2 vs POT and linear_sum_assignment**: ``wasserstein(x, y, p=2)`` (``solver=
    "auto"``) vs ``cdist`` + ``ot.emd2`` (POT's network simplex, the numItermax of
    ``wasserstein``) vs ``cdist`` + ``scipy.optimize.linear_sum_assignment``, for uniform
    samples of equal size ``n`` (round-robin repeats); ratio to the better of the two and the
    largest difference of the values. ``wasserstein`` validates its input (finiteness, overflow
    guard, weights): a fixed ~0.05-0.1 ms that the bare solver calls do not pay, visible only
    below about 100 points.
(d) With ``--smoke``: wall time of the smoke workflow (``snakemake --cores 2 --configfile
    workflows/config/smoke.yaml``) in a temporary copy of this checkout (and of ``--baseline``).

Threads: ``OMP_NUM_THREADS`` etc. default to 1 (set before numpy is imported). On a shared
machine the absolute times reflect the other load; the ratios are taken within one run.

Usage::

    python benchmarks/bench_numpy_path.py --quick
    python benchmarks/bench_numpy_path.py --baseline /tmp/old_checkout --smoke
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
import scipy.spatial.distance as ssd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import magt_theory as mt  # noqa: E402
from magt_theory.manifolds import Manifold  # noqa: E402


def _best_interleaved(fns, repeats: int) -> list:
    """Fastest of ``repeats`` runs of each function, run round-robin (after one warm-up each)
    so that a change of the machine's load affects all of them alike."""
    for fn in fns:
        fn()
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


# ------------------------------------------------------------------------------ (a) start-up
STARTUP = {
    "python -m magt_theory --help": ["-m", "magt_theory", "--help"],
    "import magt_theory": ["-c", "import magt_theory"],
    "import magt_theory.experiments": ["-c", "import magt_theory.experiments"],
    "import torch (reference)": ["-c", "import torch"],
}


def startup_seconds(tree: Path, repeats: int = 3) -> dict:
    """Best wall time of each :data:`STARTUP` command in fresh interpreters, ``tree`` first on
    the path (``cwd=tree``: ``-m`` and ``-c`` put the working directory first)."""
    out = {}
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for label, args in STARTUP.items():
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            best = min(best, time.perf_counter() - t0)
        out[label] = best
    return out


# ------------------------------------------------------------------------------ (b) scores
def score_ratios(N: int = 100_000, D: int = 64, repeats: int = 5, sigma: float = 0.1) -> list:
    """Rows ``(manifold, t_score, t_general, t_matmul, max_abs_diff)`` (seconds)."""
    rows = []
    for name in ("circle", "sphere", "flat_torus"):
        M = mt.manifolds.make(name, ambient_dim=D)
        rng = np.random.default_rng(0)
        y = M.sample(N, rng) + sigma * rng.standard_normal((N, D))
        Q = M.Q

        def general():
            return (Manifold.posterior(M, y, sigma)[0] - y) / sigma**2

        t_score, t_general, t_mm = _best_interleaved(
            [lambda: M.smoothed_score(y, sigma), general, lambda: y @ Q], repeats)
        diff = float(np.max(np.abs(M.smoothed_score(y, sigma) - general())))
        rows.append((name, t_score, t_general, t_mm, diff))
    return rows


# ------------------------------------------------------------------------------ (c) exact W2
def w2_rows(sizes, D: int = 3, repeats: int = 3) -> list:
    """Rows ``(n, t_ours, t_pot, t_lsa, max_value_diff)`` (seconds, cost matrix included)."""
    import ot

    from magt_theory.metrics import wasserstein

    rows = []
    for n in sizes:
        rng = np.random.default_rng(2)
        x = rng.standard_normal((n, D))
        y = rng.standard_normal((n, D)) + 0.5
        a = np.full(n, 1.0 / n)
        r = repeats if n <= 1000 else 1

        def pot():
            C = ssd.cdist(x, y, metric="sqeuclidean")
            return float(np.sqrt(ot.emd2(a, a, C, numItermax=max(10**7, 50 * n * n))))

        def lsa():
            C = ssd.cdist(x, y, metric="sqeuclidean")
            i, j = so.linear_sum_assignment(C)
            return float(np.sqrt(C[i, j].mean()))

        t_ours, t_pot, t_lsa = _best_interleaved(
            [lambda: wasserstein(x, y, p=2), pot, lsa], r)
        vals = [wasserstein(x, y, p=2), pot(), lsa()]
        rows.append((n, t_ours, t_pot, t_lsa, max(vals) - min(vals)))
    return rows


# ------------------------------------------------------------------------------ (d) smoke
def smoke_seconds(tree: Path, cores: int = 2) -> float:
    """Wall time of the smoke workflow in a temporary copy of ``tree`` (no results reused)."""
    snakemake = Path(sys.executable).with_name("snakemake")
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "tree"
        shutil.copytree(tree, dst, ignore=shutil.ignore_patterns(
            ".git", ".venv", "results", ".snakemake", "paper_figures", "__pycache__"))
        t0 = time.perf_counter()
        subprocess.run([str(snakemake), "--cores", str(cores), "--configfile",
                        "workflows/config/smoke.yaml", "--quiet"], cwd=dst, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and W2 sizes")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an older checkout to measure side by side (start-up, smoke)")
    ap.add_argument("--smoke", action="store_true", help="also time the smoke workflow")
    args = ap.parse_args(argv)
    res: dict = {}
    print(f"bench_numpy_path ({'quick' if args.quick else 'full'}; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}; load average {os.getloadavg()[0]:.1f})\n")

    trees = {"this": ROOT} if args.baseline is None else {"baseline": args.baseline,
                                                          "this": ROOT}
    print("(a) start-up per job, best of 3 fresh interpreters [s]")
    res["startup"] = {k: startup_seconds(v) for k, v in trees.items()}
    hdr = "".join(f"{k:>10}" for k in trees)
    print(f"  {'command':<34}{hdr}")
    for label in STARTUP:
        print(f"  {label:<34}" + "".join(f"{res['startup'][k][label]:>10.2f}" for k in trees))

    print("\n(b) closed-form smoothed score vs y @ Q, N=1e5, D=64, sigma=0.1")
    res["score"] = score_ratios(repeats=3 if args.quick else 7)
    for name, ts, tg, tm, diff in res["score"]:
        print(f"  {name:<11} score {ts * 1e3:7.1f} ms  general {tg * 1e3:7.1f} ms  y@Q "
              f"{tm * 1e3:6.1f} ms  ratio {ts / tm:5.2f}x (general {tg / tm:5.2f}x)  "
              f"max|diff| {diff:.1e}")

    sizes = (50, 100, 200, 500, 1000) if args.quick else (50, 100, 200, 500, 1000, 2000, 3000)
    print("\n(c) exact W2, uniform equal sizes, D=3 (times include the cost matrix)")
    res["w2"] = w2_rows(sizes, repeats=3 if args.quick else 5)
    for n, to, tp, tl, diff in res["w2"]:
        print(f"  n={n:<5} wasserstein {to * 1e3:9.2f} ms  POT {tp * 1e3:9.2f} ms  LSA "
              f"{tl * 1e3:9.2f} ms  ours/best {to / min(tp, tl):5.2f}  POT/LSA {tp / tl:5.2f}"
              f"  max|dW2| {diff:.1e}")

    if args.smoke:
        print("\n(d) smoke workflow wall time, --cores 2 [s]")
        res["smoke"] = {k: smoke_seconds(v) for k, v in trees.items()}
        for k, v in res["smoke"].items():
            print(f"  {k:<10} {v:7.1f}")
    return res


if __name__ == "__main__":
    main()
