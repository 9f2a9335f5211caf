"""``magt-theory benchmark-report``: the benchmark's table, scatter grid and sensitivity figure.

``magt-theory benchmark-report RESULTS.parquet --out-dir DIR`` writes
``DIR/benchmark_table.{csv,md}`` and prints the Markdown; ``--figure STEM`` writes the sample
scatter grid to ``STEM.{pdf,png}``; ``--sensitivity STEM`` reads RESULTS as the sensitivity
experiment's rows and writes its figure instead. The science is in
:mod:`magt_theory.benchmark_report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _benchmark_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="aggregated benchmark rows (.parquet)")
    p.add_argument("--out-dir", default=None, help="directory of benchmark_table.{csv,md}")
    p.add_argument("--figure", default=None, help="stem of the scatter grid (.pdf and .png)")
    p.add_argument("--reference", default="magt", help="method of the time ratios")
    p.add_argument("--sensitivity", default=None,
                   help="RESULTS are the sensitivity experiment's: write its figure to this stem")


def cmd_benchmark_report(args: argparse.Namespace) -> int:
    """``benchmark-report``: :func:`~magt_theory.benchmark_report.write_report` or the
    sensitivity figure (:func:`~magt_theory.benchmark_report.write_sensitivity_figure`)."""
    if args.out_dir is None and args.figure is None and args.sensitivity is None:
        raise ValueError("give --out-dir (the table) and/or --figure (the scatter grid), "
                         "or --sensitivity (the sensitivity figure)")
    import pandas as pd

    from .. import benchmark_report

    df = pd.read_parquet(args.results)
    if args.sensitivity is not None:
        benchmark_report.write_sensitivity_figure(df, args.sensitivity)
        return 0
    paths = benchmark_report.write_report(df, args.out_dir, args.figure, args.reference)
    if "md" in paths:
        print(Path(paths["md"]).read_text())
    return 0


def register(command) -> None:
    """Register ``benchmark-report`` through the registry's ``command`` decorator."""
    command("benchmark-report",
            "benchmark table (CSV + Markdown), sample scatter grid or sensitivity figure",
            _benchmark_report_args)(cmd_benchmark_report)
