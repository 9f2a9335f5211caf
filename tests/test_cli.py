"""Tests of the ``magt-theory`` command line (``magt_theory.cli``): list, train, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import magt_theory as mt
from magt_theory import cli
from magt_theory.models import MAGT

torch.set_num_threads(1)
REPO = Path(mt.__file__).resolve().parents[1]
SCHEMA = ["experiment", "manifold", "d", "D", "seed", "t", "n", "K"]
TINY = [
    "--width",
    "16",
    "--depth",
    "2",
    "--steps",
    "20",
    "--batch-size",
    "32",
    "--anchors",
    "32",
    "--chunk-size",
    "16",
    "--n",
    "300",
    "--n-eval",
    "200",
    "--threads",
    "1",
]


def test_list_prints_every_manifold_name_in_a_subprocess():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "magt_theory.cli", "list"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == mt.manifolds.names()
    assert "circle" in res.stdout.split()


def test_list_in_process(capsys):
    assert cli.main(["list", "manifolds"]) == 0
    assert capsys.readouterr().out.split() == mt.manifolds.names()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_train_writes_model_history_and_tidy_metrics(tmp_path, capsys, fmt):
    out = tmp_path / "run"
    argv = [
        "train",
        "--manifold",
        "circle",
        "--ambient-dim",
        "5",
        "--t",
        "0.2",
        "--seed",
        "3",
        "--jitter",
        "0.01",
        "--out",
        str(out),
        "--format",
        fmt,
        *TINY,
    ]
    assert cli.main(argv) == 0
    assert "W2=" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == sorted(["model.pt", f"metrics.{fmt}", f"history.{fmt}"])
    df = (
        pd.read_csv(out / "metrics.csv")
        if fmt == "csv"
        else pd.read_parquet(out / "metrics.parquet")
    )
    assert list(df.columns[: len(SCHEMA)]) == SCHEMA and list(df.columns[-2:]) == [
        "quantity",
        "value",
    ]
    assert set(df["quantity"]) >= {"w2", "w2_lower", "w2_upper", "w2_floor", "off_manifold_rate",
                                   "seconds_sampling", "seconds_train"}
    row = df.iloc[0]
    assert (row.manifold, row.d, row.D, row.seed, row.t, row.n, row.K) == (
        "circle",
        1,
        5,
        3,
        0.2,
        300,
        32,
    )
    v = dict(zip(df.quantity, df.value))
    assert np.all(np.isfinite(df["value"])) and v["w2"] > 0 and v["w2_floor"] > 0
    assert v["w2_lower"] <= v["w2"] <= v["w2_upper"]
    assert 0.0 <= v["off_manifold_rate"] <= 1.0 and v["seconds_sampling"] > 0
    model = MAGT.load(out / "model.pt")
    assert model.config.t == 0.2 and model.config.n_anchors == 32 and model.config.jitter == 0.01
    assert model.ambient_dim_ == 5 and len(model.history_) == 20
    # the W2 written is the one-sample W2 of the saved model's samples to the law of the
    # experiments' manifold (embedding seed 0, not --seed): an independent two-sample estimate
    # on that manifold agrees within a few of its noise floors
    M = mt.manifolds.make("circle", ambient_dim=5, seed=0)
    x = model.sample(2000, seed=11)
    floor = mt.metrics.noise_floor(M.sample, 2000, rng=np.random.default_rng(1), p=2).mean
    fresh = mt.metrics.wasserstein(x, M.sample(2000, 12))
    assert abs(fresh - v["w2"]) < 4 * floor


def test_train_and_the_experiments_embed_the_same_manifold(tmp_path):
    # the CLI's default --embedding-seed is the experiments' embedding (seed 0), whatever --seed
    from magt_theory.experiments import _training

    p = {"manifold": "circle", "k": None, "D": 5}
    exp_m = _training._make_manifold(p)
    cli_m = mt.manifolds.make("circle", ambient_dim=5, seed=0)
    np.testing.assert_array_equal(exp_m.sample(50, 1), cli_m.sample(50, 1))
    assert not np.allclose(mt.manifolds.make("circle", ambient_dim=5, seed=3).sample(50, 1),
                           cli_m.sample(50, 1))
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--manifold", "circle", "--seed", "7", "--out", "x"])
    assert args.embedding_seed == 0 and args.seed == 7


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--t", "1.5"], "t must be in"),
        (["--anchors", "0"], "n_anchors"),
        (["--manifold", "nope"], "--manifold"),
        (["--latent-dim", "0"], "latent_dim"),  # no longer silently replaced by d
        (["--latent-dim", "-3"], "latent_dim"),
        (["--device", "nonsense"], "--device"),
        (["--ambient-dim", "1"], "ambient_dim"),
        (["--param", "radius=-1"], "radius"),
        (["--param", "nonexistent=3"], "--param"),
    ],
)
def test_train_rejects_bad_arguments_before_any_work(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    argv = ["train", "--manifold", "circle", "--out", str(out), *TINY, *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_device_cuda_without_cuda_is_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--manifold", "circle", "--out", str(out), *TINY, "--device", "cuda"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_train_out_pointing_at_a_file_is_one_line_error(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    for out in (f, f / "sub"):
        argv = ["train", "--manifold", "circle", "--out", str(out), *TINY]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "--out" in err and "file" in err and len(err.strip().splitlines()) == 1
    assert f.read_text() == "x"


def test_workflow_subcommand_user_error_is_one_line_in_a_subprocess():
    """A workflow subcommand's user error through ``python -m magt_theory.cli``: one line, exit 2.

    (That every entry point lists every subcommand is checked in test_cli_package.py.)
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "magt_theory.cli", "run-point", "--experiment", "anchor_error",
         "--params", "{not json", "--out", "x.parquet"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 2 and "--params" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_input_file_is_one_line_error(tmp_path, capsys):
    assert cli.main(["aggregate", str(tmp_path / "missing.parquet"),
                     "--out", str(tmp_path / "o.parquet")]) == 1
    err = capsys.readouterr().err
    assert "missing.parquet" in err and len(err.strip().splitlines()) == 1


def test_no_subcommand_prints_help(capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out


def test_new_subcommands_register_with_the_decorator(capsys):
    def configure(p):
        p.add_argument("--word", default="hi")

    @cli.command("echo-test", "print a word", configure)
    def run(args):
        print(args.word)
        return 0

    try:
        assert cli.main(["echo-test", "--word", "hello"]) == 0
        assert capsys.readouterr().out.strip() == "hello"
        with pytest.raises(ValueError, match="twice"):
            cli.command("echo-test", "again")(run)
    finally:
        cli.COMMANDS.pop("echo-test")
