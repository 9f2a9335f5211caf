"""The ``magt_theory.cli`` package: one registry, every entry point, no import cycle.

``magt-theory``, ``python -m magt_theory`` and ``python -m magt_theory.cli`` must list the same
subcommands; each subcommand module imports only library modules (never the ``cli`` package),
so any of them can be imported first; no library module imports the command line; ``--help``
does not import torch or matplotlib.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import magt_theory
from magt_theory import cli

PKG = Path(magt_theory.__file__).resolve().parent
ROOT = PKG.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "200"}
#: subcommands the README, the Snakefile and the tests use (others may be added)
EXPECTED = {"list", "train", "run-point", "aggregate", "verdicts", "figure", "readme-table",
            "benchmark-report"}
#: the subcommand modules (every private module of the package but __init__ and __main__)
CLI_MODULES = sorted(f"magt_theory.cli.{p.stem}" for p in (PKG / "cli").glob("_*.py")
                     if not p.stem.startswith("__"))


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=False, cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)


def _listed(help_text: str) -> set[str]:
    """Subcommand names in argparse's ``COMMAND`` section (lines indented by four spaces)."""
    section = help_text.split("COMMAND\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^    (\S+)", section, flags=re.MULTILINE))


def _console_script() -> str | None:
    script = Path(sys.executable).parent / "magt-theory"
    return str(script) if script.exists() else None


@pytest.mark.parametrize("entry", ["-m magt_theory", "-m magt_theory.cli", "magt-theory"])
def test_every_entry_point_lists_every_subcommand(entry):
    if entry == "magt-theory":
        script = _console_script()
        if script is None:
            pytest.skip("the magt-theory console script is not installed next to this python")
        argv = [script]
    else:
        argv = [sys.executable, *entry.split()]
    res = _run([*argv, "--help"])
    assert res.returncode == 0, res.stderr
    assert _listed(res.stdout) == set(cli.COMMANDS)
    assert EXPECTED <= set(cli.COMMANDS)
    # each subcommand's own parser is reachable from that entry point
    res = _run([*argv, "benchmark-report", "--help"])
    assert res.returncode == 0 and "--sensitivity" in res.stdout, res.stderr


def test_console_script_points_at_the_registry():
    text = (ROOT / "pyproject.toml").read_text()
    scripts = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^magt-theory\s*=\s*"magt_theory\.cli:main"\s*$', scripts, flags=re.MULTILINE)


@pytest.mark.parametrize("first", ["magt_theory.cli", *CLI_MODULES])
def test_any_cli_module_can_be_imported_first(first):
    """Importing a subcommand module before the package still registers every subcommand."""
    code = (f"import importlib, json, sys\nimportlib.import_module({first!r})\n"
            "from magt_theory import cli\ncli.build_parser()\n"
            "print(json.dumps([list(cli.COMMANDS), "
            "[m for m in ('torch', 'matplotlib') if m in sys.modules]]))")
    res = _run([sys.executable, "-c", code])
    assert res.returncode == 0, res.stderr
    names, heavy = json.loads(res.stdout.strip().splitlines()[-1])
    assert names == list(cli.COMMANDS) and EXPECTED <= set(names)
    assert heavy == [], f"building the parser imported {heavy}"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import statement in ``path``, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            out += [(node.level, f"{base}.{a.name}" if base else a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(0, a.name) for a in node.names]
    return out


def test_subcommand_modules_do_not_import_the_cli_package():
    assert len(CLI_MODULES) >= 4
    for mod in CLI_MODULES:
        path = PKG / "cli" / f"{mod.rsplit('.', 1)[1]}.py"
        for level, name in _imports(path):
            assert level != 1, f"{path.name} imports .{name} from the cli package"
            assert not (level == 2 and name.split(".")[0] == "cli"), (path.name, name)
            assert not name.startswith("magt_theory.cli"), (path.name, name)


def test_library_modules_do_not_import_the_cli():
    """Only the entry point ``magt_theory/__main__.py`` imports ``cli``: no library -> cli edge."""
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "cli" or rel == Path("__main__.py"):
            continue
        depth = len(rel.parts)  # level of a relative import reaching magt_theory/
        for level, name in _imports(path):
            absolute = name if level == 0 else (
                "magt_theory." + name if level == depth else "")
            assert not (absolute == "magt_theory.cli" or absolute.startswith("magt_theory.cli.")
                        or (level == depth and name.split(".")[0] == "cli")), (str(rel), name)


def test_benchmark_report_without_an_output_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["benchmark-report", str(tmp_path / "missing.parquet")]) == 2
    err = capsys.readouterr().err
    assert "--out-dir" in err and "--sensitivity" in err
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["benchmark-report", str(tmp_path / "missing.parquet"),
                     "--out-dir", str(tmp_path / "out")]) == 1  # missing input: OSError
    assert "missing.parquet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
