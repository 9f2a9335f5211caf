"""``magt-theory train``: train MAGT on samples of a known manifold.

Writes ``model.pt`` (:meth:`magt_theory.models.MAGT.save`), the training history and a tidy
metrics table in ``--out``, with the quantities of the training experiments
(:mod:`magt_theory.experiments._training`): the one-sample ``w2`` of ``--n-eval`` generated
points to the manifold's exact law with its bracket ``w2_lower``/``w2_upper`` (and its floor
``w2_floor`` on curves), the off-manifold rate and timings. ``--seed`` seeds the data, the model
and the evaluation; ``--embedding-seed`` (default 0, as in every experiment) picks the
manifold's random embedding in ``R^D``, so a circle in ``R^8`` here is the experiments' circle.
"""

from __future__ import annotations

import argparse
import ast
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def _param(text: str):
    """``key=value`` with a Python-literal value (strings stay strings)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param must look like key=value; got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return key.strip(), value


def _train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--manifold", required=True, help="manifold name (see `magt-theory list`)")
    g.add_argument(
        "--ambient-dim", type=int, default=None, help="ambient dimension D (default: native)"
    )
    g.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="manifold parameter, repeatable (e.g. radius=2)",
    )
    g.add_argument("--n", type=int, default=10_000, help="training sample size (default 10000)")
    g.add_argument(
        "--n-eval",
        type=int,
        default=2000,
        help="generated points for the one-sample W2 to the exact law (default 2000)",
    )
    g.add_argument(
        "--jitter", type=float, default=0.0, help="std of Gaussian jitter on training points"
    )
    g.add_argument("--seed", type=int, default=0, help="seed of data, model and evaluation")
    g.add_argument("--embedding-seed", type=int, default=0,
                   help="seed of the manifold's random embedding in R^D (default 0, the "
                        "experiments' embedding)")
    m = p.add_argument_group("model and training (see MAGTConfig)")
    m.add_argument("--t", type=float, default=0.1, help="VP smoothing level in (0, 1)")
    m.add_argument("--anchors", type=int, default=1024, help="K latent anchors per step")
    m.add_argument("--proposal", default="mc", help="anchor proposal: mc, qmc or map")
    m.add_argument(
        "--latent-dim", type=int, default=None, help="latent dimension (default: intrinsic d)"
    )
    m.add_argument("--base", default="normal", help="latent base law: normal or uniform")
    m.add_argument("--width", type=int, default=512)
    m.add_argument("--depth", type=int, default=5)
    m.add_argument("--activation", default="relu")
    m.add_argument("--steps", type=int, default=2000)
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--lr", type=float, default=1e-3)
    m.add_argument("--lr-schedule", default="cosine", help="cosine or constant")
    m.add_argument("--chunk-size", type=int, default=256, help="anchors per autograd chunk K_c")
    m.add_argument("--dtype", default="float32", help="float32 or float64")
    m.add_argument("--device", default="cpu")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, type=Path, help="output directory")
    o.add_argument(
        "--format", default="csv", choices=("csv", "parquet"), help="metrics table format"
    )
    o.add_argument("--experiment", default="magt_train", help="value of the `experiment` column")
    o.add_argument("--threshold", type=float, default=0.1, help="off-manifold distance threshold")
    o.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    o.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: only in a terminal)",
    )


def cmd_train(args: argparse.Namespace) -> int:
    """``train``: fit MAGT on ``--n`` samples of ``--manifold``; write the model and metrics."""
    import numpy as np
    import pandas as pd
    import torch

    from .. import manifolds, metrics
    from ..models import MAGT, MAGTConfig
    from ..experiments._training import law_w2
    from ..workflow import atomic_write

    if args.manifold not in manifolds.names():
        raise ValueError(f"--manifold must be one of {manifolds.names()}; got {args.manifold!r}")
    _check_out_dir(args.out)
    _check_device(torch, args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be an integer >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)
    for name in ("n", "n_eval"):
        if getattr(args, name) < 2:
            raise ValueError(
                f"--{name.replace('_', '-')} must be an integer >= 2; got {getattr(args, name)}"
            )
    if not args.threshold > 0:
        raise ValueError(f"--threshold must be > 0; got {args.threshold}")
    try:
        M = manifolds.make(
            args.manifold, ambient_dim=args.ambient_dim, seed=args.embedding_seed,
            **dict(args.param)
        )
    except TypeError as exc:
        if "keyword argument" not in str(exc) and "unknown parameter" not in str(exc):
            raise
        raise ValueError(
            f"--param: manifold {args.manifold!r} does not accept "
            f"{sorted(dict(args.param))} ({exc})"
        ) from None
    config = MAGTConfig(
        t=args.t,
        latent_dim=M.dim if args.latent_dim is None else args.latent_dim,
        width=args.width,
        depth=args.depth,
        activation=args.activation,
        base=args.base,
        n_anchors=args.anchors,
        proposal=args.proposal,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        chunk_size=args.chunk_size,
        jitter=args.jitter,
        seed=args.seed,
        dtype=args.dtype,
        device=args.device,
    )  # validates every hyper-parameter before any work
    args.out.mkdir(parents=True, exist_ok=True)
    data_ss = np.random.SeedSequence(args.seed).spawn(1)[0]  # the first child, as before
    x_train = M.sample(args.n, np.random.default_rng(data_ss))
    logger.info("training MAGT on %s (d=%d, D=%d), n=%d", M.name, M.dim, M.ambient_dim, args.n)
    model = MAGT(config).fit(x_train, progress=args.progress)
    model.save(args.out / "model.pt")
    atomic_write(model.history_, args.out / f"history.{args.format}")

    sample_seed = int(np.random.default_rng(args.seed).integers(2**31))
    x_gen = model.sample(args.n_eval, seed=sample_seed)
    w = law_w2(x_gen, M, args.seed, sd_iter=1500, floor=True)
    off = metrics.off_manifold_rate(x_gen, M, threshold=args.threshold)
    t0 = time.perf_counter()
    model.sample(10_000, seed=sample_seed)
    seconds_sampling = time.perf_counter() - t0

    base = {
        "experiment": args.experiment,
        "manifold": M.name,
        "d": M.dim,
        "D": M.ambient_dim,
        "seed": args.seed,
        "t": config.t,
        "n": args.n,
        "K": config.n_anchors,
        "n_eval": args.n_eval,
    }
    values = {
        "w2": w.value,
        "w2_lower": w.lower,
        "w2_upper": w.upper,
        **({"w2_floor": w.floor} if np.isfinite(w.floor) else {}),
        "off_manifold_rate": off,
        "seconds_sampling": seconds_sampling,
        "seconds_train": model.seconds_,
    }
    df = pd.DataFrame([{**base, "quantity": q, "value": float(v)} for q, v in values.items()])
    if not np.all(np.isfinite(df["value"])):
        raise FloatingPointError(f"non-finite metric in {dict(zip(df.quantity, df.value))}")
    atomic_write(df, args.out / f"metrics.{args.format}")
    print(
        f"{M.name} d={M.dim} D={M.ambient_dim} t={config.t:g} K={config.n_anchors}: "
        f"W2={w.value:.4g} [{w.lower:.4g}, {w.upper:.4g}] (floor {w.floor:.4g}), "
        f"off-manifold rate={off:.3g}, "
        f"train {model.seconds_:.1f}s, 1e4 samples {seconds_sampling * 1e3:.1f} ms -> {args.out}"
    )
    return 0


def _check_out_dir(out: Path) -> None:
    """``--out`` must be a directory or a path where one can be created."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory; {str(out)!r} is an existing file")
    parent = next((q for q in [out, *out.parents] if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"--out: {str(parent)!r} is a file, so {str(out)!r} cannot be created")


def _check_device(torch, device: str) -> None:
    """``--device`` must name a torch device that is present (e.g. ``cuda`` needs CUDA)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"--device must be a torch device such as cpu or cuda; got {device!r}"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {device}: CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"--device {device}: MPS is not available; use --device cpu")


def register(command) -> None:
    """Register ``train`` through the registry's ``command(name, help, configure)`` decorator."""
    command(
        "train", "train MAGT on samples of a known manifold; write model.pt and metrics",
        _train_args,
    )(cmd_train)
