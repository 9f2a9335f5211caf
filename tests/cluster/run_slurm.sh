#!/usr/bin/env bash
# Run a workflow config through a real, private, single-node SLURM cluster on this machine and
# check that it gives the same results as a local run.
#
#   sudo bash tests/cluster/run_slurm.sh [--config workflows/config/smoke.yaml] [--trivial] [--keep]
#
# Needs root and Debian's apt (it installs `slurm-wlm` and `munge` when `slurmctld` is missing) and
# the project's virtualenv (VIRTUAL_ENV, else <repo>/.venv, else python3 on PATH); installs the
# `cluster` extra (snakemake-executor-plugin-slurm) into it when missing.
#
# What it does:
#   1. a temp dir holds everything: a fresh munge key, munged's socket, slurm.conf (one node,
#      CPUs = nproc, RealMemory = memory minus a margin, bound to 127.0.0.1 on two free ports,
#      no accounting, SlurmUser=root), state, spool and logs;
#   2. starts munged, slurmctld and slurmd in the foreground of background jobs (PIDs kept) and
#      waits until `sinfo` shows the node idle;
#   3. snapshots the repository once (no .venv/results/figures), extracts it twice, runs the config in one copy
#      through SLURM (--profile workflows/profiles/slurm --slurm-status-command squeue
#      --slurm-no-account) and in the other locally (--profile workflows/profiles/local --cores 2);
#   4. compares every result file (per-point and aggregate parquet, verdicts csv) with
#      pandas.testing.assert_frame_equal (exact) after sorting the rows, leaving out wall-clock
#      rows/columns (quantity `seconds_*`; regex in MAGT_SLURM_TIMING_RE);
#   5. on any exit: cancels its SLURM jobs, stops exactly the daemons it started (TERM, then KILL
#      after 10 s) and removes the temp dir (unless --keep).
# --trivial runs a built-in four-job Snakefile instead of the project's workflow (checks the
# SLURM plumbing without the library). Exit status 0 iff both runs succeed and agree.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONFIG="workflows/config/smoke.yaml"
TRIVIAL=0
KEEP=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --config) CONFIG="$2"; shift 2 ;;
        --trivial) TRIVIAL=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "run_slurm.sh: unknown argument '$1' (accepted: --config PATH, --trivial, --keep)" >&2; exit 2 ;;
    esac
done

T0=$(date +%s)
log() { printf '[run_slurm %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, runs slurmd/slurmctld as SlurmUser=root)"

# --- Python / snakemake ---------------------------------------------------------------------
if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then PY="$VIRTUAL_ENV/bin/python"
elif [[ -x "$REPO/.venv/bin/python" ]]; then PY="$REPO/.venv/bin/python"
else PY="$(command -v python3)"; fi
# Jobs run `sys.executable -m ...`; put the venv first on PATH for the SLURM job environment too.
export PATH="$(dirname "$PY"):$PATH"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg
log "python: $PY"

# --- install --------------------------------------------------------------------------------
T_INSTALL0=$(date +%s)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die "slurm-wlm/munge are not installed and apt-get is not available"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed"
fi
if ! "$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    log "installing the cluster extra (snakemake-executor-plugin-slurm) into $(dirname "$(dirname "$PY")")"
    "$PY" -m pip install -q -e "$REPO[cluster]" || die "pip install -e '.[cluster]' failed"
fi
T_INSTALL=$(( $(date +%s) - T_INSTALL0 ))
log "install step: ${T_INSTALL}s ($(slurmctld -V), plugin $("$PY" -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))'))"

# --- temp dir, cleanup ------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/magt_slurm.XXXXXX)"
chmod 700 "$WORK"
PIDS=()          # daemons we started, in start order
cleanup() {
    local rc=$?
    set +e
    if [[ -n "${SM_PID:-}" ]] && kill -0 "$SM_PID" 2>/dev/null; then
        # SIGINT: snakemake cancels its SLURM jobs / kills its local jobs, then exits.
        log "stopping snakemake (process group $SM_PID)"
        kill -INT -- "-$SM_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$SM_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$SM_PID" 2>/dev/null
        wait "$SM_PID" 2>/dev/null
    fi
    if [[ -n "${SLURM_CONF:-}" && ${#PIDS[@]} -gt 0 ]]; then
        # Cancel only this private cluster's jobs (SLURM_CONF points at our slurmctld).
        if [[ -n "$(squeue -h -o %i 2>/dev/null)" ]]; then
            log "cancelling leftover SLURM jobs"
            scancel --user=root 2>/dev/null
            for _ in $(seq 20); do [[ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ]] && break; sleep 0.5; done
        fi
    fi
    # Stop the daemons in reverse start order: slurmd, slurmctld, munged.
    local i pid
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
        pid=${PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then log "pid $pid ignored TERM; KILL"; kill -KILL "$pid" 2>/dev/null; fi
        wait "$pid" 2>/dev/null
    done
    if [[ $rc -ne 0 && -d "$WORK/log" ]]; then
        for f in "$WORK"/log/*.log; do echo "----- tail of $f"; tail -n 25 "$f"; done
    fi
    if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    log "done (exit $rc), daemons stopped: ${PIDS[*]:-none}"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK"/{munge,state,spool,log,etc,cache}
export XDG_CACHE_HOME="$WORK/cache"  # snakemake's source cache: keep ~/.cache untouched
chmod 755 "$WORK"/munge  # munged wants its socket dir searchable by all

# --- munge ----------------------------------------------------------------------------------
# A private key and socket: no global state is touched and a system munged (if any) is left alone.
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --foreground --force \
    --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
    >>"$WORK/log/munged.log" 2>&1 &  # in the foreground munged logs to stderr
PIDS+=($!)
for _ in $(seq 50); do [[ -S "$MUNGE_SOCKET" ]] && break; kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
munge --socket="$MUNGE_SOCKET" -n </dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null \
    || die "munged did not start (see $WORK/log/munged.log)"
log "munged up (pid ${PIDS[0]})"

# --- slurm.conf -----------------------------------------------------------------------------
HOST="$(hostname -s)"
NCPU="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # GNU nproc obeys OMP_NUM_THREADS
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
if [[ -r /sys/fs/cgroup/memory.max && "$(cat /sys/fs/cgroup/memory.max)" != max ]]; then
    CG_MB=$(( $(cat /sys/fs/cgroup/memory.max) / 1024 / 1024 ))
    (( CG_MB < MEM_MB )) && MEM_MB=$CG_MB
fi
MARGIN=$(( MEM_MB / 10 > 512 ? MEM_MB / 10 : 512 ))
REAL_MB=$(( MEM_MB - MARGIN ))
(( REAL_MB >= 1024 )) || die "only ${MEM_MB} MB of memory; need at least $((1024 + MARGIN)) MB"
read -r CPORT DPORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
export SLURM_CONF="$WORK/etc/slurm.conf"
# The job-step executor (snakemake-executor-plugin-slurm-jobstep) strips every SLURM_* variable,
# SLURM_CONF included, from the environment of the `srun` it runs inside each job; on a real
# cluster srun then reads /etc/slurm/slurm.conf. This private cluster must not touch /etc, so an
# `srun` first on the jobs' PATH (exported by sbatch --export=ALL) puts SLURM_CONF back.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nSLURM_CONF=%q exec %q "$@"\n' "$SLURM_CONF" "$(command -v srun)" > "$WORK/bin/srun"
chmod 755 "$WORK/bin/srun"
export PATH="$WORK/bin:$PATH"
cat > "$SLURM_CONF" <<EOF
# Private single-node cluster written by tests/cluster/run_slurm.sh
ClusterName=magt
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CPORT
SlurmdPort=$DPORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST CPUs=$NCPU RealMemory=$REAL_MB State=UNKNOWN
PartitionName=magt Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
log "slurm.conf: node $HOST, CPUs=$NCPU, RealMemory=${REAL_MB}MB, ports $CPORT/$DPORT"

# --- slurmctld, slurmd ----------------------------------------------------------------------
slurmctld -D -i -f "$SLURM_CONF" >>"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
sleep 1
kill -0 "${PIDS[1]}" 2>/dev/null || die "slurmctld exited at once (see logs below)"
slurmd -D -N "$HOST" -f "$SLURM_CONF" >>"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 60); do
    state="$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null || true)"
    [[ "$state" == idle ]] && break
    kill -0 "${PIDS[1]}" 2>/dev/null || die "slurmctld died"
    kill -0 "${PIDS[2]}" 2>/dev/null || die "slurmd died"
    sleep 1
done
[[ "$state" == idle ]] || die "node $HOST not idle after 60 s (sinfo state: '${state}')"
T_UP=$(( $(date +%s) - T0 ))
log "cluster up: slurmctld pid ${PIDS[1]}, slurmd pid ${PIDS[2]}; partition/avail/nodes/state/cpus/MB: $(sinfo -h -o '%P %a %D %t %c %m')"

# --- workflow copies --------------------------------------------------------------------------
make_copy() {  # $1: destination
    mkdir -p "$1"
    if [[ $TRIVIAL -eq 1 ]]; then
        mkdir -p "$1/workflows"
        cp -r "$REPO/workflows/profiles" "$1/workflows/"
        cat > "$1/Snakefile" <<'EOF'
import sys
PY = sys.executable
SEEDS = [0, 1, 2, 3]

rule all:
    input: "results/trivial/aggregate.parquet"

rule point:
    output: "results/trivial/points/seed-{seed}.parquet"
    threads: 1
    resources: mem_mb=500, runtime=5
    shell:
        "{PY} -c \"import numpy as np, pandas as pd, socket, os; "
        "rng = np.random.default_rng({wildcards.seed}); "
        "pd.DataFrame(dict(seed={wildcards.seed}, x=rng.normal(size=5))).to_parquet('{output}'); "
        "print(socket.gethostname(), os.environ.get('SLURM_JOB_ID', 'local'))\""

rule aggregate:
    input: expand("results/trivial/points/seed-{seed}.parquet", seed=SEEDS)
    output: "results/trivial/aggregate.parquet"
    shell:
        "{PY} -c \"import pandas as pd, sys; "
        "pd.concat([pd.read_parquet(p) for p in sys.argv[1:]]).to_parquet('{output}')\" {input}"
EOF
    else
        tar -C "$1" -xf "$WORK/src.tar"
    fi
}
# snakemake runs in its own process group (setsid: the group id is its PID) and in the background,
# so that a signal to this script runs the cleanup at once (bash defers traps while a foreground
# child runs) and the cleanup can stop snakemake and the jobs it started, by that id.
SM_PID=""
run_sm() {  # $1: work dir, $2: log file, then snakemake's arguments
    local dir="$1" logf="$2" rc=0
    shift 2
    # env --default-signal: background commands of a non-interactive shell start with SIGINT
    # ignored, which would make snakemake deaf to the SIGINT that the cleanup sends.
    (cd "$dir" && exec setsid env --default-signal=INT,QUIT "$PY" -m snakemake "$@" >"$logf" 2>&1) &
    SM_PID=$!
    wait "$SM_PID" || rc=$?
    SM_PID=""
    return $rc
}
SM_ARGS=()
if [[ $TRIVIAL -eq 0 ]]; then
    SM_ARGS+=(--configfile "$CONFIG")
    # One snapshot of the tree for both runs: others may edit the repository meanwhile.
    tar -C "$REPO" -cf "$WORK/src.tar" \
        --exclude=./.venv --exclude=./.git --exclude=./results --exclude=./paper_figures \
        --exclude=./.snakemake --exclude='__pycache__' --exclude=.pytest_cache .
fi

make_copy "$WORK/slurm_run"
log "SLURM run: snakemake --profile workflows/profiles/slurm ${SM_ARGS[*]}"
T1=$(date +%s)
run_sm "$WORK/slurm_run" "$WORK/log/snakemake_slurm.log" \
    --profile workflows/profiles/slurm "${SM_ARGS[@]}" \
    --slurm-status-command squeue --slurm-no-account \
    --slurm-init-seconds-before-status-checks 2 --latency-wait 5 --retries 0 \
    --slurm-keep-successful-logs \
    || { tail -n 60 "$WORK/log/snakemake_slurm.log"; die "SLURM run failed"; }
T_SLURM=$(( $(date +%s) - T1 ))
N_SLURM_JOBS=$(grep -c "Job .* has been submitted with SLURM jobid" "$WORK/log/snakemake_slurm.log" || true)
log "SLURM run ok: ${T_SLURM}s, ${N_SLURM_JOBS} SLURM jobs"
[[ "$N_SLURM_JOBS" -gt 0 ]] || die "no job went through SLURM"

make_copy "$WORK/local_run"
log "local run: snakemake --profile workflows/profiles/local --cores 2 ${SM_ARGS[*]}"
T1=$(date +%s)
run_sm "$WORK/local_run" "$WORK/log/snakemake_local.log" \
    --profile workflows/profiles/local --cores 2 "${SM_ARGS[@]}" \
    || { tail -n 60 "$WORK/log/snakemake_local.log"; die "local run failed"; }
T_LOCAL=$(( $(date +%s) - T1 ))
log "local run ok: ${T_LOCAL}s"

# --- compare ----------------------------------------------------------------------------------
"$PY" - "$WORK/slurm_run/results" "$WORK/local_run/results" <<'EOF' || die "SLURM and local results differ"
import os
import re
import sys
from pathlib import Path

import pandas as pd
from pandas.testing import assert_frame_equal

a_root, b_root = map(Path, sys.argv[1:3])
# Wall-clock measurements (quantity seconds_train, seconds_sampling, ...) differ from run to run;
# every other value must be bit-identical.
TIMING = re.compile(os.environ.get("MAGT_SLURM_TIMING_RE", r"(?:^|_)(?:seconds|secs|wall|elapsed|runtime)(?:_|$)"))
def files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.suffix in (".parquet", ".csv") and "logs" not in p.parts)
fa, fb = files(a_root), files(b_root)
if fa != fb:
    sys.exit(f"different result files:\n  only SLURM: {sorted(set(fa) - set(fb))}\n"
             f"  only local: {sorted(set(fb) - set(fa))}")
if not fa:
    sys.exit("no result files")
def read(p):
    global n_timing
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    df = df.drop(columns=[c for c in df.columns if TIMING.search(str(c))])
    if "quantity" in df.columns:
        timing = df["quantity"].astype(str).str.contains(TIMING)
        n_timing += int(timing.sum())
        df = df[~timing]
    cols = list(df.columns)
    try:
        df = df.sort_values(cols, kind="mergesort")
    except TypeError:  # unorderable mixed columns: sort on their text
        df = df.loc[df.astype(str).sort_values(cols, kind="mergesort").index]
    return df.reset_index(drop=True)
n_timing = 0
bad = []
for rel in fa:
    try:
        assert_frame_equal(read(a_root / rel), read(b_root / rel), check_exact=True)
    except AssertionError as exc:
        bad.append(f"{rel}: {exc}")
if bad:
    sys.exit("results differ:\n" + "\n".join(bad))
print(f"[run_slurm] {len(fa)} result files identical (SLURM vs local; "
      f"{n_timing // 2} wall-clock rows left out)")
EOF

log "TIMES install=${T_INSTALL}s cluster_up=${T_UP}s slurm_run=${T_SLURM}s local_run=${T_LOCAL}s total=$(( $(date +%s) - T0 ))s"
log "OK"
