"""The workflow on a real single-node SLURM cluster gives the same results as a local run.

Runs ``tests/cluster/run_slurm.sh`` (installs Debian's ``slurm-wlm`` and ``munge`` if missing,
starts private munged/slurmctld/slurmd daemons on 127.0.0.1, runs the workflow once through
``--profile workflows/profiles/slurm`` and once locally, compares every result file with
``pandas.testing.assert_frame_equal`` and stops the daemons it started).

When it runs: only on request, because it installs system packages and starts daemons, and a
plain ``pytest`` must change nothing outside the repository. ``MAGT_SLURM=auto`` (set by
``.ci/run``) runs it as root with SLURM already installed or ``apt-get`` and its package registry
reachable, and skips with the reason otherwise; ``MAGT_SLURM=1`` forces a run (a failure then
shows why); unset or ``MAGT_SLURM=0`` skips.
It takes minutes (trivial: ~1.5 min; smoke: ~20 min on 2 busy cores, SLURM job start-up
dominates): marked ``slurm`` and ``slow``. ``MAGT_SLURM_TIMEOUT`` (s) bounds each run.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = HERE / "run_slurm.sh"
DAEMONS = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue", "srun")

pytestmark = pytest.mark.slurm


def _apt_hosts() -> list[tuple[str, int]]:
    """(host, port) of every http(s) source apt is configured with."""
    texts = []
    for pattern in ("sources.list", "sources.list.d/*.list", "sources.list.d/*.sources"):
        for path in Path("/etc/apt").glob(pattern):
            try:
                texts.append(path.read_text(errors="replace"))
            except OSError:
                continue
    hosts = set()
    for url in re.findall(r"\bhttps?://[^\s\]]+", "\n".join(texts)):
        parts = urlsplit(url)
        if parts.hostname:
            hosts.add((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
    return sorted(hosts)


def _why_not() -> str | None:
    """None when the script can run here, else the exact reason it cannot."""
    forced = os.environ.get("MAGT_SLURM", "")
    if forced == "1":
        return None
    if forced != "auto":
        # opt-in: the test installs slurm-wlm and starts daemons (machine-wide side effects)
        return (
            f"SLURM test is opt-in (MAGT_SLURM={forced or 'unset'}): set MAGT_SLURM=auto to run "
            "it where possible (as .ci/run does) or MAGT_SLURM=1 to force it"
        )
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "needs a POSIX system"
    if os.geteuid() != 0:
        return f"needs root (euid {os.geteuid()}) to run slurmctld/slurmd; set MAGT_SLURM=1 to force"
    if shutil.which("bash") is None:
        return "bash not found"
    if all(shutil.which(d) for d in DAEMONS):
        return None  # SLURM already installed: no registry needed
    if shutil.which("apt-get") is None:
        missing = [d for d in DAEMONS if not shutil.which(d)]
        return f"SLURM not installed ({', '.join(missing)} missing) and apt-get not available"
    hosts = _apt_hosts()
    if not hosts:
        return "SLURM not installed and no http(s) apt source configured in /etc/apt"
    errors = []
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=5):
                return None
        except OSError as exc:
            errors.append(f"{host}:{port}: {exc}")
    return "SLURM not installed and the apt registry is unreachable (" + "; ".join(errors) + ")"


def _run_script(*args: str, timeout: float = float(os.environ.get("MAGT_SLURM_TIMEOUT", 3600))) -> str:
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    env = dict(os.environ)
    env.setdefault("VIRTUAL_ENV", str(Path(sys.executable).parents[1]))
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script's trap then cancels its jobs and stops its daemons.
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"run_slurm.sh {' '.join(args)} took over {timeout} s:\n{out[-6000:]}")
    assert proc.returncode == 0, f"run_slurm.sh {' '.join(args)} exited {proc.returncode}:\n{out[-6000:]}"
    return out


def _assert_ran_through_slurm(out: str) -> None:
    jobs = re.search(r"SLURM run ok: \d+s, (\d+) SLURM jobs", out)
    assert jobs is not None and int(jobs.group(1)) > 0, out[-3000:]
    assert re.search(r"\[run_slurm\] (\d+) result files identical", out), out[-3000:]
    # the daemons it started are gone (the script kills them by PID; check the PIDs it names)
    pids = re.search(r"daemons stopped: ([\d ]+)$", out.strip(), re.M)
    assert pids is not None, out[-3000:]
    for pid in pids.group(1).split():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # gone
        assert comm not in ("munged", "slurmctld", "slurmd"), f"{comm} (pid {pid}) still running"


def test_slurm_plumbing_trivial_workflow():
    """Four one-thread jobs and an aggregate through SLURM equal the local run (no library)."""
    out = _run_script("--trivial")
    _assert_ran_through_slurm(out)


@pytest.mark.slow  # ~25 min on 2 loaded cores: run with -m slurm
def test_slurm_smoke_workflow_matches_local():
    """The smoke config through SLURM gives the same per-point, aggregate and verdict tables."""
    out = _run_script("--config", "workflows/config/smoke.yaml")
    _assert_ran_through_slurm(out)
