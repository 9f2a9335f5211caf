"""The experiment registry: typed parameter declarations, the generated config schema, claims
and figures declared next to each experiment's ``run``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from magt_theory import analysis, bounds, claims, experiments, plotting
from magt_theory.experiments import _spec

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "workflows" / "config").glob("*.yaml"))


def test_committed_schema_is_the_generated_one():
    committed = json.loads((ROOT / "workflows" / "config" / "schema.json").read_text())
    assert committed == experiments.config_schema(), (
        "workflows/config/schema.json is stale: regenerate it with "
        "`magt-theory schema --out workflows/config/schema.json`"
    )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate_against_the_generated_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), experiments.config_schema())


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_declares_a_typed_spec(name):
    mod = experiments.get(name)
    spec = mod.SPEC
    assert spec.name == name == mod.NAME
    assert dataclasses.is_dataclass(spec.params)
    assert mod.DEFAULTS == spec.defaults()
    for f in spec.fields():
        assert f.type, f"{name}.{f.name} has no type annotation"
    # defaults satisfy the declared schema (resolve checks every value)
    assert spec.resolve({}) == spec.defaults()
    # claims: slope claims are VerdictSpec keyword sets over registered bounds; builders exist
    for c in spec.slope_claims():
        analysis.VerdictSpec(experiment=name, **c)
        assert c["bound"] in bounds.names()
    for b in spec.row_builders():
        assert callable(claims._builder(b))
    for fig, fn in spec.figures.items():
        assert callable(getattr(plotting, fn)), fig


def test_resolve_names_the_bad_parameter_and_what_it_accepts():
    spec = experiments.spec("anchor_error")
    with pytest.raises(ValueError, match=r"anchor_error: unknown parameter\(s\) \['KK'\]"):
        spec.resolve({"KK": 3})
    with pytest.raises(ValueError, match=r"t must be a number > 0 and < 1 .*; got 1.5"):
        spec.resolve({"t": 1.5})
    with pytest.raises(ValueError, match=r"control must be one of \['none', 'fixed_anchors'"):
        spec.resolve({"control": "no_such_control"})
    with pytest.raises(ValueError, match=r"K must be a non-empty list, each an integer >= 1"):
        spec.resolve({"K": [0, 4]})
    with pytest.raises(ValueError, match=r"D must be null or an integer >= 1; got 0"):
        spec.resolve({"D": 0})
    # numpy scalars are the JSON types they hold
    np = pytest.importorskip("numpy")
    assert spec.resolve({"t": np.float64(0.2), "K": [np.int64(8)]})["t"] == 0.2


def test_param_rejects_unknown_shared_type():
    with pytest.raises(ValueError, match="schema must be one of"):
        _spec.param(1, "no_such_type")


def test_experiment_requires_param_fields():
    @dataclasses.dataclass(frozen=True)
    class Bad:
        x: int = 1

    with pytest.raises(TypeError, match="not declared with param"):
        _spec.Experiment("bad", Bad)


def test_figures_come_from_the_declarations():
    figs = experiments.figures()
    assert set(plotting.FIGURES) == set(figs)
    assert {k: v[0] for k, v in plotting.FIGURES.items()} == {k: v[0] for k, v in figs.items()}
    assert plotting.names(["anchor_error"]) == ["anchor_mse_vs_K", "ess_vs_sigma",
                                               "anchor_mse_vs_sigma"]


def test_verdicts_rejects_an_undeclared_builder():
    with pytest.raises(ValueError, match="no row builder"):
        claims._builder("not_a_builder")


def test_schema_subcommand_writes_and_checks(tmp_path, capsys):
    from magt_theory import cli

    out = tmp_path / "schema.json"
    assert cli.main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == experiments.config_schema()
    assert cli.main(["schema", "--out", str(out), "--check"]) == 0
    doc = json.loads(out.read_text())
    doc["properties"]["threads"]["maximum"] = 7  # a hand edit makes it stale
    out.write_text(json.dumps(doc))
    assert cli.main(["schema", "--out", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_figures_are_deterministic(tmp_path):
    # seaborn bootstraps its confidence bands; plotting seeds them (and writes no PDF creation
    # date), so a rerun of the workflow redraws the same files (unseeded, the bands move)
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [dict(experiment="anchor_error", manifold="circle", d=1, D=2, seed=s, t=t,
                 proposal="mc", K=k, quantity="anchor_mse", value=float(v))
            for s in range(5) for t in (0.01, 0.1) for k in (64, 256, 1024)
            for v in [np.exp(rng.normal(-np.log(k), 0.5))]]
    df = pd.DataFrame(rows)
    a = [p.read_bytes() for p in plotting.render("anchor_mse_vs_K", df, tmp_path / "a")]
    b = [p.read_bytes() for p in plotting.render("anchor_mse_vs_K", df, tmp_path / "b")]
    assert a[0] == b[0] and a[1] == b[1]  # pdf (no creation date) and png


def test_shared_enum_types_match_the_code_they_name():
    # the declarations stay torch-free, so these enums are spelled out in _spec.TYPES; they
    # must list exactly what the (torch-side) code accepts
    from magt_theory.dynamics import SITES
    from magt_theory.models.proximal_flow import VARIANTS

    assert set(_spec.TYPES["pf_variant"]["enum"]) == set(VARIANTS)
    assert set(_spec.TYPES["sites"]["items"]["enum"]) == set(SITES)
