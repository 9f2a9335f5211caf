"""MAGT's synthetic benchmark: one job = one (dataset, method, seed) [MAGT §5, THEORY.md §3].

Protocol (the paper's, every size a parameter so that small configs can shrink it): ``n``
training points of a known manifold law with Gaussian jitter ``N(0, 0.02^2 I)``, ``n_valid``
jittered validation points (MAGT's t selection), ``n_gen`` generated points; MLPs of ``depth``
hidden layers of ``width`` units for every network: ReLU (the protocol's backbone) for MAGT,
the score and velocity networks of the diffusion and flow-matching baselines, WGAN-GP and the
characteristic generator (ReLU networks also learn the low-noise denoiser much faster than SiLU
ones at small budgets), SiLU for the proximal-flow potential, whose gradient and time
derivative must be smooth; Adam at learning rate ``lr`` for every method except WGAN-GP (whose
optimiser settings are part of the protocol); MAGT with ``K`` anchors and ``t`` chosen on the
validation set over ``t_grid`` by W2.

Methods (:data:`METHODS`; NFE = network evaluations per sample):

========== ====================================================================== =========
method     what                                                                   NFE
========== ====================================================================== =========
magt       MAGT (:func:`~magt_theory.models.magt.select_t`), one forward pass      1
magt_ddim  MAGT samples noised to ``refine_t`` (VP), ``refine_steps`` DDIM steps   1 + r + 1
           with a learned score, Tweedie denoising at the end
ddim1000   DDIM, 999 steps + final denoising, learned score                       1000
dpmpp20    DPM-Solver++(2M), 19 steps + final denoising                           20
dpmpp40    DPM-Solver++(2M), 39 steps + final denoising                           40
fm20       flow matching (linear path), 10 midpoint steps                         20
wgan_gp    WGAN-GP (5 critic steps, GP 10, Adam 1e-4, betas (0.5, 0.999))         1
chargen    characteristic generator ``g(0, T, z)``                                1
w1w2       W1⊕W2 proximal flow, ``w1w2_K`` Euler steps of ``-grad U/lambda``      K
========== ====================================================================== =========

Measurements (tidy rows, one per quantity): ``w2`` -- exact W2 (POT network simplex) between
the first ``n_w2`` generated points and ``n_w2`` fresh *clean* samples of the manifold law (a
documented subsample: exact OT is O(n^3)); ``w2_noise_floor`` -- the same between two
independent clean samples of size ``n_w2``; ``off_manifold_rate`` -- fraction of all ``n_gen``
samples farther than 0.1 from the manifold; ``nfe``; ``seconds_per_1e4`` -- wall time of
generating the ``n_gen`` samples (after a warm-up call; the minimum over repeated calls until
0.5 s have elapsed, at most 7, see :func:`time_sampler`), scaled to 10^4 samples;
``seconds_train``; ``t_selected`` for the MAGT methods; and ``n_scatter`` generated points as
rows ``sample_x0, sample_x1, ...`` with a ``sample_index`` column (for the scatter-grid figure).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import manifolds
from ..metrics import off_manifold_rate, wasserstein
from ._common import resolve, rows

NAME = "benchmark"

#: every method of the benchmark, in table order
METHODS = ("magt", "magt_ddim", "ddim1000", "dpmpp20", "dpmpp40", "fm20", "wgan_gp", "chargen",
           "w1w2")

#: the paper's six synthetic datasets
DATASETS = ("rings2d", "spiral2d", "moons2d", "checker2d", "helix3d", "torus3d")

DEFAULTS = {
    "manifold": "rings2d",
    "method": "magt",
    "seed": 0,
    "n": 10000,
    "n_valid": 5000,
    "jitter": 0.02,
    "n_gen": 10000,
    "n_w2": 4000,
    "n_scatter": 1000,
    "threshold": 0.1,
    "width": 512,
    "depth": 5,
    "batch_size": 256,
    "lr": 1e-3,
    # MAGT
    "t_grid": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "K": 1024,
    "magt_steps": 4000,
    "n_select": 2000,
    # learned score (DDIM, DPM-Solver++, MAGT + DDIM refinement)
    "score_steps": 8000,
    "refine_t": 0.05,
    "refine_steps": 5,
    # flow matching
    "fm_steps": 8000,
    # WGAN-GP (learning rate and betas are the protocol's and not parameters)
    "wgan_steps": 8000,
    # characteristic generator
    "chargen_T": 0.999,
    "chargen_K": 1024,
    "chargen_steps": 8000,
    "chargen_semigroup": 0.0,
    # W1 + W2 proximal flow
    "w1w2_steps": 4000,
    "w1w2_K": 10,
    "w1w2_lam": 0.05,
    "w1w2_L": 1.0,
}


def _validate(p: dict) -> None:
    if p["method"] not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {p['method']!r}")
    for k in ("n", "n_valid", "n_gen", "n_w2", "width", "K", "batch_size", "magt_steps",
              "n_select", "score_steps", "refine_steps", "fm_steps", "wgan_steps", "chargen_K",
              "chargen_steps", "w1w2_steps", "w1w2_K"):
        if not isinstance(p[k], (int, np.integer)) or p[k] < 1:
            raise ValueError(f"{k} must be an integer >= 1; got {p[k]!r}")
    if p["n_w2"] > p["n_gen"]:
        raise ValueError(f"n_w2 must be <= n_gen = {p['n_gen']}; got {p['n_w2']}")
    if not 0 <= p["n_scatter"] <= p["n_gen"]:
        raise ValueError(f"n_scatter must be in [0, n_gen = {p['n_gen']}]; got {p['n_scatter']}")
    if not 0 < p["refine_t"] < 1:
        raise ValueError(f"refine_t must be in (0, 1); got {p['refine_t']!r}")
    if not 0 < p["chargen_T"] < 1:
        raise ValueError(f"chargen_T must be in (0, 1); got {p['chargen_T']!r}")
    if not p["t_grid"] or any(not 0 < t < 1 for t in p["t_grid"]):
        raise ValueError(f"t_grid must be a non-empty list of levels in (0, 1); got {p['t_grid']}")


def time_sampler(fn, min_seconds: float = 0.5, max_repeats: int = 7):
    """Call ``fn()`` until ``min_seconds`` have elapsed in total or ``max_repeats`` calls.

    Returns ``(output of the last call, minimum wall time of one call, number of calls)``:
    the minimum over repeats is the least noisy estimate on a shared machine (``timeit``
    practice); ``fn`` must be deterministic (fixed seeds), so every call returns the same.
    """
    times, out = [], None
    while True:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) >= min_seconds or len(times) >= max_repeats:
            return out, min(times), len(times)


# ------------------------------------------------------------------------------ trainers
def _magt(data, valid, p, d):
    from ..models.magt import MAGTConfig, select_t

    cfg = MAGTConfig(latent_dim=d, width=p["width"], depth=p["depth"], n_anchors=p["K"],
                     batch_size=p["batch_size"], steps=p["magt_steps"], lr=p["lr"],
                     chunk_size=min(p["K"], 1024), seed=p["seed"])
    n_sel = min(p["n_select"], valid.shape[0])
    model, curve = select_t(data, valid[:n_sel], p["t_grid"], cfg, criterion="w2",
                            n_eval=n_sel, seed=p["seed"] + 7, progress=False)
    return model, float(model.config.t)


def _score(data, p):
    from ..models import diffusion as df

    with torch.random.fork_rng():  # the same initialisation as train_score_network's own
        torch.manual_seed(p["seed"])
        net = df.ScoreNetwork(data.shape[1], width=p["width"], depth=p["depth"],
                              sigma_data=max(float(np.sqrt(np.mean(data**2))), 1e-3),
                              activation="relu")
    return df.train_score_network(data, steps=p["score_steps"], batch_size=p["batch_size"],
                                  lr=p["lr"], seed=p["seed"], net=net)


def _build(method, data, valid, p, d, D):
    """Train ``method``; return ``(sampler(n, seed) -> (x, nfe), extra_rows)``."""
    from ..models import diffusion as df
    from ..models import flow_matching as fm

    extra = []
    if method in ("magt", "magt_ddim"):
        model, t_sel = _magt(data, valid, p, d)
        extra.append(("t_selected", t_sel))
        if method == "magt":
            return (lambda n, s: (model.sample(n, seed=s), 1)), extra
        net = _score(data, p)
        a, sg = np.sqrt(1 - p["refine_t"]), np.sqrt(p["refine_t"])
        grid = df.time_grid(p["refine_steps"], t_max=p["refine_t"], t_min=1e-4)

        def refine(n, s):
            x0 = model.sample(n, seed=s)
            y = a * x0 + sg * np.random.default_rng(s + 1).standard_normal(x0.shape)
            out = df.ddim_sample(net, y, grid, denoise_final=True)
            return out.samples, 1 + out.nfe

        return refine, extra
    if method in ("ddim1000", "dpmpp20", "dpmpp40"):
        net = _score(data, p)
        kind, steps = {"ddim1000": ("ddim", 999), "dpmpp20": ("dpm_solver_pp2", 19),
                       "dpmpp40": ("dpm_solver_pp2", 39)}[method]

        def diffuse(n, s):
            out = df.sample(net, n, D, method=kind, n_steps=steps, seed=s)
            return out.samples, out.nfe

        return diffuse, extra
    if method == "fm20":
        with torch.random.fork_rng():
            torch.manual_seed(p["seed"])
            vnet = fm.VelocityNetwork(D, width=p["width"], depth=p["depth"], activation="relu")
        vnet = fm.train_flow_matching(data, steps=p["fm_steps"], batch_size=p["batch_size"],
                                      lr=p["lr"], seed=p["seed"], net=vnet)

        def flow(n, s):
            out = fm.sample(vnet, n, D, n_steps=10, method="midpoint", seed=s)
            return out.samples, out.nfe

        return flow, extra
    if method == "wgan_gp":
        from ..models.wgan import WGANGP, WGANGPConfig

        model = WGANGP(WGANGPConfig(latent_dim=d, width=p["width"], depth=p["depth"],
                                    steps=p["wgan_steps"], batch_size=p["batch_size"],
                                    seed=p["seed"])).fit(data)
        return (lambda n, s: (model.sample(n, seed=s), 1)), extra
    if method == "chargen":
        from ..models.chargen import CharGen, CharGenConfig

        model = CharGen(CharGenConfig(
            T=p["chargen_T"], n_steps=p["chargen_K"], width=p["width"], depth=p["depth"],
            velocity_steps=p["chargen_steps"], fit_steps=p["chargen_steps"],
            batch_size=p["batch_size"], lr=p["lr"], semigroup=p["chargen_semigroup"],
            seed=p["seed"])).fit(data)
        return (lambda n, s: (model.sample(n, seed=s), 1)), extra
    if method == "w1w2":
        from ..models.proximal_flow import ProximalFlow, ProximalFlowConfig

        model = ProximalFlow(ProximalFlowConfig(
            variant="w1w2", lam=p["w1w2_lam"], L=p["w1w2_L"], n_steps=p["w1w2_K"],
            width=p["width"], depth=p["depth"], steps=p["w1w2_steps"],
            batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"])).fit(data)
        return (lambda n, s: (model.sample(n, seed=s), p["w1w2_K"])), extra
    raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")  # pragma: no cover


def run(params: dict):
    """Train one method on one dataset and measure it (see the module docstring)."""
    p = resolve(DEFAULTS, params, NAME)
    _validate(p)
    M = manifolds.make(p["manifold"], seed=0)
    d, D = M.dim, M.ambient_dim
    rng = np.random.default_rng([p["seed"], 0])
    data = M.sample(p["n"], rng)
    data = data + p["jitter"] * rng.standard_normal(data.shape)
    valid = M.sample(p["n_valid"], rng)
    valid = valid + p["jitter"] * rng.standard_normal(valid.shape)
    ref_rng = np.random.default_rng([p["seed"], 1])
    ref, ref2 = M.sample(p["n_w2"], ref_rng), M.sample(p["n_w2"], ref_rng)

    t0 = time.perf_counter()
    sampler, extra = _build(p["method"], data, valid, p, d, D)
    seconds_train = time.perf_counter() - t0
    sampler(8, p["seed"] + 100)  # warm-up (allocations, first-call overheads)
    with torch.no_grad():  # the proximal flow re-enables autograd for grad U itself
        (x, nfe), seconds, _ = time_sampler(lambda: sampler(p["n_gen"], p["seed"] + 1))
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(f"benchmark: {p['method']} produced non-finite samples")

    base = {"experiment": NAME, "manifold": p["manifold"], "d": d, "D": D, "seed": p["seed"],
            "method": p["method"], "n": p["n"], "jitter": p["jitter"], "n_gen": p["n_gen"],
            "n_w2": p["n_w2"]}
    meas = [
        ("w2", wasserstein(x[: p["n_w2"]], ref)),
        ("w2_noise_floor", wasserstein(ref2, ref)),
        ("off_manifold_rate", off_manifold_rate(x, M, threshold=p["threshold"])),
        ("nfe", float(nfe)),
        ("seconds_per_1e4", seconds * 1e4 / p["n_gen"]),
        ("seconds_train", seconds_train),
    ] + extra
    out = [{"quantity": q, "value": v} for q, v in meas]
    for i in range(p["n_scatter"]):
        for j in range(D):
            out.append({"quantity": f"sample_x{j}", "sample_index": i, "value": x[i, j]})
    return rows(base, out)

