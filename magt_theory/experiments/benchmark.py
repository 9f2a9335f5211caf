"""MAGT's synthetic benchmark: one job = one (dataset, method, seed) [MAGT §5].

Protocol (MAGT §5, every size a parameter so that small configs can shrink it): ``n``
training points of a known manifold law with Gaussian jitter ``N(0, jitter^2 I)`` (the paper:
0.02), ``n_valid`` jittered validation points (MAGT's t selection), ``n_gen`` generated points;
MLPs of ``depth`` hidden layers of ``width`` units for every network (the paper: 5 x 512): ReLU
(the protocol's backbone) for MAGT, the score and velocity networks of the diffusion and
flow-matching baselines, WGAN-GP and the characteristic generator, SiLU for the proximal-flow
potential, whose gradient and time derivative must be smooth; Adam at learning rate ``lr`` for
every method except WGAN-GP (whose optimiser settings are part of the protocol); MAGT with
``K`` anchors and ``t`` chosen on the validation set over ``t_grid`` by W2.

Datasets and their constants
----------------------------
The paper states the formulas of its six datasets but not all their constants; the ones used
here (:data:`DATASET_CONSTANTS`, keyword arguments of :func:`magt_theory.manifolds.make`,
overridable per dataset through the ``geometry`` parameter) are:

==========  ===========================================================  ====================
dataset     law (uniform in arc length / area unless stated)             constants
==========  ===========================================================  ====================
rings2d     three concentric circles, mass proportional to length         radii 1, 2, 3
spiral2d    ``scale * u (cos u, sin u)``, uniform in ``u``                u in [pi, 4 pi],
                                                                         scale 1/pi (radius
                                                                         1 to 4)
moons2d     ``sklearn.datasets.make_moons`` arcs: ``(cos s, sin s)`` and  fixed: inner moon
            ``(1 - cos s, 1/2 - sin s)``, ``s in [0, pi]``                offset (1, 1/2)
checker2d   black cells of a ``grid x grid`` board of side ``cell``       grid 4, cell 1
helix3d     ``(cos u, sin u, u)`` (the paper's formula)                   u in [0, 4 pi]
                                                                         (height 4 pi)
torus3d     donut ``R = 2, r = 1`` (the paper's constants)                R 2, r 1
==========  ===========================================================  ====================

**Scale convention** (``scale``): ``"native"`` keeps the formulas' literal units (the jitter
0.02 and the off-manifold threshold 0.1 of the protocol are then in those units);
``"unit_diameter"`` multiplies every dataset by ``1 / diam(M)`` (:func:`dataset_diameter`) so
that W2 values are comparable across datasets; a positive number multiplies by that factor.
Jitter and threshold are always in the scaled units. Every measurement is taken on ``x / c``
against the unscaled manifold and multiplied back by ``c`` (W2 is 1-homogeneous: exact).
Whatever the scale, ``w2_rel = W2 / diam`` is reported as well, so the table can compare
datasets; the paper does not say whether it reports W2 or W2^2, so both are reported.

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

**Equal budget.** ``steps`` (when not None) sets the number of gradient steps of every network
of every method (MAGT: each candidate ``t``; WGAN-GP: generator steps, each with 5 critic
steps; the characteristic generator: its velocity and its one-step networks), overriding the
per-method ``*_steps``; with the same ``width``/``depth`` this is the paper's equal-budget
comparison.

**Convergence check** (:func:`plateau`). Each trained network's per-step training loss (a
fresh noise/anchor draw every step: an unbiased minibatch estimate of the population loss on
the training set) is averaged over two windows of ``max(1, steps // 10)`` steps: the window
ending at half the steps and the last one. The network has *plateaued* when its loss fell by at
most ``plateau_tol`` (relative, default 1%) over the second half of training, or by no more
than twice the standard error of that difference. A method is ``under_trained`` (1.0) when any
of its networks has not plateaued. Monitored losses: MAGT's DSM loss (the selected ``t``), the
score network's and the velocity network's losses, the WGAN-GP critic's W1 estimate, both
losses of the characteristic generator, the proximal flow's DV objective. Limits, stated
plainly: it is a minibatch training loss, not a held-out one; the relative drop is measured
against the whole loss, which for denoising losses is dominated by their irreducible part, and
at short budgets the 2-SE guard lets noise hide remaining progress; with the cosine
learning-rate decay the second half moves slowly by construction. ``under_trained = 1`` is
therefore a reliable "not converged"; ``under_trained = 0`` is only "no resolved progress over
the second half", not a proof of convergence.

Measurements (tidy rows, one per quantity):

- ``w2`` -- W2 of the generated sample to the dataset's law, by ``w2_method``:
  ``"law"``: one-sample ``W2(mu_n, nu)`` of all ``n_gen`` points against the known law
  (:func:`magt_theory.metrics.wasserstein_to_law`, curve method; also ``w2_lower``,
  ``w2_upper``, its bracket); ``"exact"``: exact two-sample W2 (POT network simplex) between the
  first ``n_w2`` generated points and ``n_w2`` fresh clean samples; ``"auto"``: ``"law"`` for
  the curves that function supports (when it is available), else ``"exact"``;
  ``w2_method_law`` is 1.0 for the one-sample method, 0.0 for exact OT;
- ``w2_sq`` (= ``w2^2``), ``w2_rel`` (= ``w2 / diameter``), ``diameter``;
- ``w2_noise_floor`` -- the estimator's value at exact samples of the same size: the mean over
  ``floor_repeats`` clean samples for ``"law"``, the W2 between two independent clean samples
  of ``n_w2`` for ``"exact"`` (a value within the floor is not resolved);
- ``off_manifold_rate`` -- fraction of all ``n_gen`` samples farther than ``threshold`` from
  the (scaled) manifold; ``nfe``; ``seconds_per_1e4`` -- wall time of generating the ``n_gen``
  samples (after a warm-up call; the minimum over repeated calls until 0.5 s have elapsed, at
  most 7, see :func:`time_sampler`), scaled to 10^4 samples; ``seconds_train``;
- ``under_trained`` (0/1), ``loss_rel_drop`` (the largest relative second-half loss drop over
  the method's networks), ``grad_steps`` (gradient steps per network);
- ``t_selected`` for the MAGT methods; and ``n_scatter`` generated points as rows
  ``sample_x0, sample_x1, ...`` with a ``sample_index`` column (for the scatter-grid figure).

Negative controls (``control``; used by the tests of :mod:`magt_theory.benchmark_claims` to show
that each verdict row can fail): ``"noisy_magt"`` adds ``N(0, (0.5 diam)^2 I)`` to MAGT's
samples (a visibly worse MAGT: it must lose the lowest-W2 and lowest-off-manifold rows);
``"slow_magt"`` times MAGT's sampler as 1000 forward passes (a 1000-NFE MAGT: it must lose the
speed-ratio row). ``"none"`` (default) is the benchmark.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import manifolds
from ..metrics import off_manifold_rate, wasserstein
from ._common import rows
from ._spec import Experiment, param

NAME = "benchmark"

#: every method of the benchmark, in table order
METHODS = ("magt", "magt_ddim", "ddim1000", "dpmpp20", "dpmpp40", "fm20", "wgan_gp", "chargen",
           "w1w2")

#: the paper's six synthetic datasets
DATASETS = ("rings2d", "spiral2d", "moons2d", "checker2d", "helix3d", "torus3d")

#: the constants of each dataset (keyword arguments of ``manifolds.make``; see the docstring)
DATASET_CONSTANTS = {
    "rings2d": {"radii": (1.0, 2.0, 3.0)},
    "spiral2d": {"u_min": math.pi, "u_max": 4 * math.pi, "scale": 1 / math.pi},
    "moons2d": {},
    "checker2d": {"grid": 4, "cell": 1.0},
    "helix3d": {"t_max": 4 * math.pi},
    "torus3d": {"R": 2.0, "r": 1.0},
}

#: negative controls of the benchmark's verdict rows (see the module docstring)
CONTROLS = ("none", "noisy_magt", "slow_magt")

#: W2 estimators
W2_METHODS = ("auto", "law", "exact")

@dataclass(frozen=True)
class Params:
    """Parameters of one ``benchmark`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('rings2d', 'manifold')
    method: str = param('magt', {"enum": list(METHODS)})
    seed: int = param(0, 'seed')
    geometry: dict | None = param(
        None, {"type": ["object", "null"], "additionalProperties": {"type": "object"}, "description": "per-dataset constants: {dataset: {constant: value}} (magt_theory.experiments.benchmark.DATASET_CONSTANTS)"}, grid=False)
    scale: str = param(
        'native', {"oneOf": [{"enum": ["native", "unit_diameter"]}, {"type": "number", "exclusiveMinimum": 0}], "description": "'native', 'unit_diameter' or a positive factor"})
    n: int = param(10000, 'n')
    n_valid: int = param(5000, 'n')
    jitter: float = param(0.02, 'jitter')
    n_gen: int = param(10000, 'n')
    w2_method: str = param(
        'auto', {"enum": ["auto", "law", "exact"], "description": "W2 estimator: one-sample against the law, exact OT, or auto"})
    n_w2: int = param(4000, 'n')
    floor_repeats: int = param(4, {"type": "integer", "minimum": 2}, grid=False)
    n_scatter: int = param(1000, {"type": "integer", "minimum": 0})
    threshold: float = param(0.1, 'posnum')
    width: int = param(512, 'posint')
    depth: int = param(5, 'posint')
    batch_size: int = param(256, 'posint')
    lr: float = param(0.001, 'lr')
    steps: int | None = param(
        None, {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/posint"}], "description": "equal budget: gradient steps of every network (None: per method)"})
    plateau_tol: float = param(0.01, 'unit_open', grid=False)
    control: str = param(
        'none', {"enum": ["none", "noisy_magt", "slow_magt"], "description": "negative control of the benchmark's claim rows"})
    t_grid: list[float] = param([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], 't_list')
    K: int = param(1024, 'K')
    magt_steps: int = param(4000, 'posint')
    n_select: int = param(2000, 'n')
    score_steps: int = param(8000, 'posint')
    refine_t: float = param(0.05, 'unit_open')
    refine_steps: int = param(5, 'posint')
    fm_steps: int = param(8000, 'posint')
    wgan_steps: int = param(8000, 'posint')
    chargen_T: float = param(0.999, 'unit_open')
    chargen_K: int = param(1024, 'posint')
    chargen_steps: int = param(8000, 'posint')
    chargen_semigroup: float = param(0.0, 'nonneg_num')
    w1w2_steps: int = param(4000, 'posint')
    w1w2_K: int = param(10, 'posint')
    w1w2_lam: float = param(0.05, 'posnum')
    w1w2_L: float = param(1.0, 'posnum')


SPEC = Experiment(
    NAME, Params,
    claims=(
        "benchmark_rows",
    ),
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

_STEP_KEYS = ("magt_steps", "score_steps", "fm_steps", "wgan_steps", "chargen_steps",
              "w1w2_steps")


def _validate(p: dict) -> None:
    if p["method"] not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {p['method']!r}")
    for k in ("n", "n_valid", "n_gen", "n_w2", "width", "K", "batch_size", "n_select",
              "refine_steps", "chargen_K", "w1w2_K") + _STEP_KEYS:
        if not isinstance(p[k], (int, np.integer)) or isinstance(p[k], bool) or p[k] < 1:
            raise ValueError(f"{k} must be an integer >= 1; got {p[k]!r}")
    if p["steps"] is not None and (not isinstance(p["steps"], (int, np.integer))
                                   or isinstance(p["steps"], bool) or p["steps"] < 1):
        raise ValueError(f"steps must be None or an integer >= 1; got {p['steps']!r}")
    if not isinstance(p["floor_repeats"], (int, np.integer)) or p["floor_repeats"] < 2:
        raise ValueError(f"floor_repeats must be an integer >= 2; got {p['floor_repeats']!r}")
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
    if p["control"] not in CONTROLS:
        raise ValueError(f"control must be one of {list(CONTROLS)}; got {p['control']!r}")
    if p["w2_method"] not in W2_METHODS:
        raise ValueError(f"w2_method must be one of {list(W2_METHODS)}; got {p['w2_method']!r}")
    if not (isinstance(p["plateau_tol"], (int, float)) and 0 < p["plateau_tol"] < 1):
        raise ValueError(f"plateau_tol must be in (0, 1); got {p['plateau_tol']!r}")
    if p["geometry"] is not None and not isinstance(p["geometry"], dict):
        raise TypeError("geometry must be None or a mapping dataset -> {constant: value}; "
                        f"got {type(p['geometry']).__name__}")


# ------------------------------------------------------------------------------ datasets
def make_dataset(name: str, geometry: dict | None = None):
    """The dataset ``name`` with its documented constants (:data:`DATASET_CONSTANTS`).

    ``geometry`` maps dataset names to constants that override the defaults, e.g.
    ``{"rings2d": {"radii": [1, 1.5, 2]}}`` (entries for other datasets are ignored); an
    unknown constant raises the manifold constructor's TypeError.
    """
    if not isinstance(name, str):
        raise TypeError(f"manifold must be a dataset name (str); got {name!r}")
    kw = dict(DATASET_CONSTANTS.get(name, {}))
    if geometry:
        if not isinstance(geometry, dict):
            raise TypeError(f"geometry must be a mapping dataset -> constants; got {geometry!r}")
        over = geometry.get(name) or {}
        if not isinstance(over, dict):
            raise TypeError(f"geometry[{name!r}] must be a mapping constant -> value; got {over!r}")
        kw.update(over)
    return manifolds.make(name, seed=0, **kw)


def _diameter_grid(M) -> np.ndarray:
    k = M.generator_latent_dim
    if k == 1:
        v = np.linspace(0.0, 1.0, 2001)[:, None]
    elif k == 2:
        g = np.linspace(0.0, 1.0, 61)
        v = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    else:
        raise ValueError(f"dataset_diameter needs a 1- or 2-dimensional generator; got {k}")
    return np.asarray(M.generator(v, base="uniform"), dtype=np.float64)


def dataset_diameter(M) -> float:
    """Diameter ``max |x - y|`` over the support of the dataset ``M``.

    Closed forms: rings ``2 max r``; checkerboard (``grid`` even: the corner cells are black)
    ``sqrt(2) grid cell``; helix ``(cos u, sin u, u)`` on ``[0, T]``: ``|c(u) - c(u')|^2 =
    2 - 2 cos D + D^2`` increases with ``D = |u - u'|`` (derivative ``2 sin D + 2 D >= 0``),
    so ``sqrt(2 - 2 cos T + T^2)``; donut torus ``2 (R + r)``. Otherwise (spiral, moons) the
    largest pairwise distance of the exact generator's image of a uniform grid of ``[0, 1]^k``
    (2001 points for curves, 61^2 for surfaces), for curves refined by a bounded local
    maximisation (L-BFGS-B) within one grid step of the best pair, so accurate to the
    optimiser's tolerance (surfaces: to ``O(h^2)`` relative, the maximum of a smooth function
    over a grid of step ``h``).
    """
    name = getattr(M, "name", None)
    if name == "rings2d":
        return float(2.0 * np.max(M.radii))
    if name == "checker2d":
        return float(math.sqrt(2.0) * M.grid * M.cell)
    if name == "helix3d":
        T = float(M.t_max)
        return math.sqrt(2.0 - 2.0 * math.cos(T) + T * T)
    if name == "torus3d":
        return float(2.0 * (M.R + M.r))
    from scipy.optimize import minimize
    from scipy.spatial.distance import pdist, squareform

    pts = _diameter_grid(M)
    dist = squareform(pdist(pts))
    i, j = np.unravel_index(np.argmax(dist), dist.shape)
    best = float(dist[i, j])
    if M.generator_latent_dim != 1:
        return best
    v = np.linspace(0.0, 1.0, pts.shape[0])
    h = v[1] - v[0]

    def neg(z):
        a = np.asarray(M.generator(np.array([[z[0]], [z[1]]]), base="uniform"))
        return -float(np.linalg.norm(a[0] - a[1]))

    res = minimize(neg, [v[i], v[j]], method="L-BFGS-B",
                   bounds=[(max(0.0, v[i] - h), min(1.0, v[i] + h)),
                           (max(0.0, v[j] - h), min(1.0, v[j] + h))])
    return max(best, -float(res.fun))


def _scale_factor(scale, M) -> float:
    if isinstance(scale, str):
        if scale == "native":
            return 1.0
        if scale == "unit_diameter":
            return 1.0 / dataset_diameter(M)
        raise ValueError(f"scale must be 'native', 'unit_diameter' or a number > 0; got {scale!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0 \
            or not math.isfinite(scale):
        raise ValueError(f"scale must be 'native', 'unit_diameter' or a number > 0; got {scale!r}")
    return float(scale)


# ------------------------------------------------------------------------------ W2
def _law_function():
    """``metrics.wasserstein_to_law`` when the library provides it, else None."""
    from .. import metrics

    return getattr(metrics, "wasserstein_to_law", None)


def _law_supports(M) -> bool:
    try:
        from ..law_distance import curve_names
    except ImportError:
        return False
    return M.name in curve_names()


def dataset_setup(p: dict):
    """``(M, c, diam, w2_method)`` of a job: the dataset with its constants, the scale factor
    ``c``, the scaled diameter and the resolved W2 estimator."""
    M = make_dataset(p["manifold"], p["geometry"])
    c = _scale_factor(p["scale"], M)
    return M, c, c * dataset_diameter(M), resolve_w2_method(p["w2_method"], M)


def jittered_sample(M, c: float, n: int, jitter: float, rng) -> np.ndarray:
    """``n`` points of ``c * X + jitter * Z`` (the protocol's jittered, scaled data)."""
    x = c * M.sample(int(n), rng)
    return x + jitter * rng.standard_normal(x.shape)


def resolve_w2_method(w2_method: str, M) -> str:
    """``"law"`` or ``"exact"`` for ``w2_method`` on ``M`` (see the module docstring)."""
    if w2_method not in W2_METHODS:
        raise ValueError(f"w2_method must be one of {list(W2_METHODS)}; got {w2_method!r}")
    available = _law_function() is not None and _law_supports(M)
    if w2_method == "law" and not available:
        raise ValueError(f"w2_method='law' needs metrics.wasserstein_to_law supporting "
                         f"{M.name!r}; use 'exact' or 'auto'")
    if w2_method == "auto":
        return "law" if available else "exact"
    return w2_method


def measure_w2(x, M, c: float, method: str, p: dict, rng) -> list[tuple[str, float]]:
    """W2 rows of generated points ``x`` (scaled units) against the law of ``c M``."""
    xn = np.asarray(x, dtype=np.float64) / c
    if method == "law":
        res = _law_function()(xn, M, p=2, method="curve", floor="measured",
                              floor_repeats=int(p["floor_repeats"]))
        out = [("w2", c * res.value), ("w2_lower", c * res.lower), ("w2_upper", c * res.upper),
               ("w2_noise_floor", c * res.floor), ("w2_method_law", 1.0)]
    else:
        m = p["n_w2"]
        ref, ref2 = M.sample(m, rng), M.sample(m, rng)
        out = [("w2", c * wasserstein(xn[:m], ref)), ("w2_noise_floor", c * wasserstein(ref2, ref)),
               ("w2_method_law", 0.0)]
    w2 = out[0][1]
    return out + [("w2_sq", w2 * w2)]


# ------------------------------------------------------------------------------ convergence
def plateau(losses, tol: float = 0.05) -> tuple[bool, float]:
    """Has a training-loss history plateaued? (the benchmark's convergence criterion).

    With ``w = max(1, len(losses) // 10)``, ``a`` the mean of the ``w`` losses ending at half
    the history and ``b`` the mean of the last ``w``, the relative drop is
    ``(a - b) / max(|b|, |a|, tiny)`` and its standard error ``se = sqrt(var_a/w + var_b/w)``
    (relative likewise). Plateaued when the drop is ``<= tol`` or ``<= 2 se`` (not resolved).
    Histories of fewer than 20 finite losses are not plateaued (``rel_drop`` NaN).

    Returns
    -------
    plateaued : bool
    rel_drop : float
        The relative drop (negative when the loss rose).
    """
    v = np.asarray(losses, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size < 20:  # fewer than 2 losses per window: no standard error, no verdict
        return False, float("nan")
    w = max(1, v.size // 10)
    half = v.size // 2
    a, b = v[max(0, half - w):half], v[-w:]
    scale = max(abs(a.mean()), abs(b.mean()), 1e-12)
    drop = (a.mean() - b.mean()) / scale
    se = math.sqrt((a.var(ddof=1) if a.size > 1 else 0.0) / a.size
                   + (b.var(ddof=1) if b.size > 1 else 0.0) / b.size) / scale
    return bool(drop <= tol or drop <= 2 * se), float(drop)


def _convergence(histories, tol) -> list[tuple[str, float]]:
    flags = [plateau(h, tol) for h in histories]
    drops = [d for _, d in flags if np.isfinite(d)]
    under = not all(ok for ok, _ in flags)
    return [("under_trained", float(under)),
            ("loss_rel_drop", float(max(drops)) if drops else 1.0)]


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
    """The trained score network of :func:`_score_model` (a ``ScoreNetwork``)."""
    return _score_model(data, p).net_


def _score_model(data, p, **sampler):
    """The score-network baseline (ReLU backbone) as a protocol estimator, trained on ``data``;
    ``sampler`` sets its sampler (``sampler``, ``n_steps``)."""
    from ..models.estimators import DiffusionModel

    return DiffusionModel(width=p["width"], depth=p["depth"], activation="relu",
                          steps=p["score_steps"], batch_size=p["batch_size"], lr=p["lr"],
                          seed=p["seed"], **sampler).fit(data)


def _one_step(model, hist):
    """A fitted one-step generator's ``sampler(n, seed) -> (x, nfe)`` and its histories."""
    return (lambda n, s: (model.sample(n, seed=s), model.nfe)), [], hist


def _build_magt(data, valid, p, d, D):
    model, t_sel = _magt(data, valid, p, d)
    sampler, _, hist = _one_step(model, [model.history_["loss"].to_numpy()])
    return sampler, [("t_selected", t_sel)], hist


def _build_magt_ddim(data, valid, p, d, D):
    from ..models import diffusion as df

    model, t_sel = _magt(data, valid, p, d)
    net = _score(data, p)
    a, sg = np.sqrt(1 - p["refine_t"]), np.sqrt(p["refine_t"])
    grid = df.time_grid(p["refine_steps"], t_max=p["refine_t"], t_min=1e-4)

    def refine(n, s):
        x0 = model.sample(n, seed=s)
        y = a * x0 + sg * np.random.default_rng(s + 1).standard_normal(x0.shape)
        out = df.ddim_sample(net, y, grid, denoise_final=True)
        return out.samples, 1 + out.nfe

    return refine, [("t_selected", t_sel)], [model.history_["loss"].to_numpy(),
                                             net.train_losses_]


def _diffusion_builder(kind, steps):
    def build(data, valid, p, d, D):
        model = _score_model(data, p, sampler=kind, n_steps=steps)

        def diffuse(n, s):
            out = model.sample_output(n, seed=s)
            return out.samples, out.nfe

        return diffuse, [], [model.net_.train_losses_]

    return build


def _build_fm20(data, valid, p, d, D):
    from ..models.estimators import FlowMatching

    model = FlowMatching(width=p["width"], depth=p["depth"], activation="relu",
                         steps=p["fm_steps"], batch_size=p["batch_size"], lr=p["lr"],
                         seed=p["seed"], n_steps=10, method="midpoint").fit(data)

    def flow(n, s):
        out = model.sample_output(n, seed=s)
        return out.samples, out.nfe

    return flow, [], [model.net_.train_losses_]


def _build_wgan_gp(data, valid, p, d, D):
    from ..models.wgan import WGANGP, WGANGPConfig

    model = WGANGP(WGANGPConfig(latent_dim=d, width=p["width"], depth=p["depth"],
                                steps=p["wgan_steps"], batch_size=p["batch_size"],
                                seed=p["seed"])).fit(data)
    return _one_step(model, [model.history_["w_estimate"]])


def _build_chargen(data, valid, p, d, D):
    from ..models.chargen import CharGen, CharGenConfig

    model = CharGen(CharGenConfig(
        T=p["chargen_T"], n_steps=p["chargen_K"], width=p["width"], depth=p["depth"],
        velocity_steps=p["chargen_steps"], fit_steps=p["chargen_steps"],
        batch_size=p["batch_size"], lr=p["lr"], semigroup=p["chargen_semigroup"],
        seed=p["seed"])).fit(data)
    return _one_step(model, [model.velocity_losses_, model.fit_losses_])


def _build_w1w2(data, valid, p, d, D):
    from ..models.proximal_flow import ProximalFlow, ProximalFlowConfig

    model = ProximalFlow(ProximalFlowConfig(
        variant="w1w2", lam=p["w1w2_lam"], L=p["w1w2_L"], n_steps=p["w1w2_K"],
        width=p["width"], depth=p["depth"], steps=p["w1w2_steps"],
        batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"])).fit(data)
    return ((lambda n, s: (model.sample(n, seed=s), p["w1w2_K"])), [],
            [model.history_["dv"].to_numpy()])


#: method -> builder ``(data, valid, p, d, D) -> (sampler(n, seed) -> (x, nfe), extra rows,
#: loss histories)``; the keys are :data:`METHODS`
BUILDERS = {
    "magt": _build_magt,
    "magt_ddim": _build_magt_ddim,
    "ddim1000": _diffusion_builder("ddim", 999),
    "dpmpp20": _diffusion_builder("dpm_solver_pp2", 19),
    "dpmpp40": _diffusion_builder("dpm_solver_pp2", 39),
    "fm20": _build_fm20,
    "wgan_gp": _build_wgan_gp,
    "chargen": _build_chargen,
    "w1w2": _build_w1w2,
}


def _build(method, data, valid, p, d, D):
    """Train ``method``; return ``(sampler(n, seed) -> (x, nfe), extra_rows, loss histories)``."""
    if method not in BUILDERS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    return BUILDERS[method](data, valid, p, d, D)


def _apply_control(sampler, p, diam):
    """Wrap MAGT's sampler with the negative control ``p["control"]`` (module docstring)."""
    if p["method"] != "magt" or p["control"] == "none":
        return sampler
    if p["control"] == "noisy_magt":
        def noisy(n, s):
            x, nfe = sampler(n, s)
            return x + 0.5 * diam * np.random.default_rng([s, 99]).standard_normal(x.shape), nfe

        return noisy

    def slow(n, s):  # slow_magt: 1000 forward passes, the cost of a 1000-NFE sampler
        for _ in range(999):
            sampler(n, s)
        x, _ = sampler(n, s)
        return x, 1000

    return slow


def run(params: dict):
    """Train one method on one dataset and measure it (see the module docstring)."""
    import torch
    p = SPEC.resolve(params)
    _validate(p)
    M, c, diam, w2_method = dataset_setup(p)
    if p["steps"] is not None:
        p.update({k: int(p["steps"]) for k in _STEP_KEYS})
    d, D = M.dim, M.ambient_dim
    rng = np.random.default_rng([p["seed"], 0])
    data = jittered_sample(M, c, p["n"], p["jitter"], rng)
    valid = jittered_sample(M, c, p["n_valid"], p["jitter"], rng)
    ref_rng = np.random.default_rng([p["seed"], 1])

    t0 = time.perf_counter()
    sampler, extra, histories = _build(p["method"], data, valid, p, d, D)
    seconds_train = time.perf_counter() - t0
    sampler = _apply_control(sampler, p, diam)
    sampler(8, p["seed"] + 100)  # warm-up (allocations, first-call overheads)
    with torch.no_grad():  # the proximal flow re-enables autograd for grad U itself
        (x, nfe), seconds, _ = time_sampler(lambda: sampler(p["n_gen"], p["seed"] + 1))
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(f"benchmark: {p['method']} produced non-finite samples")

    base = {"experiment": NAME, "manifold": p["manifold"], "d": d, "D": D, "seed": p["seed"],
            "method": p["method"], "control": p["control"], "n": p["n"], "jitter": p["jitter"],
            "n_gen": p["n_gen"], "n_w2": p["n_w2"], "scale": str(p["scale"])}
    steps_used = {"magt": p["magt_steps"], "magt_ddim": p["magt_steps"],
                  "ddim1000": p["score_steps"], "dpmpp20": p["score_steps"],
                  "dpmpp40": p["score_steps"], "fm20": p["fm_steps"], "wgan_gp": p["wgan_steps"],
                  "chargen": p["chargen_steps"], "w1w2": p["w1w2_steps"]}[p["method"]]
    meas = measure_w2(x, M, c, w2_method, p, ref_rng)
    meas += [
        ("w2_rel", meas[0][1] / diam),
        ("diameter", diam),
        ("off_manifold_rate", off_manifold_rate(x / c, M, threshold=p["threshold"] / c)),
        ("nfe", float(nfe)),
        ("seconds_per_1e4", seconds * 1e4 / p["n_gen"]),
        ("seconds_train", seconds_train),
        ("grad_steps", float(steps_used)),
    ] + _convergence(histories, p["plateau_tol"]) + extra
    out = [{"quantity": q, "value": v} for q, v in meas]
    for i in range(p["n_scatter"]):
        for j in range(D):
            out.append({"quantity": f"sample_x{j}", "sample_index": i, "value": x[i, j]})
    return rows(base, out)
