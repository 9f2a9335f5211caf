"""Atomic file writes: the one helper every output of the package goes through.

A writer fills a temporary file in the target's directory (so the final rename stays on one
file system), the temporary file gets the usual permissions of a new file (``0o666 & ~umask``,
as ``open(path, "w")`` would give, not ``tempfile.mkstemp``'s ``0o600``), and ``os.replace``
moves it onto the target in one step. A failure, an exception or a kill leaves the target as it
was (absent, or the previous complete version) and removes the temporary file. The temporary
name keeps the target's suffix (``.name.XXXX.tmp.png``), so writers that pick the format from
the file name (matplotlib's ``savefig``, pandas' ``to_parquet``) see the right one.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write_with", "atomic_write_text", "atomic_write_bytes", "atomic_savefig",
           "new_file_mode"]

_UMASK_LOCK = threading.Lock()


def new_file_mode() -> int:
    """Permission bits of a newly created regular file: ``0o666 & ~umask``.

    The umask can only be read by setting it; it is set back at once, under a lock.
    """
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write_with(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename.

    Parameters
    ----------
    path : path-like
        Target file; its parent directories are created.
    write : callable
        Writes the complete file at the temporary path it is given (a ``str``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    The file gets the mode ``0o666 & ~umask`` (e.g. ``0o644`` under the usual umask ``022``).
    A failure (or a kill) leaves ``path`` untouched and no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_with`)."""

    def write(tmp):
        with open(tmp, "w", encoding=encoding) as fh:
            fh.write(text)

    return atomic_write_with(path, write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write_with(path, write)


def atomic_savefig(fig, path: str | os.PathLike, **kwargs) -> Path:
    """``fig.savefig(path, **kwargs)`` atomically; the format follows ``path``'s suffix."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or None)
    return atomic_write_with(path, lambda tmp: fig.savefig(tmp, **kwargs))
