"""Benchmark: Snakemake DAG construction time (``snakemake -n``) for sweeps of thousands of jobs.

What is measured: the wall time of a dry run (``python -m snakemake -n --cores 1``: parse the
Snakefile, validate the config against the JSON schema, expand the sweep, build the DAG, check
the (absent) outputs, print the plan) of a config holding one ``anchor_error`` sweep, the
paper's grid (3 manifolds x 4 ambient dimensions x t x 2 proposals x seeds) with a denser t
grid (25 log-spaced values in [1e-3, 0.5]) and more seeds, sized to 300, 1000 and 3000 point
jobs (``--quick``: 300 and 1000). Every dry run works in a fresh temporary copy of the
workflow (``Snakefile`` + ``workflows/``; the package is imported from this checkout), so no
``.snakemake`` state is reused. Printed per size: the number of jobs Snakemake plans (points +
aggregate + verdicts + figures + all), wall and CPU seconds (best of ``--repeats``, default 3;
CPU time = user + sys of the Snakemake process, robust to other load on a shared machine),
seconds per job and the marginal CPU seconds per job over a one-point baseline run (which holds
Snakemake's and the package's start-up).

Usage::

    python benchmarks/bench_dag.py            # 300, 1000, 3000 point jobs
    python benchmarks/bench_dag.py --quick    # 300, 1000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFOLDS = ["circle", "sphere", "flat_torus"]
DIMS = [None, 16, 128, 1024]
T_GRID = [float(f"{t:.4g}") for t in np.geomspace(1e-3, 0.5, 25)]
# points = |manifold| x |D| x |t| x |proposal| x |seed|
SHAPES = {
    1: (["circle"], [None], [0.01], ["mc"], 1),
    300: (["circle"], DIMS, T_GRID, ["mc"], 3),
    1000: (["circle"], DIMS, T_GRID, ["mc", "qmc"], 5),
    3000: (MANIFOLDS, DIMS, T_GRID, ["mc", "qmc"], 5),
}


def sweep_config(n_points: int) -> dict:
    """Workflow config with one ``anchor_error`` sweep of exactly ``n_points`` points."""
    if n_points not in SHAPES:
        raise ValueError(f"n_points must be one of {sorted(SHAPES)}; got {n_points!r}")
    mans, dims, ts, props, n_seeds = SHAPES[n_points]
    cfg = {
        "name": f"dag{n_points}",
        "threads": 1,
        "bootstrap": 200,
        "experiments": {
            "anchor_error": {
                "grid": {"manifold": mans, "D": dims, "t": ts, "proposal": props,
                         "seed": list(range(n_seeds))},
                "fixed": {"K": [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                          "n_queries": 1024, "repeats": 8},
            }
        },
    }
    got = len(mans) * len(dims) * len(ts) * len(props) * n_seeds
    assert got == n_points, (got, n_points)
    return cfg


def _copy_workflow(dst: Path) -> None:
    shutil.copy(ROOT / "Snakefile", dst / "Snakefile")
    shutil.copytree(ROOT / "workflows", dst / "workflows")


def dry_run_seconds(n_points: int, repeats: int = 1) -> dict:
    """Best wall and CPU time of ``snakemake -n`` on a fresh copy with an ``n_points`` sweep.

    Returns ``{"points", "jobs", "seconds", "cpu_seconds"}`` (minima over ``repeats``; CPU time
    is user + sys of the Snakemake process, robust to other load on a shared machine); ``jobs``
    is the total Snakemake plans, read from its job-stats table.
    """
    import resource

    cfg = sweep_config(n_points)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    best, best_cpu, jobs = np.inf, np.inf, None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
            tmp = Path(tmp)
            _copy_workflow(tmp)
            cfg_path = tmp / "workflows" / "config" / "bench_dag.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                   "--configfile", str(cfg_path.relative_to(tmp))]
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            res = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env)
            secs = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            raise RuntimeError(f"snakemake -n failed for {n_points} points:\n{res.stderr[-3000:]}")
        m = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, flags=re.M)
        jobs = int(m.group(1)) if m else None
        best = min(best, secs)
        best_cpu = min(best_cpu, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime))
    return {"points": n_points, "jobs": jobs, "seconds": best, "cpu_seconds": best_cpu}


def workflow_seconds(cores: int, configfile: str = "workflows/config/smoke.yaml") -> dict:
    """Run a workflow config end to end in a fresh temporary copy with ``--cores cores``.

    Returns ``{"cores", "seconds" (wall), "cpu_seconds" (user + sys of all child processes)}``.
    Used for the parallel efficiency ``T(1) / (2 T(2))`` of ``benchmarks/run_all.py``; jobs
    run one thread each (the config's ``threads``), so ``--cores 2`` runs two jobs at a time.
    """
    import resource

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="bench_wf_") as tmp:
        _copy_workflow(Path(tmp))
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(int(cores)),
               "--configfile", configfile]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env)
        secs = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"snakemake --cores {cores} failed:\n{res.stderr[-3000:]}")
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"cores": int(cores), "seconds": secs, "cpu_seconds": cpu}


def measure(sizes=(300, 1000, 3000), repeats: int = 1, verbose: bool = True) -> list[dict]:
    """Dry-run times at each size and a one-point baseline; rows with per-job figures."""
    base = dry_run_seconds(1, repeats)
    rows = []
    for n in sizes:
        r = dry_run_seconds(n, repeats)
        ok = bool(r["jobs"]) and bool(base["jobs"])
        for key in ("seconds", "cpu_seconds"):
            r[f"{key}_per_job"] = r[key] / r["jobs"] if ok else float("nan")
            r[f"marginal_{key}_per_job"] = (
                (r[key] - base[key]) / (r["jobs"] - base["jobs"]) if ok else float("nan"))
        rows.append(r)
    if verbose:
        import snakemake

        print(f"snakemake -n (DAG construction) on an anchor_error sweep; snakemake "
              f"{snakemake.__version__}, best of {repeats}; baseline (1 point, "
              f"{base['jobs']} jobs): {base['seconds']:.2f} s wall, {base['cpu_seconds']:.2f} s "
              f"CPU; load average {os.getloadavg()[0]:.1f}")
        print(f"{'points':>7}{'jobs':>7}{'wall s':>9}{'wall s/job':>12}{'CPU s':>8}"
              f"{'CPU s/job':>11}{'marginal CPU s/job':>20}")
        for r in rows:
            print(f"{r['points']:>7}{r['jobs'] or -1:>7}{r['seconds']:>9.2f}"
                  f"{r['seconds_per_job']:>12.4f}{r['cpu_seconds']:>8.2f}"
                  f"{r['cpu_seconds_per_job']:>11.4f}{r['marginal_cpu_seconds_per_job']:>20.4f}")
    for r in rows:
        r["baseline_seconds"] = base["seconds"]
        r["baseline_cpu_seconds"] = base["cpu_seconds"]
    return rows


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="300 and 1000 points only")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    sizes = (300, 1000) if args.quick else (300, 1000, 3000)
    return measure(sizes, repeats=args.repeats)


if __name__ == "__main__":
    main()
