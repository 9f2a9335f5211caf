"""MAGT vs diffusion at equal sampling wall time [MAGT §5].

One job trains MAGT (at a fixed level ``t``) and a score network with the benchmark's ReLU MLP
backbone on ``n`` jittered samples, then draws ``n_gen`` samples with MAGT (one forward pass)
and with DPM-Solver++(2M) at each NFE budget in ``nfe`` (``nfe - 1`` solver steps + final
denoising), timing each after a warm-up call (minimum over repeated calls,
:func:`magt_theory.experiments.benchmark.time_sampler`). Rows (``method`` = ``magt`` or
``dpmpp``, with ``nfe``): ``w2`` (exact, ``n_w2`` subsample vs clean reference),
``w2_noise_floor``, ``off_manifold_rate``, ``seconds_per_1e4`` and ``seconds_train``.

The claim row (:func:`magt_theory.claims` ``equal_time_rows``) interpolates, per seed, the
diffusion sampler's W2 over its NFE grid to MAGT's W2 and reports the wall-time ratio there.

Negative control (``control="magt_noise"``): MAGT's generator gets an injected error, isotropic
Gaussian noise of standard deviation three times the data's RMS distance to their mean added
to each sample (inside the timed call). Its W2 is then several times the data's own scale,
which any diffusion budget whose samples land near the data beats, so the matching time ratio
is at most the cheapest budget's (about 2 network evaluations against one) and the "orders of
magnitude faster" row must turn ``inconsistent``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import manifolds
from ..metrics import off_manifold_rate, wasserstein
from ._bench_methods import _score, time_sampler
from ._common import rows
from ._spec import Experiment, param

NAME = "equal_time"
CONTROLS = ("none", "magt_noise")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``equal_time`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('moons2d', 'manifold')
    seed: int = param(0, 'seed')
    n: int = param(2000, 'n')
    jitter: float = param(0.02, 'jitter')
    t: float = param(0.05, 't')
    K: int = param(256, 'K')
    width: int = param(64, 'posint')
    depth: int = param(3, 'posint')
    batch_size: int = param(256, 'posint')
    lr: float = param(0.002, 'lr')
    magt_steps: int = param(600, 'posint')
    score_steps: int = param(1500, 'posint')
    nfe: list[int] = param([2, 3, 5, 10, 20], 'nfe_list')
    n_gen: int = param(2000, 'n')
    n_w2: int = param(1000, 'n')
    control: str = param('none', {"enum": list(CONTROLS)})


SPEC = Experiment(
    NAME, Params,
    claims=(
        "equal_time_rows",
    ),
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()


def _timed(fn):
    import torch

    fn(8)  # warm-up
    with torch.no_grad():
        x, seconds, _ = time_sampler(lambda: fn(None))
    return np.asarray(x, dtype=np.float64), seconds


def run(params: dict):
    """Train MAGT and a score network; time and score both samplers (module docstring)."""
    from ..models import diffusion as df
    from ..models.magt import MAGT, MAGTConfig

    p = SPEC.resolve(params)
    nfes = [int(v) for v in p["nfe"]]
    if p["n_w2"] > p["n_gen"]:
        raise ValueError(f"n_w2 must be <= n_gen = {p['n_gen']}; got {p['n_w2']}")
    M = manifolds.make(p["manifold"], seed=0)
    D = M.ambient_dim
    rng = np.random.default_rng([p["seed"], 5])
    data = M.sample(p["n"], rng) + p["jitter"] * rng.standard_normal((p["n"], D))
    ref, ref2 = M.sample(p["n_w2"], rng), M.sample(p["n_w2"], rng)
    floor = wasserstein(ref2, ref)
    magt = MAGT(MAGTConfig(t=p["t"], latent_dim=M.dim, width=p["width"], depth=p["depth"],
                           n_anchors=p["K"], batch_size=p["batch_size"], steps=p["magt_steps"],
                           lr=p["lr"], chunk_size=p["K"], seed=p["seed"])).fit(data)
    t0 = time.perf_counter()
    net = _score(data, p)  # the benchmark's ReLU score network
    score_train = time.perf_counter() - t0
    base = {"experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": D,
            "seed": p["seed"], "n": p["n"], "t": p["t"], "n_gen": p["n_gen"],
            "control": p["control"]}
    out = []

    def measure(method, nfe, x, seconds, train):
        for q, v in (("w2", wasserstein(x[: p["n_w2"]], ref)), ("w2_noise_floor", floor),
                     ("off_manifold_rate", off_manifold_rate(x, M)),
                     ("seconds_per_1e4", seconds * 1e4 / p["n_gen"]), ("seconds_train", train)):
            out.append({"method": method, "nfe": nfe, "quantity": q, "value": v})

    noise = 0.0
    if p["control"] == "magt_noise":
        noise = 3.0 * float(np.sqrt(np.mean(np.sum((data - data.mean(0)) ** 2, 1))))

    def magt_sampler(n):  # deterministic: the same noise at every (timed) call
        x = magt.sample(n or p["n_gen"], seed=p["seed"] + 1)
        if noise > 0:
            x = x + noise * np.random.default_rng([p["seed"], 6]).standard_normal(x.shape)
        return x

    x, sec = _timed(magt_sampler)
    measure("magt", 1, x, sec, magt.seconds_)
    for nfe in nfes:
        x, sec = _timed(lambda n, k=nfe: df.sample(net, n or p["n_gen"], D,
                                                   method="dpm_solver_pp2", n_steps=k - 1,
                                                   seed=p["seed"] + 1).samples)
        measure("dpmpp", nfe, x, sec, score_train)
    return rows(base, out)
