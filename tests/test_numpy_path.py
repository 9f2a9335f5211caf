"""The numpy path never imports torch; thread counts are set before the interpreter starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1"}

#: modules of the numpy path (docs/conventions.md, "Numpy and torch at the boundary")
NUMPY_PATH = [
    "magt_theory",
    "magt_theory.manifolds",
    "magt_theory.smoothing",
    "magt_theory.metrics",
    "magt_theory.anchors",
    "magt_theory.bounds",
    "magt_theory.analysis",
    "magt_theory.claims",
    "magt_theory.workflow",
    "magt_theory.plotting",
    "magt_theory.experiments",
    "magt_theory.cli",
]


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_numpy_path_does_not_import_torch():
    code = (
        "import importlib, json, sys\n"
        f"mods = {NUMPY_PATH!r}\n"
        "res = {}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    res[m] = 'torch' in sys.modules\n"
        "import magt_theory as mt\n"
        "M = mt.manifolds.make('circle', ambient_dim=4)\n"
        "y = M.sample(50, 0)\n"
        "M.smoothed_score(y, 0.1); mt.metrics.wasserstein(y, M.sample(50, 1))\n"
        "mt.anchors.snis(y, M.sample(20, 2), alpha=0.9, sigma=0.3)\n"
        "from magt_theory.experiments import _common\n"
        "[_common.defaults(n) for n in _common.names()]\n"
        "_common.config_schema(); _common.figures()\n"
        "[_common.spec(n).resolve({}) for n in _common.names()]\n"
        "res['calls'] = 'torch' in sys.modules\n"
        "print(json.dumps(res))\n"
    )
    res = json.loads(_fresh(code).strip().splitlines()[-1])
    assert not any(res.values()), {k: v for k, v in res.items() if v}


def test_torch_is_imported_by_the_code_that_needs_it():
    # the check above can fail: the models do import torch
    code = "import sys, magt_theory.models\nprint('torch' in sys.modules)"
    assert _fresh(code).strip().splitlines()[-1] == "True"


def test_experiment_modules_import_without_torch():
    # every experiment module (its declaration and its run) imports torch only when it runs
    code = (
        "import importlib, sys\n"
        "from magt_theory.experiments import _common\n"
        "bad = [n for n in _common.names() if importlib.import_module(\n"
        "    'magt_theory.experiments.' + n) and 'torch' in sys.modules]\n"
        "print(bad)\n"
    )
    assert _fresh(code).strip().splitlines()[-1] == "[]"


def test_defaults_rejects_unknown_experiment():
    from magt_theory.experiments import _common

    with pytest.raises(ValueError, match="experiment must be one of"):
        _common.defaults("nope")


def test_dry_run_does_not_import_torch_and_sets_threads_in_the_shell(tmp_path):
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed in this environment")
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "-p", "--cores", "2",
         "--configfile", "workflows/config/smoke.yaml", "--directory", str(ROOT)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert "magt_theory.experiments._common" in imported  # the trace sees the package
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    shells = [line for line in out.stdout.splitlines() if "run-point" in line]
    assert shells
    pattern = re.compile(r"(^|\s)OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "
                         r"\S+ -m magt_theory run-point ")
    for line in shells:  # the variables precede the interpreter
        assert pattern.search(line), line


def test_threads_context_does_not_import_torch():
    # torch caps its count at the physical cores: 1 differs from its default on >= 2 cores
    code = (
        "import os, sys\n"
        "for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):\n"
        "    os.environ.pop(v, None)\n"
        "from magt_theory.experiments import _common\n"
        "with _common.threads(1):\n"
        "    print(os.environ['OMP_NUM_THREADS'], 'torch' in sys.modules)\n"
        "    import torch\n"
        "    print(torch.get_num_threads())\n"
    )
    lines = _fresh(code).strip().splitlines()
    assert lines[-2] == "1 False"
    assert lines[-1] == "1"  # torch imported inside the block reads OMP_NUM_THREADS
