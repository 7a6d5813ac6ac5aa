#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing the sweep job arrays (scripts/slurm/).
#
#   bash scripts/slurm/local-cluster.sh start   # install if missing, start munged, slurmctld, slurmd
#   bash scripts/slurm/local-cluster.sh stop    # stop the daemons `start` started
#   bash scripts/slurm/local-cluster.sh test    # start, run the fixture sweep as a job array plus the
#                                               # dependent merge, compare with a local run, stop
#
# Made for root on Debian without systemd (CI containers): Debian's slurm-wlm (22.05) and munge are
# installed with apt-get when missing (service start-up by the packages suppressed), munged runs as
# the munge user on its own socket and key, and the one-node slurm.conf needs no cgroups
# (proctrack/linuxproc, task/none, no accounting). Everything lives in LID_SLURM_DIR (default
# /tmp/lid-slurm): configuration, state, logs, the daemons' pid files. `stop` ends only the
# processes whose pids `start` recorded there.
#
# `test` uses the tiny fixture of scripts/slurm/fixture (the spec, a word-level tokenizer, two text
# splits, lid-train style metrics.csv per seed) with six checkpoints made from lid-train's tiny
# BERT fixture (lid-train/tests/fixtures/bert_cls/model, weights scaled by a seeded pattern with
# perl), the release `lid` binary (LID_BIN, default target/release/lid, built when missing), 3
# array tasks for 12 units, and checks that the merged outputs are byte-identical to an unsharded
# local run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${LID_SLURM_DIR:-/tmp/lid-slurm}"
conf="$state/slurm.conf"
munge_dir="$state/munge"
socket="$munge_dir/munge.socket"
ctld_port="${LID_SLURM_PORT:-16817}"

log() { echo "local-cluster: $*" >&2; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "slurm-wlm and munge are missing and installing them needs root"
        exit 1
    fi
    log "installing slurm-wlm and munge with apt-get"
    local t0=$SECONDS policy=/usr/sbin/policy-rc.d added_policy=0
    # Keep the packages from starting their services (no systemd here; we start our own daemons).
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    fi
    if [ "$added_policy" = 1 ]; then
        rm -f "$policy"
    fi
    log "installed in $((SECONDS - t0)) s"
}

# The pid in a pid file when that process is alive and runs the program named.
live_pid() {
    local file=$1 name=$2 pid
    [ -s "$file" ] || return 1
    pid="$(tr -dc 0-9 <"$file")"
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
    echo "$pid"
}

running() {
    live_pid "$state/slurmctld.pid" slurmctld >/dev/null
}

write_conf() {
    local host node
    host="$(hostname -s)"
    # slurmd -C prints this node's hardware as a NodeName line (CPUs, sockets, RealMemory, ...).
    node="$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")"
    cat >"$conf" <<CONF
# One-node test cluster written by scripts/slurm/local-cluster.sh.
ClusterName=lidtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    install
    if running; then
        log "already running (state in $state)"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "start needs root (munged runs as the munge user, slurmd as root)"
        exit 1
    fi
    rm -rf "$state"
    mkdir -p "$state/ctld" "$state/spool" "$munge_dir"
    chmod 755 "$state"
    chown munge:munge "$munge_dir"
    # munged wants its socket folder searchable by all; the key inside stays 0600.
    chmod 755 "$munge_dir"
    runuser -u munge -- mungekey --create --keyfile="$munge_dir/munge.key"
    runuser -u munge -- munged --socket="$socket" --key-file="$munge_dir/munge.key" \
        --pid-file="$munge_dir/munged.pid" --log-file="$munge_dir/munged.log" \
        --seed-file="$munge_dir/munged.seed"
    write_conf
    export SLURM_CONF="$conf"
    slurmctld -f "$conf"
    slurmd -f "$conf"
    local i
    for i in $(seq 1 60); do
        case "$(sinfo -h -o %t 2>/dev/null | head -n 1)" in
            idle*) log "up: one node ($(sinfo -h -o '%c CPUs, %m MB')), state in $state"; return ;;
            down* | drain*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    log "the node did not come up; see $state/slurmctld.log and $state/slurmd.log"
    sinfo -R >&2 || true
    return 1
}

stop() {
    local name file pid i
    for name in slurmd slurmctld munged; do
        file="$state/$name.pid"
        [ "$name" = munged ] && file="$munge_dir/munged.pid"
        if pid="$(live_pid "$file" "$name")"; then
            kill "$pid" 2>/dev/null || true
            for i in $(seq 1 50); do
                [ -d "/proc/$pid" ] || break
                sleep 0.1
            done
            if [ -d "/proc/$pid" ]; then
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
    done
    rm -rf "$state"
    log "stopped"
}

# Six checkpoints of the tiny BERT: weights scaled by 1 + 0.01 step sin(0.37 i + seed).
make_checkpoints() {
    local fixture=$1 model="$repo/lid-train/tests/fixtures/bert_cls/model" seed step dir
    for seed in 1 2; do
        for step in 10 20 30; do
            dir="$fixture/checkpoints/seed$seed/checkpoint-$step"
            mkdir -p "$dir"
            cp "$model/config.json" "$dir/config.json"
            perl -e '
                my ($in, $out, $seed, $step) = @ARGV;
                open(my $fh, "<:raw", $in) or die "$in: $!";
                my $bytes = do { local $/; <$fh> };
                my $n = unpack("Q<", substr($bytes, 0, 8));
                my $header = substr($bytes, 8, $n);
                die "$in: only float32 tensors are expected\n" if $header =~ /"dtype"\s*:\s*"(?!F32")/;
                my @v = unpack("f<*", substr($bytes, 8 + $n));
                my $amplitude = 0.01 * $step;
                $v[$_] *= 1 + $amplitude * sin(0.37 * $_ + $seed) for 0 .. $#v;
                open(my $o, ">:raw", $out) or die "$out: $!";
                print $o substr($bytes, 0, 8 + $n), pack("f<*", @v);
                close($o) or die "$out: $!";
            ' "$model/model.safetensors" "$dir/model.safetensors" "$seed" "$step"
        done
    done
}

# Waits until none of the jobs is pending or running; fails after $2 seconds.
wait_for_jobs() {
    local jobs=$1 limit=$2 t0=$SECONDS
    while [ -n "$(squeue -h -j "$jobs" 2>/dev/null)" ]; do
        if [ $((SECONDS - t0)) -gt "$limit" ]; then
            log "jobs $jobs still queued or running after $limit s"
            squeue -j "$jobs" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

# The states of every task of a job (array tasks included), one per line.
job_states() {
    scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}

run_test() {
    local t0=$SECONDS started=0 work lid
    work="$(mktemp -d /tmp/lid-slurm-test.XXXXXX)"
    chmod 755 "$work"
    if ! running; then
        started=1
    fi
    # shellcheck disable=SC2064 # expand now: stop only a cluster this invocation starts
    trap "rm -rf '$work'; if [ $started = 1 ]; then stop; fi" EXIT
    if [ "$started" = 1 ]; then
        start
    fi
    export SLURM_CONF="$conf"
    lid="${LID_BIN:-$repo/target/release/lid}"
    if [ ! -x "$lid" ]; then
        log "building the release lid binary"
        (cd "$repo" && cargo build --release -q -p lid-experiments --bin lid)
    fi
    lid="$(realpath "$lid")"
    cp -r "$here/fixture" "$work/fixture"
    make_checkpoints "$work/fixture"
    local spec="$work/fixture/spec.json"
    "$lid" sweep run --spec "$spec" --out "$work/local" >/dev/null 2>&1
    "$lid" sweep merge --out "$work/local" >/dev/null 2>&1
    local ids array merge
    ids="$(LID_BIN="$lid" SWEEP_SHARDS=3 SWEEP_LOGS="$work/logs" bash "$here/submit.sh" "$spec" "$work/cluster")"
    read -r array merge <<<"$ids"
    log "submitted array job $array (3 tasks) and merge job $merge"
    wait_for_jobs "$array,$merge" 300
    local bad
    bad="$( (job_states "$array"; job_states "$merge") | grep -v '^COMPLETED$' || true)"
    if [ -n "$bad" ] || [ "$(job_states "$array" | wc -l)" -ne 3 ]; then
        log "a job did not complete: $(echo "$bad" | tr '\n' ' ')"
        tail -n 20 "$work"/logs/*.out >&2 || true
        exit 1
    fi
    local f
    for f in series.csv units.csv summary.json report.md series.svg series.png; do
        if ! cmp -s "$work/local/$f" "$work/cluster/$f"; then
            log "$f of the job-array sweep differs from the local run"
            exit 1
        fi
    done
    log "PASS: 12 units in 3 array tasks + dependent merge == local run ($((SECONDS - t0)) s)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    test) run_test ;;
    *)
        echo "usage: $0 start|stop|test" >&2
        exit 2
        ;;
esac
