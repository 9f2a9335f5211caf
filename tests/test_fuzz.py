"""Fuzz of the public API: every call returns finite values of the documented shape and kind, or
raises ``ValueError``/``TypeError`` naming the argument, within a per-call time limit.

A seeded adversarial generator (not random bytes: the inputs a careful user can produce) drives
``manifolds.make`` and every manifold method on all registered manifolds, ``anchors.snis``,
every ``metrics`` function, ``MAGT`` fit/sample/load and the command line. Inputs include sigma
from 1e-8 to 1e3, points up to 1e8 away, float32 arrays, torch tensors with and without
``requires_grad``, empty and single-row arrays, NaN/inf, wrong shapes, strings and ``None``.

Rules checked on every call (``_call``):

* success: every returned array is finite, of the documented shape; numpy (or array-like) in
  gives float64 numpy out, a torch tensor in gives a torch tensor out with the input's floating
  dtype (the numpy/torch boundary rule of ``magt_theory._xp``);
* failure: only ``ValueError`` or ``TypeError`` (``NotImplementedError`` for a manifold without
  an exact generator), and the message names the argument that was made invalid (or, for a
  valid-looking input the library rejects, one of the call's arguments);
* an input known to be invalid (NaN, inf, wrong shape, non-numeric string, ``None`` where a value
  is required, a tensor with ``requires_grad`` at a numpy boundary) is never accepted silently;
* every call finishes within ``CPU_LIMIT`` seconds of process CPU time (a wall-clock alarm
  stops a hang after ``HARD_WALL`` seconds and fails the test).

The default run is bounded (``FUZZ_CASES`` per family, about a minute in all); the ``slow``
version runs ``MAGT_FUZZ_SLOW_CASES`` (default 40x more) and prints the case counts.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import math
import os
import signal
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import magt_theory as mt
from magt_theory import cli
from magt_theory.models import MAGT

torch.set_num_threads(1)

CPU_LIMIT = 2.0  # seconds of process CPU per call
HARD_WALL = 60.0  # seconds of wall time before a call counts as a hang
FUZZ_CASES = int(os.environ.get("MAGT_FUZZ_CASES", "3"))
SLOW_FACTOR = int(os.environ.get("MAGT_FUZZ_SLOW_FACTOR", "40"))
NAMES = mt.manifolds.names()
#: (family, outcome) -> count, printed by the slow test
STATS: collections.Counter = collections.Counter()


class Hang(Exception):
    """A call ran past the wall-clock limit."""


@contextlib.contextmanager
def _timer(label: str, cpu_limit: float = CPU_LIMIT):
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if main:
        def on_alarm(signum, frame):
            raise Hang(f"{label}: no answer after {HARD_WALL:.0f} s (hang)")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, HARD_WALL)
    t0 = time.process_time()
    try:
        yield
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    cpu = time.process_time() - t0
    assert cpu <= cpu_limit, f"{label}: took {cpu:.2f} s of CPU (limit {cpu_limit} s)"


# ------------------------------------------------------------------------------ input values
class Maybe:
    """An edge value (huge, or a perturbed default): it may be accepted (then it must work) or
    rejected with a message naming it."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Maybe({self.value!r})"


class Bad:
    """Marks an argument value as invalid (the call must reject it, naming ``name``)."""

    def __init__(self, value, why):
        self.value, self.why = value, why

    def __repr__(self):
        return f"Bad({self.why})"


def _pick(rng, seq):
    """One element of ``seq`` (``rng.choice`` would turn a list of arrays into one array)."""
    return seq[int(rng.integers(len(seq)))]


def _no_1d(v):
    """A 1-d array is a single point only where the dimension is known: here it is invalid."""
    if isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim == 1:
        return Bad(v, "1-d array without a known dimension")
    return v


def _kind(x):
    if isinstance(x, torch.Tensor):
        return ("torch", x.dtype)
    return ("numpy", None)


def _points(rng, M, D=None):
    """One adversarial ``(n, D)`` input for a manifold ``M`` (or dimension ``D``)."""
    D = M.ambient_dim if D is None else D
    n = int(rng.choice([0, 1, 1, 2, 5]))
    pick = rng.integers(0, 20)
    if M is not None and pick < 5 and n > 0:
        x = M.sample(n, rng) + 10.0 ** rng.uniform(-8, 0) * rng.standard_normal((n, D))
    elif pick < 9:
        v = rng.standard_normal((n, D))
        x = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
        x = x * 10.0 ** rng.uniform(-8, 8, size=(n, 1))
    elif pick == 9:
        x = np.zeros((n, D))
    elif pick == 10:
        x = np.full((max(n, 1), D), 1e8) * rng.choice([-1.0, 1.0], size=(max(n, 1), D))
    elif pick == 11:
        x = rng.standard_normal((max(n, 1), D))
        x[rng.integers(x.shape[0]), rng.integers(D)] = rng.choice([np.nan, np.inf, -np.inf])
        return Bad(x, "non-finite")
    elif pick == 12:
        return Bad(rng.standard_normal((max(n, 1), D + 1)), "wrong dimension")
    elif pick == 13:
        return Bad(_pick(rng, ["abc", "", "1,2"]), "string")
    elif pick == 14:
        return Bad(None, "None")
    elif pick == 15:
        return Bad(rng.standard_normal((2, 2, D)), "3-d array")
    else:
        x = rng.standard_normal((n, D)) * rng.choice([1.0, 3.0, 100.0])
    form = rng.integers(0, 8)
    if form == 0:
        return x.astype(np.float32)
    if form == 1:
        return x.tolist() if n else Bad([], "empty list (no dimension)")
    if form == 2:
        return torch.tensor(x, dtype=torch.float32)
    if form == 3:
        return torch.tensor(x, dtype=torch.float64)
    if form == 4:
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        return Bad(t, "requires_grad")
    if form == 5 and n == 1:
        return x[0]  # a single point as a 1-d array
    return x


def _scalar(rng, lo_exp, hi_exp, name):
    pick = rng.integers(0, 12)
    if pick < 7:
        return float(10.0 ** rng.uniform(lo_exp, hi_exp))
    return [
        Bad(0.0, "zero"), Bad(-1.0, "negative"), Bad(float("nan"), "nan"), Bad(float("inf"), "inf"),
        Bad("abc", "string"), np.float32(0.5 if name == "alpha" else 0.3),
    ][pick - 7 if pick - 7 < 6 else 0]


def _alpha(rng):
    pick = rng.integers(0, 10)
    if pick < 6:
        return float(rng.choice([1.0, 0.9, 0.5, 1e-3]))
    bad = [Bad(0.0, "zero"), Bad(1.5, "> 1"), Bad(float("nan"), "nan"), Bad("x", "string")]
    return bad[pick - 6]


def _unwrap(args):
    bad = {k for k, v in args.items() if isinstance(v, Bad)}
    maybe = {k for k, v in args.items() if isinstance(v, Maybe)}
    plain = {k: (v.value if isinstance(v, (Bad, Maybe)) else v) for k, v in args.items()}
    return plain, bad, maybe


def _rows(v):
    if isinstance(v, (np.ndarray, torch.Tensor)):
        return 1 if v.ndim == 1 else v.shape[0]
    if isinstance(v, list):
        return len(v)
    return None


def _check_array(out, shape, ref, label):
    """``out`` finite, of ``shape``, numpy float64 or (torch ``ref``) a tensor of its dtype."""
    kind, dtype = _kind(ref)
    if kind == "torch":
        assert isinstance(out, torch.Tensor), f"{label}: torch in, {type(out).__name__} out"
        want = dtype if dtype.is_floating_point else torch.float64
        assert out.dtype == want, f"{label}: {dtype} in, {out.dtype} out"
        arr = out.detach().cpu().numpy()
    else:
        assert isinstance(out, np.ndarray), f"{label}: {type(out).__name__} out"
        assert out.dtype == np.float64, f"{label}: dtype {out.dtype}"
        arr = out
    assert tuple(arr.shape) == tuple(shape), f"{label}: shape {arr.shape}, expected {shape}"
    assert np.all(np.isfinite(arr)), f"{label}: non-finite output"


#: findings of the current test (every rule violation, so one run reports all of them)
FAILURES: list[str] = []


def _call(family, label, fn, args, check, allowed=(ValueError, TypeError), cpu_limit=CPU_LIMIT,
          aliases=()):
    """Run ``fn(**args)`` under the rules of the module docstring; record a violation."""
    try:
        return _call_checked(family, label, fn, args, check, allowed, cpu_limit, aliases)
    except (AssertionError, Hang) as exc:
        STATS[(family, "FINDING")] += 1
        FAILURES.append(f"{type(exc).__name__}: {exc}".split("\nassert")[0][:600])
    except Exception as exc:  # any other exception type is a finding too
        STATS[(family, "FINDING")] += 1
        FAILURES.append(f"{label}: raised {type(exc).__name__}: {exc}"[:600])
    return "finding"


def _report_failures():
    found = list(FAILURES)
    FAILURES.clear()
    assert not found, f"{len(found)} fuzz finding(s):\n" + "\n".join(found[:40])


def _call_checked(family, label, fn, args, check, allowed, cpu_limit, aliases=()):
    plain, bad, maybe = _unwrap(args)
    with _timer(label, cpu_limit):
        try:
            out = fn(**plain)
        except allowed as exc:
            msg = str(exc)
            # a signature mismatch is a bug of this harness, not an answer of the library
            assert "unexpected keyword argument" not in msg, f"{label}: harness: {msg}"
            names = (bad or set(args)) | maybe | set(aliases)
            if isinstance(exc, NotImplementedError):
                STATS[(family, "not implemented")] += 1
                return "error"
            assert any(n in msg for n in names), (
                f"{label}: {type(exc).__name__} does not name {sorted(names)}: {msg}"
            )
            STATS[(family, "error")] += 1
            return "error"
    assert not bad, f"{label}: accepted invalid {sorted(bad)} ({[args[b] for b in bad]})"
    check(out)
    STATS[(family, "ok")] += 1
    return "ok"


# ------------------------------------------------------------------------------ manifolds
_MANIFOLDS = {name: mt.manifolds.make(name) for name in NAMES}
_EMBEDDED = {name: mt.manifolds.make(name, ambient_dim=_MANIFOLDS[name].ambient_dim + 2, seed=3)
             for name in NAMES}


def _make_params(rng, name):
    """Random valid or invalid constructor parameters of manifold ``name``."""
    sig = inspect.signature(mt.manifolds._registry._REGISTRY[name].__init__)
    args = {}
    M = _MANIFOLDS[name]
    r = rng.integers(0, 10)
    args["ambient_dim"] = (
        None if r < 3 else M.native_dim + int(rng.integers(0, 5)) if r < 6
        else [Bad(M.native_dim - 1, "below native") if M.native_dim > 1 else Bad(0, "zero"),
              Bad(2.5, "fraction"), Bad("3", "string"), Bad(-1, "negative")][r - 6]
    )
    args["seed"] = int(rng.integers(0, 1000)) if rng.random() < 0.85 else Bad(-1, "negative")
    for p in sig.parameters.values():
        if p.name in ("self", "ambient_dim", "seed") or rng.random() < 0.6:
            continue
        default = p.default
        pick = rng.integers(0, 9)
        if pick == 0:
            args[p.name] = Bad(float("nan"), "nan")
        elif pick == 1:
            args[p.name] = Bad("abc", "string")
        elif pick == 2:
            args[p.name] = Bad(-1.0 if not isinstance(default, tuple) else (-1.0, 1.0), "negative")
        elif pick == 3:
            args[p.name] = Maybe(1e300) if isinstance(default, float) else default  # huge value
        elif pick == 4 and isinstance(default, (int, float)) and not isinstance(default, bool):
            args[p.name] = Maybe(type(default)(default * rng.uniform(0.5, 2.0)) if isinstance(
                default, float) else default + int(rng.integers(0, 3)))
        else:
            args[p.name] = default
    return args


def _fuzz_make(rng, cases):
    for _ in range(cases):
        name = str(rng.choice(NAMES))
        args = _make_params(rng, name)
        label = f"make({name!r}, {args})"

        def check(M, name=name):
            assert isinstance(M, mt.manifolds.Manifold), label
            x = M.sample(3, 0)
            assert x.shape == (3, M.ambient_dim) and np.all(np.isfinite(x)), label

        # a huge parameter may be accepted (then it must work) or rejected naming it
        _call("make", label, lambda **kw: mt.manifolds.make(name, **kw), args, check)


def _method_cases(rng, M, name):
    """(label, method name, args, expected output shapes from the row count)."""
    y = _points(rng, M)
    sigma = _scalar(rng, -8, 3, "sigma")
    alpha = _alpha(rng)
    D, d = M.ambient_dim, M.dim
    which = str(rng.choice([
        "project", "distance", "tangent_basis", "log_density", "posterior", "posterior_mean",
        "posterior_cov", "smoothed_score", "smoothed_log_density", "sample", "generator",
    ]))
    if which in ("project", "tangent_basis", "log_density", "distance"):
        arg = "x" if which in ("tangent_basis", "log_density") else "y"
        on_manifold = which in ("tangent_basis", "log_density") and not isinstance(y, Bad)
        if on_manifold and rng.random() < 0.7:
            # points on the manifold (the documented domain)
            n = int(rng.choice([0, 1, 3]))
            y = M.sample(n, rng) if n else np.zeros((0, D))
        return which, {arg: y}, {
            "project": lambda n: (n, D), "distance": lambda n: (n,),
            "tangent_basis": lambda n: (n, D, d), "log_density": lambda n: (n,),
        }[which]
    if which == "sample":
        n = _pick(rng, [1, 2, 50, 0, -1, 2.5, "3", None])
        bad = not (isinstance(n, (int, np.integer)) and n >= 1)
        rng_arg = _pick(rng, [0, 7, None, "seed"])
        args = {"n": Bad(n, "bad n") if bad else int(n),
                "rng": Bad(rng_arg, "bad rng") if rng_arg == "seed" else rng_arg}
        return which, args, None
    if which == "generator":
        k = M.generator_latent_dim or 1
        u = _points(rng, None, D=k) if rng.random() < 0.6 else rng.standard_normal((3, k))
        if isinstance(u, Bad) and u.why == "requires_grad":
            u = u.value  # h* is a differentiable torch map: grad tensors are its use case
        base = rng.choice(["normal", "uniform", "other"])
        if base == "uniform" and not isinstance(u, Bad):
            u = (torch.rand(3, k, dtype=torch.float64) if isinstance(u, torch.Tensor)
                 else rng.uniform(size=(3, k)))
        return which, {"u": u, "base": Bad(base, "bad base") if base == "other" else base}, (
            lambda n: (n, D))
    args = {"y": y, "sigma": sigma, "alpha": alpha}
    shapes = {
        "posterior_mean": lambda n: (n, D), "posterior_cov": lambda n: (n, D, D),
        "smoothed_score": lambda n: (n, D), "smoothed_log_density": lambda n: (n,),
        "posterior": None,
    }
    return which, args, shapes[which]


def _fuzz_methods(rng, cases, names=NAMES):
    for _ in range(cases):
        name = str(rng.choice(names))
        M = _MANIFOLDS[name] if rng.random() < 0.7 else _EMBEDDED[name]
        which, args, shape = _method_cases(rng, M, name)
        ref = args.get("y", args.get("x", args.get("u")))
        ref_val = ref.value if isinstance(ref, Bad) else ref
        rows = _rows(ref_val)
        label = f"{name}(D={M.ambient_dim}).{which}({ {k: _short(v) for k, v in args.items()} })"

        def check(out, which=which, shape=shape, rows=rows, ref_val=ref_val, M=M, args=args):
            if which == "sample":
                n = args["n"]
                assert isinstance(out, np.ndarray) and out.shape == (n, M.ambient_dim), label
                assert np.all(np.isfinite(out)), label
            elif which == "posterior":
                mean, logp, cov = out
                _check_array(mean, (rows, M.ambient_dim), ref_val, label)
                _check_array(logp, (rows,), ref_val, label)
                assert cov is None, label
            else:
                _check_array(out, shape(rows), ref_val, label)

        allowed = (ValueError, TypeError, NotImplementedError) if which == "generator" else (
            ValueError, TypeError)
        _call(f"manifold.{which}", label, getattr(M, which), args, check, allowed=allowed)


def _short(v):
    if isinstance(v, Bad):
        return f"Bad<{v.why}>"
    if isinstance(v, np.ndarray):
        return f"ndarray{v.shape}:{v.dtype}:max{np.max(np.abs(v)) if v.size else 0:.2g}"
    if isinstance(v, torch.Tensor):
        return f"tensor{tuple(v.shape)}:{v.dtype}"
    if isinstance(v, list):
        return f"list[{len(v)}]"
    return repr(v)


# ------------------------------------------------------------------------------ anchors
def _fuzz_snis(rng, cases):
    for _ in range(cases):
        D = int(rng.choice([1, 2, 5]))
        K = int(rng.choice([1, 3, 20]))
        y = _points(rng, None, D=D)
        centers = rng.standard_normal((K, D)) * rng.choice([1.0, 1e4])
        if rng.random() < 0.15:
            centers = _pick(rng, [Bad(np.zeros((0, D)), "no anchors"), Bad(None, "None"),
                                  Bad(np.full((K, D), np.nan), "nan")])
        elif isinstance(y, torch.Tensor) and rng.random() < 0.5:
            centers = torch.tensor(centers, dtype=y.dtype)
        lw = None if rng.random() < 0.7 else (
            rng.standard_normal(K) if rng.random() < 0.7 else Bad(np.full(K + 1, 0.0), "shape"))
        args = {"y": y, "centers": centers, "sigma": _scalar(rng, -8, 3, "sigma"),
                "alpha": _alpha(rng), "log_weights": lw,
                "chunk_size": int(rng.choice([1, 2, 1024])) if rng.random() < 0.9 else Bad(0, "0")}
        yv = y.value if isinstance(y, Bad) else y
        rows = _rows(yv)
        label = f"snis({ {k: _short(v) for k, v in args.items()} })"

        def check(res, rows=rows, yv=yv, D=D, args=args):
            ref = yv
            if not isinstance(yv, torch.Tensor):
                c = args["centers"]
                ref = c if isinstance(c, torch.Tensor) else yv
            if isinstance(ref, torch.Tensor):  # snis computes in torch: a tensor of that dtype
                for v, shp in zip(res, [(rows, D), (rows,), (rows, D), (rows,)]):
                    assert isinstance(v, torch.Tensor) and tuple(v.shape) == shp, label
                    assert torch.isfinite(v).all(), label
            else:
                for v, shp in zip(res, [(rows, D), (rows,), (rows, D), (rows,)]):
                    _check_array(v, shp, ref, label)
                K_ = len(args["centers"])
                assert np.all(res.ess >= 1 - 1e-9) and np.all(res.ess <= K_ + 1e-9)

        # requires_grad tensors: snis documents detached results (no TypeError needed)
        if isinstance(y, Bad) and y.why == "requires_grad":
            args["y"] = y.value
        _call("anchors.snis", label, mt.anchors.snis, args, check)


# ------------------------------------------------------------------------------ metrics
def _fuzz_metrics(rng, cases):
    circle = _MANIFOLDS["circle"]
    for _ in range(cases):
        which = str(rng.choice(["wasserstein", "gaussian_w2", "bootstrap_ci", "off_manifold_rate",
                                "principal_angles", "sin_theta_max", "wasserstein_to_law",
                                "noise_floor"]))
        D = 2
        if which == "wasserstein":
            x = _no_1d(_points(rng, circle))
            y = _no_1d(_points(rng, circle)) if rng.random() < 0.5 else rng.standard_normal((4, D))
            p = _pick(rng, [1, 2, 2, 3, "2"])
            method = rng.choice(["exact", "exact", "sliced", "sinkhorn", "bogus"])
            args = {"x": x, "y": y, "p": Bad(p, "p") if p not in (1, 2) else int(p),
                    "method": Bad(method, "method") if method == "bogus" else method}
            if method == "sinkhorn":
                args["reg"] = 0.5

            def check(v):
                assert isinstance(v, float) and math.isfinite(v) and v >= 0

            fn = mt.metrics.wasserstein
        elif which == "gaussian_w2":
            m1, m2 = rng.standard_normal(D), rng.standard_normal(D)
            A = rng.standard_normal((D, D))
            S1 = A @ A.T + 1e-3 * np.eye(D)
            S2 = _pick(rng, [np.eye(D), -np.eye(D), np.full((D, D), np.nan), np.zeros((D, D))])
            bad = np.any(~np.isfinite(S2)) or np.any(np.linalg.eigvalsh(np.nan_to_num(S2)) < 0)
            args = {"m1": m1, "S1": S1, "m2": m2, "S2": Bad(S2, "S2") if bad else S2}

            def check(v):
                assert math.isfinite(v) and v >= 0

            fn = mt.metrics.gaussian_w2
        elif which == "bootstrap_ci":
            data = _pick(rng, [rng.standard_normal(20)] * 4 + [np.zeros(1), np.array([np.nan, 1.0])]
                         ) if rng.random() < 0.9 else "abc"
            bad = isinstance(data, str) or not np.all(np.isfinite(data)) or len(data) < 2
            args = {"data": Bad(data, "data") if bad else data,
                    "level": 0.95 if rng.random() < 0.8 else Bad(1.5, "level"),
                    "n_boot": 200}

            def check(ci):
                assert all(math.isfinite(v) for v in (ci.estimate, ci.low, ci.high))

            fn = mt.metrics.bootstrap_ci
        elif which == "off_manifold_rate":
            x = _points(rng, circle)
            thr = _scalar(rng, -8, 3, "threshold")
            args = {"x": x, "M": circle, "threshold": thr}
            if _rows(x.value if isinstance(x, Bad) else x) == 0 and not isinstance(x, Bad):
                args["x"] = Bad(np.zeros((0, 2)), "empty")  # documented: at least one point

            def check(v):
                assert 0.0 <= v <= 1.0

            fn = mt.metrics.off_manifold_rate
        elif which in ("principal_angles", "sin_theta_max"):
            n = int(rng.choice([1, 3]))
            A = rng.standard_normal((n, 4, 2))
            B = rng.standard_normal((n, 4, 2)) if rng.random() < 0.7 else _pick(rng,
                [Bad(np.zeros((n, 4, 2)), "rank"), Bad(np.full((n, 4, 2), np.nan), "nan"),
                 Bad(rng.standard_normal((n, 5, 2)), "shape")])
            args = {"A": A, "B": B}

            def check(v, which=which, n=n):
                v = np.asarray(v)
                assert np.all(np.isfinite(v))
                if which == "sin_theta_max":
                    assert np.all((v >= -1e-12) & (v <= 1 + 1e-12))
                else:
                    assert np.all((v >= -1e-12) & (v <= np.pi / 2 + 1e-12))

            fn = getattr(mt.metrics, which)
        elif which == "wasserstein_to_law":
            x = _points(rng, circle)
            if isinstance(x, (list, np.ndarray, torch.Tensor)) and _rows(x) == 0:
                x = Bad(np.zeros((0, 2)), "empty")
            args = {"x": x, "manifold": circle, "p": 2 if rng.random() < 0.9 else Bad(1, "p=1"),
                    "floor_repeats": 2, "n_eval": 2000, "n_quantiles": 1024}

            def check(r):
                assert all(math.isfinite(v) for v in (r.value, r.lower, r.upper, r.floor))

            fn = mt.metrics.wasserstein_to_law
        else:  # noise_floor
            n = _pick(rng, [2, 10, 1, 0, -3, "x", None])
            sampler = circle.sample if rng.random() < 0.9 else Bad("notcallable", "sampler")
            args = {"sampler": sampler,
                    "n": Bad(n, "n") if n not in (1, 2, 10) else int(n), "rng": 0}

            def check(r):
                assert math.isfinite(r.mean) and r.mean >= 0

            fn = mt.metrics.noise_floor
        label = f"metrics.{which}({ {k: _short(v) for k, v in args.items()} })"
        # Sinkhorn's documented non-convergence error (a RuntimeError naming reg and max_iter)
        allowed = (ValueError, TypeError) + ((RuntimeError,) if "reg" in args else ())
        _call(f"metrics.{which}", label, fn, args, check, allowed=allowed,
              cpu_limit=10.0 if which == "wasserstein_to_law" else CPU_LIMIT)


# ------------------------------------------------------------------------------ MAGT
TINY = dict(width=8, depth=2, steps=3, batch_size=8, n_anchors=8, chunk_size=8)


def _fuzz_magt(rng, cases, tmp_path):
    base = MAGT(t=0.3, **TINY).fit(np.random.default_rng(0).standard_normal((40, 2)))
    good = tmp_path / "good.pt"
    base.save(good)
    raw = good.read_bytes()
    for i in range(cases):
        which = rng.choice(["fit", "sample", "load"])
        if which == "fit":
            X = _points(rng, _MANIFOLDS["circle"])
            Xv = X.value if isinstance(X, Bad) else X
            if not isinstance(X, Bad) and _rows(Xv) is not None and _rows(Xv) < 1:
                X = Bad(Xv, "no points")
            if isinstance(X, Bad) and X.why in ("requires_grad", "wrong dimension"):
                X = X.value  # training data is detached by design; any D is a dimension

            def check(m, X=X):
                Xv = X.value if isinstance(X, Bad) else X
                D = np.asarray(Xv.detach() if isinstance(Xv, torch.Tensor) else Xv).reshape(
                    _rows(Xv), -1).shape[1]
                s = m.sample(5, seed=0)
                assert s.shape == (5, D) and np.all(np.isfinite(s))
            args = {"data": X}
            _call("MAGT.fit", f"fit({_short(X)})", MAGT(t=0.3, **TINY).fit, args, check)
        elif which == "sample":
            n = _pick(rng, [1, 5, 0, -1, 2.5, "3", None])
            seed = _pick(rng, [0, 3, None, -1, "s"])
            args = {"n": int(n) if n in (1, 5) else Bad(n, "n"),
                    "seed": seed if seed in (0, 3, None) else Bad(seed, "seed")}

            def check(s, n=n):
                assert s.shape == (int(n), 2) and np.all(np.isfinite(s))

            _call("MAGT.sample", f"sample({args})", base.sample, args, check)
        else:
            path = tmp_path / f"fuzz{i}.pt"
            data = bytearray(raw)
            how = rng.choice(["flip", "truncate", "empty", "weights"])
            if how == "flip":
                for _ in range(int(rng.integers(1, 4))):
                    j = int(rng.integers(len(data)))
                    data[j] ^= 1 << int(rng.integers(8))
                path.write_bytes(bytes(data))
            elif how == "truncate":
                path.write_bytes(bytes(data[: int(rng.integers(len(data)))]))
            elif how == "empty":
                path.write_bytes(b"")
            else:  # a changed weight inside a well-formed file: only the checksum can tell
                payload = torch.load(good, weights_only=True)
                key = sorted(payload["state_dict"])[0]
                payload["state_dict"][key] = payload["state_dict"][key].clone()
                payload["state_dict"][key].view(-1)[0] += 1e-3
                torch.save(payload, path)

            def check(m, path=path, how=how):
                # a flip that lands in zip padding/metadata may leave the model intact
                assert how == "flip", f"load({how}) accepted a damaged file {path}"
                np.testing.assert_array_equal(m.sample(5, seed=1), base.sample(5, seed=1))

            # the message names the file (its path) rather than the word "path"
            _call("MAGT.load", f"load({how})", MAGT.load, {"path": path}, check,
                  aliases=(str(path),))


# ------------------------------------------------------------------------------ CLI
def _fuzz_cli(rng, cases, tmp_path, capsys):
    tiny = ["--width", "8", "--depth", "2", "--steps", "3", "--batch-size", "8", "--anchors",
            "8", "--chunk-size", "8", "--n", "30", "--n-eval", "20", "--threads", "1"]
    options = {
        "--manifold": ["circle", "moons2d", "nope", ""],
        "--ambient-dim": ["3", "1", "0", "-2", "x", "1e9"],
        "--t": ["0.3", "0", "1", "nan", "inf", "-0.1", "abc"],
        "--anchors": ["8", "0", "-1", "x"],
        "--latent-dim": ["1", "0", "-1", "x"],
        "--steps": ["3", "0", "-5"],
        "--lr": ["0.01", "nan", "-1", "inf", "0"],
        "--device": ["cpu", "cuda", "cuda:7", "tpu", "nonsense"],
        "--dtype": ["float32", "float64", "float16", "int"],
        "--param": ["radius=2", "radius=-1", "radius=nan", "bogus=1", "noequals"],
        "--n": ["30", "1", "0", "x"],
        "--jitter": ["0", "-1", "nan"],
        "--threshold": ["0.1", "0", "-1", "nan"],
    }
    afile = tmp_path / "afile"
    afile.write_text("x")
    for i in range(cases):
        argv = ["train", *tiny]
        chosen = rng.choice(sorted(options), size=int(rng.integers(0, 3)), replace=False)
        for opt in chosen:
            argv += [opt, str(rng.choice(options[opt]))]
        if "--manifold" not in chosen:
            argv += ["--manifold", "circle"]
        out = rng.choice([str(tmp_path / f"cli{i}"), str(afile), str(afile / "sub")])
        argv += ["--out", out]
        label = f"cli {' '.join(argv)}"
        with _timer(label, cpu_limit=30.0):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse: usage error, exit status 2
                code = exc.code
            except Exception as exc:
                code = f"exception {type(exc).__name__}: {exc}"
        err = capsys.readouterr().err
        problems = []
        if code not in (0, 1, 2):
            problems.append(f"exit {code}")
        if "Traceback" in err:
            problems.append("traceback")
        if code != 0 and not err.startswith("usage:") and len(err.strip().splitlines()) != 1:
            problems.append("multi-line error")
        if code == 0 and not (Path(out) / "model.pt").exists():
            problems.append("exit 0 without model.pt")
        if problems:
            FAILURES.append(f"{label}: {problems}\n{err[-500:]}")
            STATS[("cli", "FINDING")] += 1
        else:
            STATS[("cli", "ok" if code == 0 else "error")] += 1


# ------------------------------------------------------------------------------ tests
def _run_all(seed, scale, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    _fuzz_make(rng, 40 * scale)
    _fuzz_methods(rng, 400 * scale)
    _fuzz_snis(rng, 60 * scale)
    _fuzz_metrics(rng, 60 * scale)
    _fuzz_magt(rng, 12 * scale, tmp_path)
    _fuzz_cli(rng, 4 * scale, tmp_path, capsys)


def test_fuzz_public_api_bounded(tmp_path, capsys):
    """Bounded fuzz of every public entry point (about a minute)."""
    STATS.clear()
    _run_all(20261129, FUZZ_CASES, tmp_path, capsys)
    assert sum(STATS.values()) > 500
    _report_failures()


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_far_and_extreme_sigma_per_manifold(name):
    """Every manifold at the extremes: sigma 1e-8..1e3, points up to 1e8 away, every method."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    M = _MANIFOLDS[name]
    for dist in (0.0, 1.0, 1e3, 1e8):
        for sigma in (1e-8, 1e-6, 1e-3, 1.0, 1e3):
            v = rng.standard_normal((2, M.ambient_dim))
            y = dist * v / np.linalg.norm(v, axis=1, keepdims=True) + M.sample(2, rng) * (dist == 0)
            for which in ("posterior_mean", "smoothed_score", "smoothed_log_density"):
                label = f"{name}.{which}(dist={dist:g}, sigma={sigma:g})"
                shape = (2,) if which == "smoothed_log_density" else (2, M.ambient_dim)
                _call(f"extreme.{which}", label, getattr(M, which), {"y": y, "sigma": sigma},
                      lambda out, shape=shape, label=label: _check_array(out, shape, y, label))
            if dist >= 1e3 and sigma <= 1.0 and name != "gaussian_subspace":
                # far from a bounded manifold the posterior concentrates at the nearest point:
                # curvature and boundary layers move its mean by O(sigma^2 / dist); along a flat
                # face (checker2d's cells) the spread stays sigma, and near a face's edge the
                # truncated-normal mean moves by up to phi(0)/Phi(0) sigma = 0.8 sigma
                label = f"{name}.posterior_mean(dist={dist:g}, sigma={sigma:g}) vs project"

                def near(out, label=label, y=y, sigma=sigma, dist=dist, name=name):
                    p = M.project(y)
                    tol = 50.0 * sigma**2 / dist + 1e-9 * (1.0 + np.abs(p))
                    if name == "checker2d":
                        tol = tol + 0.8 * sigma
                    assert np.all(np.abs(out - p) <= tol), (
                        f"{label}: |mean - project| = {np.max(np.abs(out - p)):.3g}")

                _call("extreme.concentration", label, M.posterior_mean, {"y": y, "sigma": sigma},
                      near)
    _report_failures()


@pytest.mark.slow
def test_fuzz_public_api_many_cases(tmp_path, capsys):
    """The same fuzz with ``MAGT_FUZZ_SLOW_FACTOR`` (default 40) times the cases and 3 seeds."""
    STATS.clear()
    t0 = time.perf_counter()
    for seed in (1, 2, 3):
        _run_all(seed, SLOW_FACTOR, tmp_path, capsys)
    with capsys.disabled():
        total = sum(STATS.values())
        print(f"\nfuzz: {total} calls in {time.perf_counter() - t0:.0f} s")
        for key in sorted(STATS):
            print(f"  {key[0]:32s} {key[1]:16s} {STATS[key]}")
        for f in FAILURES[:200]:
            print("FINDING", f)
    _report_failures()
