"""Benchmark of MAGT training and sampling (prints ratios measured side by side).

Measurements (default sizes: B = 256, K = 1024, D = 64, d = 2, MLP 5 x 512 ReLU, float32):

1. Time of one MAGT training step (anchor draw, exact two-phase chunked gradient, Adam step)
   vs the same MLP's plain forward + backward on ``B + K`` inputs, and the step with
   ``K_c = K`` (one chunk) vs ``K_c = 128``.
2. Peak memory, chunked (``K_c = 128``) vs unchunked (``K_c = K``), two ways:

   * *autograd memory*: bytes of every tensor autograd saves for backward, counted with
     ``torch.autograd.graph.saved_tensors_hooks``; phase 2 frees each chunk's graph before the
     next chunk, so the peak is the largest single chunk (exact, allocator independent);
   * *process memory* (CPU, Linux): in a fresh subprocess per variant, build everything, reset
     the resident-set high-water mark (``echo 5 > /proc/self/clear_refs``), run one step and
     report ``VmHWM`` minus the ``VmRSS`` before the step (``/proc/self/status``); includes
     allocator slack. On CUDA: ``torch.cuda.max_memory_allocated`` around the step instead.
3. Time to draw 10^4 samples (``MAGT.sample``) vs one forward pass of the MLP on 10^4 latents.

Timings are the best of several repeats after a warm-up, with ``torch.set_num_threads(--threads)``.

Usage::

    python benchmarks/bench_magt.py            # full sizes
    python benchmarks/bench_magt.py --quick    # small sizes, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
from magt_theory.models import MAGT, MAGTConfig, magt_loss_and_grad, make_proposal


def _sizes(quick: bool) -> dict:
    if quick:
        return {
            "B": 64,
            "K": 256,
            "D": 16,
            "d": 2,
            "width": 128,
            "depth": 3,
            "chunk": 32,
            "repeats": 10,
            "n_sample": 10_000,
        }
    return {
        "B": 256,
        "K": 1024,
        "D": 64,
        "d": 2,
        "width": 512,
        "depth": 5,
        "chunk": 128,
        "repeats": 7,
        "n_sample": 10_000,
    }


def _best_time(fn, repeats: int) -> float:
    """Fastest of ``repeats`` runs after a warm-up (robust to other load on a shared machine)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _setup(s: dict, device: str):
    cfg = MAGTConfig(
        t=0.1,
        latent_dim=s["d"],
        width=s["width"],
        depth=s["depth"],
        n_anchors=s["K"],
        batch_size=s["B"],
        chunk_size=s["chunk"],
        steps=0,
        device=device,
        seed=0,
    )
    data = np.random.default_rng(0).standard_normal((4 * s["B"], s["D"]))
    model = MAGT(cfg).fit(data)
    net = model.generator_
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(0)
    X = torch.as_tensor(data, dtype=torch.float32, device=device)
    return cfg, net, opt, gen, X


def _step(cfg, net, opt, gen, X, chunk):
    """One training step, as MAGT.fit does it."""
    a, s = cfg.alpha, cfg.sigma
    idx = torch.randint(0, X.shape[0], (cfg.batch_size,), generator=gen, device=X.device)
    y0 = X[idx]
    yt = a * y0 + s * torch.randn(y0.shape, generator=gen, device=X.device)
    anchors = make_proposal("mc").draw(net, yt, cfg.n_anchors, cfg.latent_dim, a, s, cfg.base, gen)
    opt.zero_grad(set_to_none=True)
    magt_loss_and_grad(net, y0, yt, anchors, a, s, chunk)
    opt.step()


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def saved_tensor_peak(net, run) -> int:
    """Largest number of bytes autograd holds for one differentiable call of ``net`` in ``run``."""
    state = {"now": 0, "peak": 0}
    params = {q.untyped_storage().data_ptr() for q in net.parameters()}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:  # weights are saved by reference
            state["now"] += t.numel() * t.element_size()
        return t

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, u):
            if not torch.is_grad_enabled():
                return self.inner(u)
            state["now"] = 0
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = self.inner(u)
            state["peak"] = max(state["peak"], state["now"])
            return out

    run(Counting())
    return state["peak"]


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _rss_worker(quick: bool, chunk: int) -> None:
    """Subprocess body: print the resident-memory growth (bytes) of one step with ``K_c = chunk``."""
    torch.set_num_threads(1)
    s = _sizes(quick)
    cfg, net, opt, gen, X = _setup(s, "cpu")
    # warm-up on a 1-query, 1-anchor step: allocates Adam's state and initialises the kernels
    _step(cfg.replace(n_anchors=1, batch_size=1), net, opt, gen, X, 1)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current VmRSS
    except OSError:
        print(json.dumps({"rss": None}))
        return
    before = _status_kb("VmRSS")
    _step(cfg, net, opt, gen, X, chunk)
    print(json.dumps({"rss": (_status_kb("VmHWM") - before) * 1024}))


def _rss(quick: bool, chunk: int):
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss-worker", "--_chunk", str(chunk)]
    if quick:
        cmd.append("--quick")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["rss"]


def time_step(s: dict, dev: str, cfg, net, opt, gen, X):
    """Best times (s) of: the plain MLP forward + backward on ``B + K`` inputs, one MAGT
    training step with ``K_c = s["chunk"]``, and one with ``K_c = K`` (measurement 1)."""
    u_plain = torch.randn(s["B"] + s["K"], s["d"], device=dev)

    def plain():
        net.zero_grad(set_to_none=True)
        net(u_plain).sum().backward()
        _sync(dev)

    def step(chunk):
        def f():
            _step(cfg, net, opt, gen, X, chunk)
            _sync(dev)

        return f

    t_plain = _best_time(plain, s["repeats"])
    t_step = _best_time(step(s["chunk"]), s["repeats"])
    t_step_full = _best_time(step(s["K"]), s["repeats"])
    return t_plain, t_step, t_step_full


def time_sampling(s: dict, dev: str, cfg, net):
    """Best times (s) of ``MAGT.sample`` of ``s["n_sample"]`` points and of one forward pass
    on as many latents (measurement 3)."""
    n = s["n_sample"]
    model = MAGT(cfg)
    model.generator_, model.ambient_dim_ = net, s["D"]
    u = torch.randn(n, s["d"], device=dev)

    def fwd():
        with torch.no_grad():
            net(u)
        _sync(dev)

    t_sample = _best_time(lambda: model.sample(n, seed=0), s["repeats"])
    t_fwd = _best_time(fwd, s["repeats"])
    return t_sample, t_fwd


def measure(quick: bool = False, device: str = "cpu") -> dict:
    """Timings of measurements 1 and 3 (seconds) for the suite runner
    (``benchmarks/run_all.py``): ``t_plain``, ``t_step``, ``t_step_full``, ``t_sample``,
    ``t_forward`` and the sizes ``sizes``."""
    s = _sizes(quick)
    cfg, net, opt, gen, X = _setup(s, device)
    t_plain, t_step, t_step_full = time_step(s, device, cfg, net, opt, gen, X)
    t_sample, t_fwd = time_sampling(s, device, cfg, net)
    return {"t_plain": t_plain, "t_step": t_step, "t_step_full": t_step_full,
            "t_sample": t_sample, "t_forward": t_fwd, "sizes": s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--_rss-worker", dest="rss_worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_chunk", dest="rss_chunk", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_worker:
        _rss_worker(args.quick, args.rss_chunk)
        return 0
    torch.set_num_threads(args.threads)
    s = _sizes(args.quick)
    dev = args.device
    B, K, D, d = s["B"], s["K"], s["D"], s["d"]
    print(
        f"MAGT benchmark on {dev} ({torch.get_num_threads()} thread(s)): B={B} K={K} D={D} d={d}, "
        f"MLP {s['depth']}x{s['width']} ReLU float32, K_c={s['chunk']}, best of {s['repeats']}"
    )
    cfg, net, opt, gen, X = _setup(s, dev)
    rows = []

    # 1. step time vs plain forward+backward on B + K inputs
    t_plain, t_step, t_step_full = time_step(s, dev, cfg, net, opt, gen, X)
    rows += [
        ("MAGT step (K_c chunks) / MLP fwd+bwd on B+K", t_step, t_plain),
        ("MAGT step (one chunk, K_c=K) / MLP fwd+bwd on B+K", t_step_full, t_plain),
        ("MAGT step K_c chunks / one chunk", t_step, t_step_full),
    ]

    # 2. memory
    def run_with(chunk):
        def run(h):
            a, sg = cfg.alpha, cfg.sigma
            y0 = X[:B]
            anchors = make_proposal("mc").draw(
                h, y0, K, d, a, sg, cfg.base, torch.Generator(device=dev).manual_seed(1)
            )
            magt_loss_and_grad(h, y0, y0, anchors, a, sg, chunk)

        return run

    saved_c = saved_tensor_peak(net, run_with(s["chunk"]))
    saved_full = saved_tensor_peak(net, run_with(K))
    mem = [("autograd saved tensors: unchunked / chunked [MB]", saved_full, saved_c)]
    if dev.startswith("cuda"):
        peaks = {}
        for chunk in (K, s["chunk"]):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            _step(cfg, net, opt, gen, X, chunk)
            torch.cuda.synchronize()
            peaks[chunk] = torch.cuda.max_memory_allocated() - base
        mem.append(
            (
                "CUDA peak allocated above baseline: unchunked / chunked [MB]",
                peaks[K],
                peaks[s["chunk"]],
            )
        )
    else:
        r_full, r_c = _rss(args.quick, K), _rss(args.quick, s["chunk"])
        if r_full is not None and r_c is not None:
            mem.append(("peak RSS growth in one step: unchunked / chunked [MB]", r_full, r_c))

    # 3. sampling 10^4 points vs one forward pass
    n = s["n_sample"]
    t_sample, t_fwd = time_sampling(s, dev, cfg, net)
    rows.append((f"sample {n} points / one forward pass on {n} latents", t_sample, t_fwd))

    w = max(len(r[0]) for r in rows + mem) + 2
    print(f"\n{'timing':<{w}}{'numerator':>12}{'denominator':>13}{'ratio':>9}")
    for name, a, b in rows:
        print(f"{name:<{w}}{a * 1e3:>10.2f}ms{b * 1e3:>11.2f}ms{a / b:>9.2f}")
    print(f"\n{'memory':<{w}}{'numerator':>12}{'denominator':>13}{'ratio':>9}")
    for name, a, b in mem:
        ratio = a / b if b > 0 else float("inf")
        print(f"{name:<{w}}{a / 2**20:>10.2f}MB{b / 2**20:>11.2f}MB{ratio:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
