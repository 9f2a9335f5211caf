"""The ``magt-theory`` command line (thin: every subcommand calls the library).

``magt-theory``, ``python -m magt_theory`` and ``python -m magt_theory.cli`` run :func:`main`.
The subcommands live in one registry, :data:`COMMANDS`, filled from the modules of
:data:`MODULES`:

- ``_list``: ``list [manifolds]`` prints registered names;
- ``_train``: ``train`` fits MAGT on samples of a known manifold, writes the model and a tidy
  metrics table;
- ``_workflow``: ``run-point``, ``aggregate``, ``verdicts``, ``figure`` (the Snakemake rules'
  jobs) and ``readme-table``;
- ``_benchmark``: ``benchmark-report`` (the benchmark table, scatter grid and sensitivity
  figure of :mod:`magt_theory.benchmark_report`);
- ``_schema``: ``schema`` writes or checks (``--check``) the workflow config schema generated from
  the experiments' ``Params`` declarations.

Adding a subcommand: write a module ``_mything.py`` here with the argument setup, the
implementation ``run(args) -> int`` (heavy imports such as torch and matplotlib inside it, so
``--help`` stays fast) and one function that registers them through the decorator it is given::

    def _args(p):
        p.add_argument("--foo", type=int, default=1)

    def cmd_mything(args) -> int:
        ...
        return 0

    def register(command) -> None:
        command("mything", "one-line help", _args)(cmd_mything)

then add the module to :data:`MODULES`. Subcommand modules import only library modules
(``from .. import ...``), never this package, so the package has no import cycle.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import _benchmark, _list, _schema, _train, _workflow
from ._list import LISTABLE

__all__ = ["COMMANDS", "LISTABLE", "MODULES", "Command", "build_parser", "command", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, help line, argument setup and implementation."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: subcommand name -> Command, in registration order (the order of ``magt-theory --help``)
COMMANDS: dict[str, Command] = {}


def command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
):
    """Decorator registering ``run(args) -> int`` as subcommand ``name``.

    Raises
    ------
    ValueError
        If ``name`` is already registered.
    """

    def deco(run):
        if name in COMMANDS:
            raise ValueError(f"subcommand {name!r} is registered twice")
        COMMANDS[name] = Command(name, help, configure or (lambda p: None), run)
        return run

    return deco


#: the subcommand modules; each has ``register(command)``, called once here in this order
MODULES = (_list, _train, _workflow, _benchmark, _schema)
for _module in MODULES:
    _module.register(command)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered :data:`COMMANDS` entry."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="magt-theory",
        description="Numerical checks of the theory of manifold-aligned generative transport.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(sp)
        sp.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``magt-theory`` console script; returns the exit status.

    Invalid arguments (``ValueError``/``TypeError`` from the library's checks) are reported as
    ``magt-theory <command>: error: ...`` with exit status 2, without a traceback; so are file
    system errors (``OSError``: a missing input, a read-only output directory) with status 1 and
    an interrupt (Ctrl-C) with status 130. ``-vv`` re-raises for the full traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args._run(args) or 0)
    except (ValueError, TypeError) as exc:
        if args.verbose >= 2:
            raise
        print(f"magt-theory {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.verbose >= 2:
            raise
        print(f"magt-theory {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"magt-theory {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line (multi-line messages joined with '; ')."""
    text = str(exc) or type(exc).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())
