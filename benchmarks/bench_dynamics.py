"""Benchmark: multi-step DDIM with a learned score MLP at 20 / 100 / 1000 steps (+ a one-step hook).

What is measured (MAGT's synthetic protocol, docs/conventions.md §4-5; default manifold ``spiral2d``):

1. A :class:`~magt_theory.models.diffusion.ScoreNetwork` (MLP backbone, EDM preconditioning) is
   trained once by denoising score matching over ``t in [1e-4, 0.9999]`` on ``n_train`` samples.
2. For each number of DDIM steps (20, 100, 1000; plus the final Tweedie denoising, so
   NFE = steps + 1): wall and CPU time to draw 10^4 samples (best of the repeats after a
   warm-up, ``torch.no_grad``, ``torch.set_num_threads(--threads)``; ``--quick`` times 2000
   samples and scales by 5), exact W2 of ``n_eval`` generated
   points to ``n_eval`` fresh reference points, the off-manifold rate (threshold 0.1), and ratios
   of CPU time and W2 to the 1000-step run. The two-sample W2 noise floor at ``n_eval`` is printed
   next to them.
3. :func:`compare` takes an optional ``one_step_sampler(n, seed) -> (n, D) ndarray`` (e.g. a
   trained MAGT generator, to be plugged in by the lead) and adds it as one more row (NFE 1).

Usage::

    python benchmarks/bench_dynamics.py            # full sizes (about 2-3 min on one core)
    python benchmarks/bench_dynamics.py --quick    # small sizes, about a minute of CPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
import magt_theory as mt  # noqa: E402
from magt_theory.models import diffusion as df  # noqa: E402

N_SAMPLES = 10_000


def _sizes(quick: bool) -> dict:
    if quick:  # timing on 2000 samples scaled to 10^4; an under-trained network (W2 not meaningful)
        return {"n_train": 5000, "train_steps": 800, "width": 128, "depth": 3, "n_eval": 500,
                "repeats": 1, "steps": (20, 100, 1000), "n_time": 2000}
    return {"n_train": 10_000, "train_steps": 8000, "width": 128, "depth": 3, "n_eval": 2000,
            "repeats": 2, "steps": (20, 100, 1000), "n_time": N_SAMPLES}


def _best_time(fn, repeats: int):
    """Best wall and CPU (process) time over ``repeats`` runs; CPU time is robust to a loaded
    machine when one thread is used."""
    best, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def _ddim_sampler(net, n_steps: int, dim: int):
    grid = df.time_grid(n_steps)

    def run(n: int, seed: int) -> np.ndarray:
        x = torch.as_tensor(df.prior_noise(n, dim, seed), dtype=net.dtype)
        with torch.no_grad():
            return df.ddim_sample(net, x, grid).samples.double().numpy()

    return run


def compare(one_step_sampler=None, *, quick: bool = False, manifold: str = "spiral2d",
            ambient_dim: int | None = None, threads: int = 1, seed: int = 0, net=None,
            verbose: bool = True, extra_samplers=None):
    """Run the benchmark and return its rows (list of dicts).

    Parameters
    ----------
    one_step_sampler : callable, optional
        ``one_step_sampler(n, seed) -> (n, D)`` float array: a one-step generator (NFE = 1), e.g.
        MAGT's. Timed on 10^4 samples and evaluated like the DDIM rows.
    quick : bool
        Small sizes.
    manifold, ambient_dim : str, int or None
        Data manifold (``mt.manifolds.make``).
    threads : int
        ``torch.set_num_threads``.
    seed : int
    net : ScoreNetwork, optional
        A trained score network to reuse (skips training).
    extra_samplers : sequence of (name, nfe, sampler), optional
        More samplers ``sampler(n, seed) -> (n, D)`` timed and evaluated like the others, e.g.
        flow matching with 20 Euler steps (``benchmarks/run_all.py``).
    """
    torch.set_num_threads(threads)
    cfg = _sizes(quick)
    M = mt.manifolds.make(manifold, ambient_dim=ambient_dim, seed=seed)
    D = M.ambient_dim
    t_train = 0.0
    if net is None:
        data = M.sample(cfg["n_train"], seed)
        t0 = time.perf_counter()
        net = df.train_score_network(data, steps=cfg["train_steps"], width=cfg["width"],
                                     depth=cfg["depth"], seed=seed)
        t_train = time.perf_counter() - t0
    n_eval = cfg["n_eval"]
    ref = M.sample(n_eval, seed + 101)
    floor = mt.metrics.wasserstein(M.sample(n_eval, seed + 202), ref)

    samplers = [(f"DDIM-{s}", s + 1, _ddim_sampler(net, s, D)) for s in cfg["steps"]]
    if one_step_sampler is not None:
        if not callable(one_step_sampler):
            raise TypeError("one_step_sampler must be a callable (n, seed) -> (n, D) array")
        samplers.append(("one-step", 1, one_step_sampler))
    for name, nfe, fn in extra_samplers or ():
        if not callable(fn):
            raise TypeError(f"extra sampler {name!r} must be a callable (n, seed) -> (n, D) array")
        samplers.append((str(name), int(nfe), fn))
    rows = []
    n_time = cfg["n_time"]
    scale = N_SAMPLES / n_time
    for name, nfe, fn in samplers:
        fn(256, seed + 7)  # warm-up
        secs, cpu, x = _best_time(
            lambda fn=fn: np.asarray(fn(n_time, seed + 303), dtype=np.float64), cfg["repeats"])
        if x.shape != (n_time, D) or not np.all(np.isfinite(x)):
            raise ValueError(f"{name}: sampler returned shape {x.shape} or non-finite values")
        rows.append({
            "sampler": name, "nfe": nfe, "seconds_per_1e4": secs * scale,
            "cpu_seconds_per_1e4": cpu * scale,
            "w2": mt.metrics.wasserstein(x[:n_eval], ref),
            "off_manifold_rate": mt.metrics.off_manifold_rate(x, M),
        })
    base = next(r for r in rows if r["sampler"] == f"DDIM-{cfg['steps'][-1]}")
    for r in rows:
        r["time_ratio_vs_ddim1000"] = r["cpu_seconds_per_1e4"] / base["cpu_seconds_per_1e4"]
        r["w2_ratio_vs_ddim1000"] = r["w2"] / base["w2"]
        r["w2_over_floor"] = r["w2"] / floor
    if verbose:
        print(f"manifold={manifold} D={D} d={M.dim} threads={threads} quick={quick} "
              f"torch={torch.__version__}")
        print(f"score MLP {cfg['depth']}x{cfg['width']} SiLU, DSM steps={cfg['train_steps']}, "
              f"n_train={cfg['n_train']}, train time {t_train:.1f} s, final loss "
              f"{np.mean(net.train_losses_[-100:]):.4f}")
        print(f"W2 noise floor (two reference samples of {n_eval}): {floor:.4f}; times per 10^4 "
              f"samples" + (f" (measured on {n_time}, scaled)" if n_time != N_SAMPLES else ""))
        hdr = (f"{'sampler':<11}{'NFE':>6}{'wall s':>9}{'cpu s':>9}{'cpu/1000':>9}{'W2':>9}"
               f"{'W2/W2_1000':>11}{'W2/floor':>9}{'off-rate':>9}")
        print(hdr)
        for r in rows:
            print(f"{r['sampler']:<11}{r['nfe']:>6}{r['seconds_per_1e4']:>9.3f}"
                  f"{r['cpu_seconds_per_1e4']:>9.3f}{r['time_ratio_vs_ddim1000']:>9.4f}{r['w2']:>9.4f}"
                  f"{r['w2_ratio_vs_ddim1000']:>11.3f}{r['w2_over_floor']:>9.3f}"
                  f"{r['off_manifold_rate']:>9.4f}")
    for r in rows:
        r.update({"manifold": manifold, "D": D, "w2_noise_floor": floor, "n_eval": n_eval})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (well under a minute)")
    p.add_argument("--manifold", default="spiral2d")
    p.add_argument("--ambient-dim", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    compare(None, quick=args.quick, manifold=args.manifold, ambient_dim=args.ambient_dim,
            threads=args.threads, seed=args.seed)


if __name__ == "__main__":
    main()
