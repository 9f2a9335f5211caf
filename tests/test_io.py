"""The atomic-write helper: normal permissions (umask), no partial files, right formats."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from magt_theory import _io


@pytest.fixture
def umask():
    """Set a umask for the test and restore the old one."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_new_files_get_0666_minus_umask(tmp_path, umask, mask):
    umask(mask)
    ref = tmp_path / "ref.txt"  # what a plain open() creates under this umask
    ref.write_text("x")
    out = _io.atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert out.read_text() == "hello"
    assert _mode(out) == _mode(ref) == 0o666 & ~mask
    assert _mode(_io.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")) == 0o666 & ~mask


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "t.csv"
    _io.atomic_write_text(target, "old")

    def bad(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError, match="writer died"):
        _io.atomic_write_with(target, bad)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_temporary_name_keeps_the_suffix(tmp_path):
    seen = []
    _io.atomic_write_with(tmp_path / "fig.png", lambda tmp: (seen.append(tmp),
                                                            open(tmp, "w").close()))
    assert seen[0].endswith(".png") and os.path.basename(seen[0]).startswith(".fig.png.")


def test_results_tables_and_figures_get_normal_permissions(tmp_path, umask):
    umask(0o022)
    from magt_theory import workflow

    df = pd.DataFrame({"quantity": ["w2"], "value": [0.5]})
    for name in ("r.parquet", "r.csv"):
        workflow.atomic_write(df, tmp_path / name)
        assert _mode(tmp_path / name) == 0o644
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), df)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(np.arange(3))
    for ext, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF")):
        path = _io.atomic_savefig(fig, tmp_path / f"f{ext}", dpi=30)
        assert _mode(path) == 0o644  # mkstemp alone would give 0o600
        assert path.read_bytes()[:4] == magic
    plt.close(fig)


def test_no_other_copy_of_the_atomic_write_pattern():
    """Every write of the package goes through magt_theory._io (one helper)."""
    from pathlib import Path

    pkg = Path(_io.__file__).parent
    offenders = [
        str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
        if p.name != "_io.py" and any(s in p.read_text() for s in ("mkstemp(", "os.replace("))
    ]
    assert offenders == []
