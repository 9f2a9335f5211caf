"""Exact W_p: the assignment and network-simplex solvers agree; the automatic choice."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from magt_theory import metrics
from magt_theory.metrics import wasserstein


def _brute_force(x, y, p):
    """min over all permutations (Birkhoff: the optimum of uniform equal-size OT)."""
    n = x.shape[0]
    C = np.linalg.norm(x[:, None] - y[None], axis=2) ** p
    best = min(sum(C[i, s[i]] for i in range(n)) for s in itertools.permutations(range(n)))
    return (best / n) ** (1.0 / p)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("n,D", [(1, 2), (2, 1), (5, 3), (7, 2)])
def test_assignment_equals_brute_force(n, D, p):
    rng = np.random.default_rng(10 * n + D)
    x, y = rng.standard_normal((n, D)), rng.standard_normal((n, D))
    ref = _brute_force(x, y, p)
    for solver in ("assignment", "network_simplex", "auto"):
        assert wasserstein(x, y, p=p, solver=solver) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("n,D", [(40, 1), (100, 3), (101, 2), (250, 8)])
def test_solvers_agree_to_round_off(n, D, p):
    rng = np.random.default_rng(n + D)
    x, y = rng.standard_normal((n, D)), rng.standard_normal((n, D)) + 0.3
    a = wasserstein(x, y, p=p, solver="assignment")
    b = wasserstein(x, y, p=p, solver="network_simplex")
    assert abs(a - b) <= 1e-13 * b
    assert wasserstein(x, y, p=p) in (a, b)


def test_equal_explicit_weights_count_as_uniform():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    w = np.full(6, 3.0)
    assert wasserstein(x, y, a=w, b=w, solver="assignment") == pytest.approx(
        wasserstein(x, y), rel=1e-14)


def test_assignment_needs_equal_sizes_and_uniform_weights():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 2)), rng.standard_normal((6, 2))
    with pytest.raises(ValueError, match="solver='assignment' needs equal sample sizes"):
        wasserstein(x, y, solver="assignment")
    with pytest.raises(ValueError, match="non-uniform weights"):
        wasserstein(x, x, a=np.arange(1.0, 6.0), solver="assignment")
    with pytest.raises(ValueError, match="solver must be one of"):
        wasserstein(x, x, solver="hungarian")
    with pytest.raises(ValueError, match="max_dense_bytes"):  # validated on every path
        wasserstein(x, x, max_dense_bytes=-1)
    with pytest.raises((ValueError, TypeError), match="numItermax"):
        wasserstein(x, x, numItermax=0)


def test_auto_uses_assignment_up_to_the_threshold_without_importing_pot():
    n = metrics.ASSIGNMENT_MAX_N
    code = (
        "import sys, numpy as np\n"
        "from magt_theory.metrics import wasserstein\n"
        f"x = np.random.default_rng(0).standard_normal(({n}, 3))\n"
        "wasserstein(x, x + 1.0)\n"
        "print('ot' in sys.modules)\n"
        f"wasserstein(np.vstack([x, x[:1]]), np.vstack([x, x[:1]]) + 1.0)\n"
        "print('ot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]  # n + 1 points: the network simplex
