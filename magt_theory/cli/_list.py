"""``magt-theory list [manifolds]``: print registered names, one per line.

Add other listable kinds to :data:`LISTABLE` (name -> callable returning the names).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _manifold_names() -> list[str]:
    from .. import manifolds

    return manifolds.names()


#: what ``magt-theory list WHAT`` can print: name -> callable returning names
LISTABLE: dict[str, Callable[[], list[str]]] = {"manifolds": _manifold_names}


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "what", nargs="?", default="manifolds", choices=sorted(LISTABLE), help="what to list"
    )


def cmd_list(args: argparse.Namespace) -> int:
    """``list``: print the names of ``args.what``, one per line."""
    for name in LISTABLE[args.what]():
        print(name)
    return 0


def register(command) -> None:
    """Register ``list`` through the registry's ``command(name, help, configure)`` decorator."""
    command("list", "list the registered manifolds (one name per line)", _list_args)(cmd_list)
