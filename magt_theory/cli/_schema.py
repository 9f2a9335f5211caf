"""``magt-theory schema [--out PATH] [--check]``: the workflow config schema, generated.

The schema is built from every experiment's typed ``Params`` declaration
(:func:`magt_theory.experiments.config_schema`); ``workflows/config/schema.json`` is this
command's output, committed, and a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import sys


def _schema_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="write the schema here (atomic); default: stdout")
    p.add_argument("--check", action="store_true",
                   help="do not write: exit 1 when --out differs from the generated schema")


def cmd_schema(args: argparse.Namespace) -> int:
    """``schema``: print, write or check the generated config schema."""
    import json
    from pathlib import Path

    from .._io import atomic_write_text
    from ..experiments import _common

    text = _common.schema_text()
    if args.check:
        if args.out is None:
            raise ValueError("--check needs --out (the committed schema file to compare)")
        path = Path(args.out)
        current = json.loads(path.read_text()) if path.exists() else None
        if current != json.loads(text):
            print(f"{path} is stale: run `magt-theory schema --out {path}`", file=sys.stderr)
            return 1
        return 0
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
    return 0


def register(command) -> None:
    """Register ``schema`` through the registry's ``command(name, help, configure)``."""
    command("schema", "generate (or check) the workflow config schema from the experiments",
            _schema_args)(cmd_schema)
