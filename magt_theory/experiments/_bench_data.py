"""The benchmark's datasets and W2 measurement (private; re-exported by :mod:`.benchmark`).

The six synthetic datasets with their documented constants (:data:`DATASET_CONSTANTS`), the
diameter of their support, the scale convention (``native``, ``unit_diameter`` or a factor
``c``), the jittered training sample ``c X + jitter Z`` and the W2 rows of a generated sample
(one-sample against the known law, or exact two-sample OT); the conventions are stated in the
docstring of :mod:`magt_theory.experiments.benchmark` [MAGT §5]. Shared by the ``benchmark``
and ``sensitivity`` experiments. Imports neither torch nor the models.
"""

from __future__ import annotations

import math

import numpy as np

from .. import manifolds
from ..metrics import wasserstein

#: the paper's six synthetic datasets
DATASETS = ("rings2d", "spiral2d", "moons2d", "checker2d", "helix3d", "torus3d")

#: the constants of each dataset (keyword arguments of ``manifolds.make``; see the docstring of
#: :mod:`magt_theory.experiments.benchmark`)
DATASET_CONSTANTS = {
    "rings2d": {"radii": (1.0, 2.0, 3.0)},
    "spiral2d": {"u_min": math.pi, "u_max": 4 * math.pi, "scale": 1 / math.pi},
    "moons2d": {},
    "checker2d": {"grid": 4, "cell": 1.0},
    "helix3d": {"t_max": 4 * math.pi},
    "torus3d": {"R": 2.0, "r": 1.0},
}

#: W2 estimators
W2_METHODS = ("auto", "law", "exact")


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

#: schema fragments of the parameters the benchmark and the sensitivity sweep share
GEOMETRY_SCHEMA = {"type": ["object", "null"], "additionalProperties": {"type": "object"},
                   "description": "per-dataset constants: {dataset: {constant: value}} "
                                  "(magt_theory.experiments.benchmark.DATASET_CONSTANTS)"}
SCALE_SCHEMA = {"oneOf": [{"enum": ["native", "unit_diameter"]},
                          {"type": "number", "exclusiveMinimum": 0}],
                "description": "'native', 'unit_diameter' or a positive factor"}
W2_METHOD_SCHEMA = {"enum": list(W2_METHODS),
                    "description": "W2 estimator: one-sample against the law, exact OT, or auto"}


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
    """``"law"`` or ``"exact"`` for ``w2_method`` on ``M`` (see the benchmark's docstring)."""
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
