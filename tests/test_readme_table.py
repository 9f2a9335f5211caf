"""The README's verdict table is generated from the committed ``results/default/verdicts.csv``.

``test_readme_matches_committed_verdicts`` fails when README and file disagree; it is skipped
only when the committed verdicts file is absent (it is committed at the end of a default run).
The other tests check the generator on a synthetic table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from magt_theory import analysis, report

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "default" / "verdicts.csv"


def _table():
    rows = []
    for i, (v, tight, ctrl, direction) in enumerate([
            ("consistent", True, "c1", ""), ("inconsistent", False, "c1", ""),
            ("diagnostic", False, "", "tangent"), ("exact", False, "", "")]):
        rows.append(dict(experiment="e", manifold=f"m{i}", quantity="q", swept="x",
                         fitted_slope=-1.0 + 0.1 * i, ci_low=-1.2, ci_high=-0.8,
                         predicted_slope=-1.0, source="S | T", claim="rate", verdict=v,
                         tight=tight, direction=direction, control=ctrl, note="n"))
    rows.append(dict(rows[0], experiment="f", quantity="r", fitted_slope=np.nan,
                     predicted_slope=np.nan, verdict="inconclusive", tight=False, control="c2"))
    return pd.DataFrame(rows, columns=analysis.VERDICT_COLUMNS)


def test_summary_table_counts_and_escapes():
    md = report.summary_table(_table()).splitlines()
    assert len(md) == 4 and md[0].startswith("| experiment |")
    first = md[2]
    assert "| e | q vs x | S \\| T | tangent | -1.00 to -0.70 | -1.00 |" in first
    assert "1 consistent, 1 inconsistent, 1 exact, 1 diagnostic" in first
    assert "| 1/2 | c1 |" in first  # tight counts the judged rows only
    assert md[3].endswith("| - | - | 1 inconclusive | 0/1 | c2 |")


def test_render_and_check_roundtrip(tmp_path):
    csv = tmp_path / "verdicts.csv"
    _table().to_csv(csv, index=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nintro\n{report.BEGIN}\nold table\n{report.END}\n\nafter\n")
    assert not report.update_readme(csv, readme, check=True)
    assert report.update_readme(csv, readme)
    text = readme.read_text()
    assert report.update_readme(csv, readme, check=True)
    assert text.startswith("# x\n\nintro\n") and text.endswith(f"{report.END}\n\nafter\n")
    assert "old table" not in text
    with pytest.raises(ValueError, match="marker"):
        report.render_readme("no markers", "t")
    # the CLI: --check exits 1 on a stale README, 0 after regeneration
    readme.write_text(f"{report.BEGIN}\nstale\n{report.END}\n")
    cmd = [sys.executable, "-m", "magt_theory", "readme-table", str(csv), "--readme", str(readme)]
    assert subprocess.run(cmd + ["--check"], capture_output=True).returncode == 1  # registered
    ns = argparse.Namespace(verdicts=str(csv), readme=str(readme), check=False)
    assert report.cmd_readme_table(ns) == 0
    assert report.cmd_readme_table(argparse.Namespace(**{**vars(ns), "check": True})) == 0


def test_provenance(tmp_path):
    csv = tmp_path / "verdicts.csv"
    _table().to_csv(csv, index=False)
    out = report.write_provenance(csv, config="default", cwd=ROOT)
    info = json.loads(out.read_text())
    assert out.name == report.PROVENANCE_NAME and info["config"] == "default"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert info["commit"] == head
    import hashlib
    assert info["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()


@pytest.mark.skipif(not COMMITTED.exists(),
                    reason="results/default/verdicts.csv is not committed yet (it is committed "
                           "with the README after a default run)")
def test_readme_matches_committed_verdicts():
    assert report.update_readme(COMMITTED, ROOT / "README.md", check=True), (
        "README's verdict table differs from results/default/verdicts.csv; run "
        "`magt-theory readme-table results/default/verdicts.csv`")
    prov = report.provenance_path(COMMITTED)
    assert prov.exists(), "the committed verdicts need their provenance file"
    info = json.loads(prov.read_text())
    assert info["config"] == "default" and info["commit"]


BENCH_COMMITTED = ROOT / "results" / "benchmark" / "verdicts.csv"


def test_benchmark_grid_counts_and_orders_datasets():
    rows = []
    for m, v in [("torus3d", "consistent"), ("rings2d", "inconsistent"), ("custom", "consistent")]:
        rows.append(dict(experiment="benchmark", manifold=m, quantity="w2", swept="method",
                         source="MAGT §5 (synthetic benchmark): MAGT has the lowest W2",
                         claim="ranking", verdict=v, control="noisy_magt"))
    rows.append(dict(rows[0], experiment="sensitivity", swept="K", verdict="inconclusive",
                     source="MAGT §5 (synthetic benchmark): W2 decreases in K",
                     control="growing_noise"))
    rows.append(dict(rows[0], experiment="sample_size", verdict="consistent"))  # not a §5 row
    md = report.benchmark_grid(pd.DataFrame(rows)).splitlines()
    assert md[0] == "| claim (MAGT §5) | rings2d | torus3d | custom | held | control |"
    assert md[2] == ("| MAGT has the lowest W2 | inconsistent | consistent | consistent | 2/3 "
                     "| noisy_magt |")
    assert md[3] == "| W2 decreases in K | - | inconclusive | - | 0/1 | growing_noise |"
    with pytest.raises(ValueError, match="no benchmark or sensitivity rows"):
        report.benchmark_grid(pd.DataFrame(rows[-1:]))


def test_readme_matches_committed_benchmark_verdicts():
    if not BENCH_COMMITTED.exists():
        pytest.skip("results/benchmark/verdicts.csv not committed")
    assert report.update_readme(BENCH_COMMITTED, ROOT / "README.md", check=True,
                                section="benchmark"), (
        "README's benchmark grid is stale: run `magt-theory readme-table "
        "results/benchmark/verdicts.csv --section benchmark`")


def test_update_readme_rejects_unknown_section(tmp_path):
    with pytest.raises(ValueError, match="section must be one of"):
        report.update_readme(BENCH_COMMITTED, tmp_path / "R.md", section="nope")
