"""Workflow: config validation, sweep points, atomic writes, dry runs and the smoke run."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from magt_theory import analysis, workflow

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflows" / "config" / "schema.json"
CONFIGS = ROOT / "workflows" / "config"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _smoke():
    return yaml.safe_load((CONFIGS / "smoke.yaml").read_text())


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_shipped_configs_validate(name):
    cfg = workflow.load_config(CONFIGS / f"{name}.yaml", SCHEMA)
    assert cfg["name"] == name


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(bogus=1), "<root>"),
        (lambda c: c["experiments"]["anchor_error"]["grid"].update(t=[0.1, 1.5]),
         "experiments.anchor_error.grid.t.1"),
        (lambda c: c["experiments"]["anchor_error"]["fixed"].update(K=[0]),
         "experiments.anchor_error.fixed.K.0"),
        (lambda c: c["experiments"]["pullback"]["grid"].update(manifold=["klein_bottle"]),
         "experiments.pullback.grid.manifold.0"),
        (lambda c: c["experiments"]["sample_size"]["fixed"].update(min_steps=0),
         "experiments.sample_size.fixed.min_steps"),
        (lambda c: c["experiments"].update(nonsense={"grid": {"t": [0.1]}}), "experiments"),
        (lambda c: c.update(threads=0), "threads"),
    ],
)
def test_bad_config_names_the_key(mutate, key):
    cfg = _smoke()
    mutate(cfg)
    with pytest.raises(workflow.ConfigError) as exc:
        workflow.load_config(cfg, SCHEMA)
    assert f"'{key}'" in str(exc.value)


def _set(section, experiment, key, value):
    def mutate(c):
        c["experiments"][experiment].setdefault(section, {})[key] = value

    return mutate


# values that pass the JSON schema but not the experiment or manifold they go to
SEMANTIC_BAD = [
    # ambient dimension below the manifold's native one (circle: 2, sphere: 3)
    (_set("grid", "ambient_dim", "D", [1, 8]), "experiments.ambient_dim.grid.D", "native"),
    (_set("fixed", "sample_size", "D", 1), "experiments.sample_size.fixed.D", "native"),
    # NaN / inf written as YAML .nan / .inf
    (_set("grid", "anchor_error", "t", [0.01, float("nan")]), "experiments.anchor_error.grid.t[1]",
     "finite"),
    (_set("fixed", "sample_size", "jitter", float("inf")), "experiments.sample_size.fixed.jitter",
     "finite"),
    (_set("fixed", "robustness", "threshold", float("nan")),
     "experiments.robustness.fixed.threshold", "finite"),
    (_set("fixed", "pullback", "eps", [0.03, float("nan")]), "experiments.pullback.fixed.eps[1]",
     "finite"),
]


@pytest.mark.parametrize("mutate, key, word", SEMANTIC_BAD)
def test_semantically_bad_config_names_the_key(mutate, key, word):
    cfg = _smoke()
    mutate(cfg)
    with pytest.raises(workflow.ConfigError) as exc:
        workflow.load_config(cfg, SCHEMA)
    assert f"'{key}'" in str(exc.value) and word in str(exc.value)


def test_sigma_min_above_sqrt_t_max_is_rejected():
    cfg = _smoke()
    exp = next(n for n, spec in cfg["experiments"].items()
               if "sigma_min" in {**spec.get("fixed", {}), **spec.get("grid", {})}
               or n == "alignment")
    cfg["experiments"][exp].setdefault("fixed", {}).update(t_max=0.04, sigma_min=0.5)
    cfg["experiments"][exp].get("grid", {}).pop("t_max", None)
    cfg["experiments"][exp].get("grid", {}).pop("sigma_min", None)
    with pytest.raises(workflow.ConfigError, match=f"experiments.{exp}.fixed.sigma_min"):
        workflow.load_config(cfg, SCHEMA)


@pytest.mark.parametrize(
    "mutate, key, word",
    [pytest.param(*SEMANTIC_BAD[0], marks=pytest.mark.slow), SEMANTIC_BAD[2]],
)
def test_dry_run_of_bad_config_fails_naming_the_key(mutate, key, word, tmp_path):
    """``snakemake -n`` stops before any job, with the key path in its output."""
    for part in ("Snakefile", "workflows"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    cfg = _smoke()
    mutate(cfg)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    assert ".nan" in (tmp_path / "bad.yaml").read_text() or "D" in key
    res = _run(["-n", "--cores", "1", "--configfile", "bad.yaml"], tmp_path)
    assert res.returncode != 0
    assert key in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def test_grid_and_fixed_overlap_is_rejected():
    cfg = _smoke()
    cfg["experiments"]["anchor_error"]["fixed"]["t"] = 0.2
    with pytest.raises(workflow.ConfigError, match="both in grid and fixed"):
        workflow.load_config(cfg, SCHEMA)


def test_points_are_the_grid_product():
    cfg = workflow.load_config(_smoke(), SCHEMA)
    grid = cfg["experiments"]["ambient_dim"]["grid"]
    pts = workflow.points(cfg, "ambient_dim")
    assert len(pts) == len(grid["D"]) * len(grid["n"]) * len(grid["seed"])
    assert "D-2_n-100_seed-0" in pts
    assert pts["D-2_n-100_seed-0"]["manifold"] == "circle"
    assert workflow.point_id({"D": None, "t": 0.1}) == "D-native_t-0.1"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    df = pd.DataFrame({"a": [1, 2]})
    workflow.atomic_write(df, tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "x.parquet"), df)
    with pytest.raises(ValueError, match="path"):
        workflow.atomic_write(df, tmp_path / "x.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]


def _run(args, cwd, timeout=600):
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("name", ["default", "paper"])
def test_dry_run(name, tmp_path):
    for part in ("Snakefile", "workflows"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    res = _run(["-n", "--cores", "2", "--configfile", f"workflows/config/{name}.yaml"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "verdicts" in res.stdout and "point" in res.stdout


@pytest.mark.workflow
def test_smoke_workflow_end_to_end(tmp_path):
    """The smoke config end to end in a copy; a rerun does nothing; a lost point is redone."""
    for part in ("Snakefile", "workflows"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    args = ["--cores", "2", "--configfile", "workflows/config/smoke.yaml"]
    res = _run(args, tmp_path)
    assert res.returncode == 0, res.stderr[-5000:]
    verdicts = pd.read_csv(tmp_path / "results" / "smoke" / "verdicts.csv")
    assert list(verdicts.columns) == analysis.VERDICT_COLUMNS
    assert set(verdicts["verdict"]) <= set(analysis.VERDICTS)
    figs = sorted(p.name for p in (tmp_path / "paper_figures" / "smoke").iterdir())
    assert figs and all(f.endswith((".pdf", ".png")) for f in figs)

    again = _run(args + ["-n"], tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # an interrupted run: one point and everything downstream of it never got written
    res_dir = tmp_path / "results" / "smoke"
    next((res_dir / "anchor_error").glob("*.parquet")).unlink()
    (res_dir / "anchor_error.parquet").unlink()
    (res_dir / "verdicts.csv").unlink()
    redo = _run(args + ["-n"], tmp_path)
    counts = dict(line.split() for line in redo.stdout.splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts.get("point") == "1", redo.stdout[-2000:]

    report = _run(args + ["--report", "report.html"], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000


@pytest.mark.workflow
@pytest.mark.slow
def test_recovery_after_a_killed_run(tmp_path):
    """The README's recovery commands: after SIGKILL, ``--unlock`` then ``--rerun-incomplete``.

    A one-experiment copy of the smoke config runs with one core; as soon as its first point is
    written, the whole Snakemake process group is killed (a hard kill: the lock stays). A plain
    rerun then refuses to start (locked directory); ``snakemake --unlock`` and
    ``snakemake --rerun-incomplete`` finish the run with every result.
    """
    import os
    import signal
    import time

    for part in ("Snakefile", "workflows"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    cfg = _smoke()
    cfg["name"] = "recover"
    cfg["experiments"] = {"anchor_error": cfg["experiments"]["anchor_error"]}
    (tmp_path / "recover.yaml").write_text(yaml.safe_dump(cfg))
    # target: the experiment's aggregate (every point job, then the aggregate job)
    args = ["results/recover/anchor_error.parquet", "--cores", "1", "--configfile", "recover.yaml"]
    res_dir = tmp_path / "results" / "recover" / "anchor_error"
    proc = subprocess.Popen(SNAKEMAKE + args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if res_dir.exists() and any(res_dir.glob("*.parquet")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its running job, without cleanup
    finally:
        proc.wait(timeout=60)
    n_points = len(workflow.points(cfg, "anchor_error"))

    def finished():  # per-point results (a killed job's hidden temp file does not count)
        return sorted(p.name for p in res_dir.glob("[!.]*.parquet"))

    assert len(finished()) < n_points
    aggregate = tmp_path / "results" / "recover" / "anchor_error.parquet"
    assert not aggregate.exists()

    # a plain rerun refuses: the killed run's lock (and its incomplete job) are still there
    locked = _run(args, tmp_path)
    text = locked.stdout + locked.stderr
    assert locked.returncode != 0 and ("--unlock" in text or "--rerun-incomplete" in text), text
    assert not aggregate.exists()
    unlock = _run(args + ["--unlock"], tmp_path)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    redo = _run(args + ["--rerun-incomplete"], tmp_path)
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert len(finished()) == n_points
    agg = pd.read_parquet(aggregate)
    assert sorted(agg["t"].unique()) == sorted(cfg["experiments"]["anchor_error"]["grid"]["t"])
    assert np.isfinite(agg["value"]).all()
    done = _run(args + ["-n"], tmp_path)
    assert done.returncode == 0 and "Nothing to be done" in done.stdout + done.stderr

