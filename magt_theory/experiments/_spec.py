"""How an experiment is declared: its typed parameters, the claims it feeds, the figures it draws.

Each experiment module declares, next to its ``run``::

    @dataclasses.dataclass(frozen=True)
    class Params:
        manifold: str = param("circle", "manifold", "the known manifold")
        K: list = param([64, 256], "K_list", "anchor counts")
        ...

    SPEC = Experiment("anchor_error", Params, claims=("lemma1_rows",),
                      figures={"anchor_mse_vs_K": "fig_anchor_mse_vs_K"})

A field's JSON-schema fragment is either the name of a shared type of :data:`TYPES` or an
inline schema dict; ``grid=False`` marks a parameter that may be fixed but not swept. From
these declarations come

- the defaults and the checked parameter dict of a sweep point (:meth:`Experiment.resolve`:
  unknown keys and values outside a field's schema raise ``ValueError`` naming the parameter
  and what it accepts, before any work starts);
- the workflow config schema (:func:`config_schema`, committed as
  ``workflows/config/schema.json``; a test fails when the committed file is stale);
- the verdict rows of the experiment (``claims``: slope claims as
  :class:`magt_theory.analysis.VerdictSpec` keyword sets, and names of row builders in
  :mod:`magt_theory.claims` called as ``builder(df, n_boot=..., seed=...)``);
- its figures (``figures``: figure name -> name of a function of :mod:`magt_theory.plotting`).

This module imports neither torch nor the models: declaring, validating and listing
experiments (and so every ``snakemake -n``) stays on the numpy path.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TYPES", "Experiment", "config_schema", "param"]

#: the shared parameter types of the config schema (JSON-schema fragments, ``$defs``)
TYPES: dict[str, dict] = {
    "manifold": {"description": "a registered manifold name"},  # enum filled from the registry
    "D": {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 1}],
          "description": "ambient dimension (null: native)"},
    "t": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
          "description": "VP smoothing level in (0, 1)"},
    "seed": {"type": "integer", "minimum": 0},
    "K_list": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
    "K": {"type": "integer", "minimum": 1},
    "proposal": {"enum": ["mc", "qmc"]},
    "posint": {"type": "integer", "minimum": 1},
    "eps_list": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0},
                 "minItems": 1},
    "n": {"type": "integer", "minimum": 2},
    "lr": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "jitter": {"type": "number", "minimum": 0},
    "sigma_min": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
                  "description": "final noise level of the sampler, in (0, sqrt(t_max))"},
    "t_max": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
              "description": "first VP level of the sampler grid, in (0, 1)"},
    "nonneg_int": {"type": "integer", "minimum": 0},
    "posnum": {"type": "number", "exclusiveMinimum": 0},
    "sites": {"type": "array", "items": {"enum": ["score", "denoiser"]}, "minItems": 1,
              "uniqueItems": True, "description": "error injection sites"},
    "diffusion_sampler": {"enum": ["ddim", "ddpm"]},
    "boolean": {"type": "boolean"},
    "fraction_scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                       "description": "relative size of the parameter perturbations"},
    "unit_open": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
                  "description": "a number in (0, 1)"},
    "nonneg_num": {"type": "number", "minimum": 0, "description": "a number >= 0"},
    "t_list": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/t"},
               "description": "VP levels in (0, 1)"},
    "nfe_list": {"type": "array", "minItems": 1,
                 "items": {"type": "integer", "minimum": 2, "maximum": 10000},
                 "description": "NFE budgets >= 2"},
    "pf_variant": {"enum": ["w1w2", "w1", "w2"],
                   "description": "proximal-flow variant: both proximals, W1 only, W2 only"},
    "n_or_inf": {"type": "integer", "minimum": 0, "not": {"const": 1},
                 "description": "training sample size (>= 2), or 0 for the n = infinity control"},
    "k_opt": {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 1}],
              "description": "intrinsic dimension parameter of the manifold (null: its default)"},
    "latent_base": {"enum": ["uniform", "normal"],
                    "description": "latent base law of the generator"},
}


def param(default: Any, schema: str | dict, doc: str = "", *, grid: bool = True):
    """A parameter field of an experiment's ``Params`` dataclass.

    Parameters
    ----------
    default
        The default value (lists and dicts are copied per instance).
    schema : str or dict
        A shared type of :data:`TYPES` or an inline JSON-schema fragment.
    doc : str
        One line saying what the parameter is (goes into the schema's ``description`` when
        the fragment has none).
    grid : bool
        Whether the parameter may be swept (appear under ``grid`` in a config).
    """
    if isinstance(schema, str) and schema not in TYPES:
        raise ValueError(f"schema must be one of {sorted(TYPES)} or a dict; got {schema!r}")
    meta = {"schema": schema, "doc": doc, "grid": bool(grid)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _fragment(f: dataclasses.Field) -> dict:
    schema = f.metadata["schema"]
    frag = {"$ref": f"#/$defs/{schema}"} if isinstance(schema, str) else dict(schema)
    if f.metadata["doc"] and "description" not in frag and "$ref" not in frag:
        frag["description"] = f.metadata["doc"]
    return frag


def _shared_types() -> dict:
    from .. import manifolds  # torch-free registry of the manifold names

    types = copy.deepcopy(TYPES)
    types["manifold"] = {"enum": sorted(manifolds.names()), **types["manifold"]}
    return types


@dataclass(frozen=True)
class Experiment:
    """The declaration of one experiment.

    Parameters
    ----------
    name : str
        The experiment's name (its module name and its key in a workflow config).
    params : type
        A frozen dataclass whose fields are :func:`param` fields.
    claims : tuple
        Verdict rows fed by this experiment's aggregated results: dicts (slope claims, the
        keyword arguments of :class:`magt_theory.analysis.VerdictSpec` without
        ``experiment``) and names of row builders in :mod:`magt_theory.claims`.
    figures : mapping
        Figure name -> name of the drawing function in :mod:`magt_theory.plotting`.
    """

    name: str
    params: type
    claims: tuple = ()
    figures: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not dataclasses.is_dataclass(self.params):
            raise TypeError(f"{self.name}: params must be a dataclass; got {self.params!r}")
        for f in dataclasses.fields(self.params):
            if "schema" not in f.metadata:
                raise TypeError(f"{self.name}: field {f.name!r} is not declared with param()")

    def fields(self) -> tuple:
        return dataclasses.fields(self.params)

    def defaults(self) -> dict:
        """Every parameter with its default (a fresh dict)."""
        return dataclasses.asdict(self.params())

    def schema_defs(self) -> dict:
        """``{<name>_params, <name>_grid}`` JSON-schema definitions of the config."""
        props = {f.name: _fragment(f) for f in self.fields()}
        grid = {f.name: {"type": "array", "minItems": 1, "items": _fragment(f)}
                for f in self.fields() if f.metadata["grid"]}
        return {
            f"{self.name}_grid": {"type": "object", "additionalProperties": False,
                                  "minProperties": 1, "properties": grid},
            f"{self.name}_params": {"type": "object", "properties": props,
                                    "additionalProperties": False},
        }

    def resolve(self, params: Mapping) -> dict:
        """The full parameter dict of one sweep point, checked against the declared schema.

        Raises
        ------
        ValueError
            An unknown key (naming it and the accepted keys) or a value outside its field's
            schema (naming the parameter, the value and what the field accepts).
        """
        known = {f.name for f in self.fields()}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; "
                             f"accepted: {sorted(known)}")
        out = self.defaults()
        out.update(params)
        _check_values(self, params)
        return out

    def slope_claims(self) -> list[dict]:
        return [c for c in self.claims if isinstance(c, dict)]

    def row_builders(self) -> list[str]:
        return [c for c in self.claims if isinstance(c, str)]


def _plain(value):
    """numpy scalars and tuples as the JSON types the schema speaks about."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    return value


_VALIDATORS: dict = {}


def _strict_validator():
    """Draft 2020-12 where ``integer`` means a Python/numpy integer: JSON Schema counts ``200.0``
    as an integer, the experiments (``range``, array sizes) do not."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=checker)


def _check_values(exp: Experiment, values: Mapping) -> None:
    key = exp.name
    if key not in _VALIDATORS:
        doc = {"$defs": _shared_types(), **exp.schema_defs()[f"{exp.name}_params"]}
        _VALIDATORS[key] = _strict_validator()(doc)
    err = next(iter(sorted(_VALIDATORS[key].iter_errors(_plain(dict(values))),
                           key=lambda e: list(e.absolute_path))), None)
    if err is not None:
        name = err.absolute_path[0] if err.absolute_path else "?"
        f = next((f for f in exp.fields() if f.name == name), None)
        what = _accepted(_fragment(f), _shared_types()) if f is not None else "valid"
        raise ValueError(f"{exp.name}: {name} must be {what}; got {values.get(name)!r}")


def _accepted(frag: dict, types: dict) -> str:
    """What a schema fragment accepts, in words (for error messages)."""
    if "$ref" in frag:
        frag = types[frag["$ref"].rsplit("/", 1)[-1]]
    if "enum" in frag:
        return f"one of {frag['enum']}"
    if "oneOf" in frag:
        return " or ".join(_accepted(f, types) for f in frag["oneOf"])
    kind = frag.get("type")
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return f"a non-empty list, each {_accepted(frag.get('items', {}), types)}"
    if kind in ("integer", "number"):
        word = "an integer" if kind == "integer" else "a number"
        lo = (f"> {frag['exclusiveMinimum']}" if "exclusiveMinimum" in frag
              else f">= {frag['minimum']}" if "minimum" in frag else "")
        hi = (f"< {frag['exclusiveMaximum']}" if "exclusiveMaximum" in frag
              else f"<= {frag['maximum']}" if "maximum" in frag else "")
        out = " and ".join(x for x in (f"{word} {lo}".strip(), hi) if x)
        if "not" in frag and "const" in frag["not"]:
            out += f", not {frag['not']['const']}"
        if frag.get("description"):
            out += f" ({frag['description']})"
        return out
    return frag.get("description") or str(frag)


def config_schema(experiments) -> dict:
    """The workflow config's JSON schema, generated from the experiments' declarations.

    Parameters
    ----------
    experiments : iterable of Experiment
        In the order they appear in the schema.
    """
    exps = list(experiments)
    defs = _shared_types()
    props = {}
    for e in exps:
        defs.update(e.schema_defs())
        props[e.name] = {"type": "object", "additionalProperties": False, "required": ["grid"],
                         "properties": {"grid": {"$ref": f"#/$defs/{e.name}_grid"},
                                        "fixed": {"$ref": f"#/$defs/{e.name}_params"}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "magt_theory workflow config",
        "description": "Generated from the experiments' Params dataclasses "
                       "(magt-theory schema --out workflows/config/schema.json); do not edit.",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "experiments"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$",
                     "description": "results/<name>, paper_figures/<name>"},
            "threads": {"type": "integer", "minimum": 1, "maximum": 256,
                        "description": "threads per job"},
            "bootstrap": {"type": "integer", "minimum": 100,
                          "description": "bootstrap resamples for slope CIs"},
            "experiments": {"type": "object", "additionalProperties": False,
                            "minProperties": 1, "properties": props},
        },
        "$defs": defs,
    }
