"""Benchmark suite: one table of ratios measured side by side in one run (issue 7, part 4).

Each row is a time (or memory) ratio ``numerator / denominator`` of two measurements taken in
this run, by the functions of the individual benchmark scripts (no code of theirs copied):

1. closed-form score vs matmul roofline -- ``bench_foundation.bench_score``:
   ``M.smoothed_score`` of the circle in ``R^64`` vs one ``y @ Q`` (reads the input once);
2. SNIS vs dense ``cdist`` + ``softmax`` + matmul -- ``bench_foundation.bench_snis`` (torch
   f64 time; numpy traced peak memory);
3. MAGT training step vs plain MLP forward + backward on ``B + K`` inputs --
   ``bench_magt.measure``;
4. MAGT sampling vs DDIM-1000 and flow matching with 20 Euler steps (FM-20), same MLP
   backbone (width x depth, SiLU) for the MAGT generator, the score network and the velocity
   network -- ``bench_dynamics.compare`` with MAGT plugged into its ``one_step_sampler`` hook
   and FM-20 as an ``extra_samplers`` entry (CPU time per 10^4 samples; W2 to a reference
   sample is printed too: with ``--quick`` the networks are under-trained and W2 is not
   meaningful);
5. exact W2 (POT network simplex) vs ``scipy.optimize.linear_sum_assignment`` (+ its cost
   matrix) -- ``bench_foundation.bench_w2``; plus the lazy exact solver (``ot.emd2_lazy``,
   used by ``wasserstein`` above ``max_dense_bytes``) vs the dense one on the same points;
6. parallel efficiency of the smoke workflow ``T(--cores 1) / (2 T(--cores 2))`` in temporary
   copies of the workflow -- ``bench_dag.workflow_seconds``.

The machine's 1-minute load average is printed before and after: on a shared machine the wall
times (and above all the parallel efficiency) reflect the other load. One thread per process
(``OMP_NUM_THREADS=1``, ``torch.set_num_threads(--threads)``).

Usage::

    python benchmarks/run_all.py --quick    # small sizes (a few minutes of one core)
    python benchmarks/run_all.py            # full sizes of every script (tens of minutes)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_dag  # noqa: E402
import bench_dynamics  # noqa: E402
import bench_foundation  # noqa: E402
import bench_numpy_path  # noqa: E402
import bench_magt  # noqa: E402

import magt_theory as mt  # noqa: E402
from magt_theory.models import MAGT, MAGTConfig  # noqa: E402
from magt_theory.models import diffusion as df  # noqa: E402
from magt_theory.models import flow_matching as fm  # noqa: E402


class Table:
    """Rows ``(benchmark, numerator, denominator, ratio, note)``."""

    def __init__(self):
        self.rows = []

    def add(self, bench, num_label, num, den_label, den, unit="s", note=""):
        ratio = num / den if den > 0 else float("inf")
        fmt = (lambda v: f"{v:.4g} s") if unit == "s" else (lambda v: f"{v / 2**20:.3g} MiB")
        self.rows.append((bench, f"{num_label} {fmt(num)}", f"{den_label} {fmt(den)}",
                          f"{ratio:.3g}", note))
        return ratio

    def skip(self, bench, why):
        self.rows.append((bench, "skipped", "", "", why))

    def print(self):
        hdr = ("benchmark", "numerator", "denominator", "ratio", "note")
        w = [max(len(str(r[i])) for r in [hdr] + self.rows) for i in range(5)]
        line = "  ".join(f"{{:<{x}}}" for x in w)
        print(line.format(*hdr))
        print("  ".join("-" * x for x in w))
        for r in sorted(self.rows, key=lambda r: int(r[0].split()[0])):  # stable: by item
            print(line.format(*r))


def _foundation(table, quick):
    s = bench_foundation._sizes(quick)
    rows: list = []
    t = bench_foundation.bench_score(s, rows)
    if t:
        table.add("1 closed-form score vs matmul roofline", "smoothed_score", t["t_score"],
                  "y@Q", t["t_matmul"], note=f"circle in R^{s['D']}, N={s['N']}")
    else:
        table.skip("1 closed-form score vs matmul roofline", rows[-1][2])
    t = bench_foundation.bench_snis(s, rows)
    note = f"B=K={s['B']}, D={s['D']}, chunk={s['chunk']}"
    table.add("2 SNIS vs cdist+softmax+matmul (torch f64)", "snis", t["t_snis_torch"],
              "dense", t["t_dense_torch"], note=note)
    table.add("2 SNIS vs dense: traced peak memory (numpy)", "snis", t["peak_snis_numpy"],
              "dense", t["peak_dense_numpy"], unit="B", note=note)
    t = bench_foundation.bench_w2(s, rows)
    n = s["n_ot"]
    table.add("5 exact W2 (POT emd) vs linear_sum_assignment", "wasserstein", t["t_pot"],
              "cdist+LSA", t["t_cost"] + t["t_lsa"],
              note=f"n={n}, D=3, |dW2|/W2={abs(t['w_pot'] - t['w_lsa']) / t['w_lsa']:.1e}")
    rng = np.random.default_rng(2)  # the points of bench_w2
    x, y = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + 0.5
    t0 = time.perf_counter()
    w_lazy = mt.metrics.wasserstein(x, y, max_dense_bytes=0)
    t_lazy = time.perf_counter() - t0
    table.add("5 exact W2: lazy (emd2_lazy) vs dense (emd2)", "lazy", t_lazy, "dense",
              t["t_pot"], note=f"n={n}, |dW2|={abs(w_lazy - t['w_pot']):.1e}")


def _numpy_path(table, quick):
    """Rows 1 (fused scores of circle, sphere, flat torus) and 5 (exact W2 vs the better of
    POT and linear_sum_assignment per size) from ``bench_numpy_path``."""
    for name, ts, _tg, tm, _diff in bench_numpy_path.score_ratios(repeats=3 if quick else 7):
        table.add("1 closed-form score vs matmul roofline", "smoothed_score", ts, "y@Q", tm,
                  note=f"{name} in R^64, N=100000")
    sizes = (50, 100, 200, 500, 1000) if quick else (50, 100, 200, 500, 1000, 2000)
    for n, to, tp, tl, diff in bench_numpy_path.w2_rows(sizes, repeats=3 if quick else 5):
        table.add("5 exact W2 vs best of POT emd and LSA", "wasserstein", to,
                  "POT" if tp <= tl else "LSA", min(tp, tl),
                  note=f"n={n}, D=3, POT/LSA {tp / tl:.2f}, |dW2| {diff:.1e}")


def _magt_step(table, quick, device):
    t = bench_magt.measure(quick, device)
    s = t["sizes"]
    table.add("3 MAGT training step vs MLP fwd+bwd on B+K", "MAGT step", t["t_step"],
              "fwd+bwd", t["t_plain"],
              note=f"B={s['B']} K={s['K']} K_c={s['chunk']} D={s['D']} MLP {s['depth']}x"
                   f"{s['width']}")
    table.add("3 MAGT sampling vs one MLP forward", "sample", t["t_sample"], "forward",
              t["t_forward"], note=f"n={s['n_sample']}")


def _samplers(table, quick, threads):
    ds = bench_dynamics._sizes(quick)
    manifold, seed = "spiral2d", 0
    M = mt.manifolds.make(manifold, seed=seed)
    data = M.sample(ds["n_train"], seed)  # the data compare() trains its score network on
    steps = 300 if quick else 3000
    magt = MAGT(MAGTConfig(t=0.02, latent_dim=M.dim, width=ds["width"], depth=ds["depth"],
                           activation="silu", n_anchors=256, batch_size=256, chunk_size=256,
                           steps=steps, lr=2e-3, seed=seed)).fit(data)
    vnet = fm.train_flow_matching(data, steps=ds["train_steps"], width=ds["width"],
                                  depth=ds["depth"], seed=seed)

    def fm20(n, s):
        x = torch.as_tensor(df.prior_noise(n, M.ambient_dim, s), dtype=vnet.dtype)
        with torch.no_grad():
            return fm.integrate(vnet, x, fm.s_grid(20), method="euler").samples.double().numpy()

    rows = bench_dynamics.compare(
        lambda n, s: magt.sample(n, seed=s), quick=quick, manifold=manifold, threads=threads,
        seed=seed, extra_samplers=[("FM-20", 20, fm20)], verbose=True,
    )
    by = {r["sampler"]: r for r in rows}
    m, d1000, f20 = by["one-step"], by["DDIM-1000"], by["FM-20"]
    note = (f"{manifold}, MLP {ds['depth']}x{ds['width']} SiLU; CPU s per 1e4; W2 MAGT "
            f"{m['w2']:.3f}, DDIM {d1000['w2']:.3f}, FM {f20['w2']:.3f}, floor "
            f"{m['w2_noise_floor']:.3f}")
    table.add("4 MAGT sampling vs DDIM-1000", "MAGT (NFE 1)", m["cpu_seconds_per_1e4"],
              "DDIM-1000", d1000["cpu_seconds_per_1e4"], note=note)
    table.add("4 MAGT sampling vs flow matching-20", "MAGT (NFE 1)", m["cpu_seconds_per_1e4"],
              "FM-20 Euler", f20["cpu_seconds_per_1e4"])


def _parallel(table):
    t1 = bench_dag.workflow_seconds(1)
    t2 = bench_dag.workflow_seconds(2)
    eff = t1["seconds"] / (2 * t2["seconds"])
    table.add("6 smoke workflow --cores 1 vs --cores 2", "T1", t1["seconds"], "T2",
              t2["seconds"],
              note=f"efficiency T1/(2 T2) = {eff:.2f}; child CPU s {t1['cpu_seconds']:.0f} "
                   f"vs {t2['cpu_seconds']:.0f}")


def main(argv=None) -> Table:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu", help="torch device of the MAGT step benchmark")
    p.add_argument("--skip-workflow", action="store_true",
                   help="leave out the parallel-efficiency runs of the smoke workflow")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    table = Table()
    _foundation(table, args.quick)
    _numpy_path(table, args.quick)
    _magt_step(table, args.quick, args.device)
    _samplers(table, args.quick, args.threads)
    if args.skip_workflow:
        table.skip("6 smoke workflow --cores 1 vs --cores 2", "--skip-workflow")
    else:
        _parallel(table)
    print(f"\nbenchmark suite ({'quick' if args.quick else 'full'}): {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}; load average "
          f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after; {time.perf_counter() - t0:.0f} s")
    table.print()
    return table


if __name__ == "__main__":
    main()
