"""Layout of the split packages (issue 14): re-exports, module sizes, import order, one VP.

The public names of ``magt_theory.models.magt`` and ``magt_theory.dynamics`` are those the
single modules exported before the split; the experiment-table builders are defined in
``magt_theory.experiments`` and re-exported by ``dynamics`` on first access, so importing
``dynamics`` does not import the experiments (no import cycle).
"""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import magt_theory
from magt_theory import smoothing

PKG = pathlib.Path(magt_theory.__file__).parent

MAGT_NAMES = ["FORMAT_NAME", "FORMAT_VERSION", "MAGT", "MAGTConfig", "area_log_density",
              "magt_loss_and_grad", "select_t", "smoothed_log_density", "snis_mean",
              "snis_score"]
DYNAMICS_NAMES = ["step_coefficients", "ddim_step_jacobian", "random_frame", "TangentDynamics",
                  "oracle_tangent_dynamics", "learned_tangent_dynamics", "lyapunov_exponents",
                  "flow_map_svd", "subspace_iteration", "learned_flow_map",
                  "learned_flow_map_svd", "alignment_metrics", "estimate_intrinsic_dim",
                  "alignment_table", "SmoothErrorField", "PerturbedDenoiser",
                  "displacement_split", "support_robustness", "one_step_alignment",
                  "parameter_displacement", "SITES"]


def test_public_names_are_reexported():
    from magt_theory import dynamics, models
    from magt_theory.models import magt

    for name in MAGT_NAMES:
        assert getattr(magt, name) is getattr(models, name), name
    assert set(MAGT_NAMES) <= set(magt.__all__)
    for name in DYNAMICS_NAMES:
        assert getattr(dynamics, name) is not None, name
    assert set(DYNAMICS_NAMES) <= set(dynamics.__all__)
    from magt_theory.experiments import alignment, robustness

    assert dynamics.alignment_table is alignment.alignment_table
    assert dynamics.support_robustness is robustness.support_robustness
    with pytest.raises(AttributeError, match="no_such_name"):
        dynamics.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", ["models/magt", "dynamics", "analysis", "metrics",
                                     "models/proximal_flow", "claims"])
def test_split_modules_are_small(package):
    files = sorted((PKG / package).glob("*.py"))
    assert len(files) >= 5
    for f in files:
        n = len(f.read_text().splitlines())
        assert n <= 500, f"{f.name} has {n} lines"


def test_importing_dynamics_does_not_import_experiments():
    code = ("import sys, magt_theory.dynamics, magt_theory.models.magt; "
            "print(sorted(m for m in sys.modules if m.startswith('magt_theory.experiments')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_vp_schedule_is_one_definition():
    from magt_theory.dynamics import step_coefficients
    from magt_theory.models.diffusion import vp_alpha_sigma

    for t in (1e-4, 0.3, 0.9999):
        a, s = smoothing.vp(t)
        assert (a, s) == (math.sqrt(1 - t), math.sqrt(t))
        assert vp_alpha_sigma(t) == (a, s)
    assert smoothing.vp(0.0, allow_zero=True) == (1.0, 0.0)
    assert vp_alpha_sigma(0.0) == (1.0, 0.0)
    # the DDIM coefficients follow it: c1 = sigma'/sigma, c2 = alpha' - c1 alpha
    (a, s), (an, sn) = smoothing.vp(0.5), smoothing.vp(0.2)
    assert step_coefficients(0.5, 0.2) == pytest.approx((sn / s, an - sn / s * a), rel=1e-15)
    t = torch.tensor([0.01, 0.5, 0.99], dtype=torch.float64)
    a_t, s_t = smoothing.vp(t)
    torch.testing.assert_close(a_t, torch.sqrt(1 - t), rtol=0, atol=0)
    torch.testing.assert_close(s_t, torch.sqrt(t), rtol=0, atol=0)
    np.testing.assert_array_equal(smoothing.vp(np.array([0.25]))[1], [0.5])


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, float("nan")])
def test_vp_rejects_levels_outside_the_interval(bad):
    with pytest.raises(ValueError, match=r"t must lie in \(0, 1\)"):
        smoothing.vp(bad)
    with pytest.raises(ValueError, match="t must lie in"):
        smoothing.vp(torch.tensor([0.5, bad]))
    if bad != 0.0:
        with pytest.raises(ValueError, match=r"t must lie in \[0, 1\)"):
            smoothing.vp(bad, allow_zero=True)


def _module_graph():
    """Module-level imports between magt_theory modules (function-local imports are lazy and
    cannot form an import-time cycle)."""
    import ast

    root = pathlib.Path(__file__).resolve().parents[1] / "magt_theory"
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                if node.module:
                    base = f"{base}.{node.module}"
                for a in node.names:
                    target = f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                    if target in mods and target != m:
                        graph[m].add(target)
    return graph


def test_module_import_graph_has_no_cycle():
    graph = _module_graph()
    assert len(graph) > 50 and graph["magt_theory.claims._table"]  # the parser sees the edges
    state: dict = {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(path + [m, t])}")
            if t not in state:
                visit(t, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_cycle_detector_finds_a_cycle(monkeypatch):
    # the check above can fail: a back edge from a leaf module to the package that imports it
    graph = _module_graph()
    graph["magt_theory.claims._base"].add("magt_theory.claims")
    monkeypatch.setattr(sys.modules[__name__], "_module_graph", lambda: graph)
    with pytest.raises(AssertionError, match="import cycle"):
        test_module_import_graph_has_no_cycle()
