"""Subcommands the Snakemake rules call: ``run-point``, ``aggregate``, ``verdicts``, ``figure``;
and ``readme-table``, which regenerates the README's verdict table from ``verdicts.csv``.

Each is a thin wrapper over :mod:`magt_theory.workflow`, :mod:`magt_theory.claims`,
:mod:`magt_theory.plotting` and :mod:`magt_theory.report`; every output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _run_point_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True, help="experiment name")
    p.add_argument("--params", required=True, help="the sweep point's parameters as JSON")
    p.add_argument("--config-name", default="adhoc", help="config name stored in the rows")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads for this job")
    p.add_argument("--out", required=True, help="output .parquet (written atomically)")


def cmd_run_point(args: argparse.Namespace) -> int:
    """``run-point``: one sweep point of ``--experiment`` with ``--params``, rows to ``--out``."""
    from ..experiments import _common

    _common.set_thread_env(args.threads)  # before numpy/torch start their pools
    from .. import experiments, workflow

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params must be a JSON object; {exc}") from exc
    if not isinstance(params, dict):
        raise ValueError("--params must be a JSON object of parameter -> value")
    with _common.threads(args.threads):
        df = experiments.run(args.experiment, params)
    df.insert(0, "config", args.config_name)
    workflow.atomic_write(df, args.out)
    log.info("%s: %d rows -> %s", args.experiment, len(df), args.out)
    return 0


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="per-point .parquet files")
    p.add_argument("--out", required=True, help="aggregate .parquet (written atomically)")


def cmd_aggregate(args: argparse.Namespace) -> int:
    """``aggregate``: concatenate the per-point files into ``--out``."""
    from .. import workflow

    workflow.aggregate(args.inputs, args.out)
    return 0


def _verdicts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="aggregated results, results/<cfg>/<experiment>.parquet")
    p.add_argument("--out", required=True, help="verdicts.csv (written atomically)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per slope CI")
    p.add_argument("--seed", type=int, default=0)


def cmd_verdicts(args: argparse.Namespace) -> int:
    """``verdicts``: slope fits and verdicts of the aggregated results, with provenance."""
    import pandas as pd

    from .. import claims, workflow

    frames = {Path(p).stem: pd.read_parquet(p) for p in args.inputs}
    table = claims.verdicts(frames, n_boot=args.n_boot, seed=args.seed)
    workflow.atomic_write(table, args.out)
    from ..report import write_provenance

    write_provenance(args.out, config=Path(args.out).parent.name)  # results/<config>/
    print(table[["experiment", "manifold", "quantity", "swept", "fitted_slope",
                 "predicted_slope", "verdict"]].to_string(index=False))
    return 0


def _figure_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="figure name (see magt_theory.plotting.FIGURES)")
    p.add_argument("input", help="aggregated results of the figure's experiment (.parquet)")
    p.add_argument("--out", required=True, help="output stem: writes <out>.pdf and <out>.png")


def cmd_figure(args: argparse.Namespace) -> int:
    """``figure``: render figure ``name`` of :data:`magt_theory.plotting.FIGURES`."""
    import pandas as pd

    from .. import plotting

    plotting.render(args.name, pd.read_parquet(args.input), args.out)
    return 0


def _readme_table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("verdicts", help="verdicts.csv (e.g. results/default/verdicts.csv)")
    p.add_argument("--readme", default="README.md", help="README to update (default README.md)")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 when the README's table differs from the file")
    p.add_argument("--section", default="verdicts", choices=("verdicts", "benchmark"),
                   help="README table to fill: the default run's claims (verdicts) or the "
                        "MAGT §5 claim x dataset grid (benchmark)")


def cmd_readme_table(args: argparse.Namespace) -> int:
    """``readme-table``: :func:`magt_theory.report.cmd_readme_table`."""
    from .. import report

    return report.cmd_readme_table(args)


def register(command) -> None:
    """Register the workflow subcommands through the registry's ``command`` decorator."""
    command("run-point", "run one sweep point of an experiment and write its tidy rows",
            _run_point_args)(cmd_run_point)
    command("aggregate", "concatenate per-point results into one tidy file",
            _aggregate_args)(cmd_aggregate)
    command("verdicts", "fit slopes and write the verdict table", _verdicts_args)(cmd_verdicts)
    command("figure", "render one paper figure from aggregated results",
            _figure_args)(cmd_figure)
    command("readme-table", "regenerate the README's verdict table from verdicts.csv",
            _readme_table_args)(cmd_readme_table)
