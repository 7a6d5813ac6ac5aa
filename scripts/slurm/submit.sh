#!/usr/bin/env bash
# Submits a checkpoint-series sweep to Slurm: a job array of shards (sweep.sbatch) and the merge as
# a job that depends on it (merge.sbatch). Prints the two job ids.
#
#   bash scripts/slurm/submit.sh SPEC OUT
#
# Environment:
#   LID_BIN           the `lid` binary the jobs run (default: `lid` on PATH, else the repo's
#                     target/release/lid); it must be visible on the compute nodes, as SPEC, OUT and
#                     the checkpoints must be.
#   SWEEP_SHARDS      array size K (default: one task per unit, `lid sweep units`; at most that).
#   SWEEP_LOGS        folder of the job logs (default: OUT.slurm-logs; not inside OUT, which holds
#                     only the sweep).
#   SBATCH_SWEEP_ARGS extra sbatch options for the array (partition, time, --cpus-per-task, ...).
#   SBATCH_MERGE_ARGS extra sbatch options for the merge.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 SPEC OUT" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
spec="$(realpath "$1")"
out="$(realpath -m "$2")"
if [ -z "${LID_BIN:-}" ]; then
    LID_BIN="$(command -v lid || echo "$repo/target/release/lid")"
fi
LID_BIN="$(realpath "$LID_BIN")"
export LID_BIN
units="$("$LID_BIN" sweep units --spec "$spec")"
shards=${SWEEP_SHARDS:-$units}
if [ "$shards" -gt "$units" ]; then
    shards=$units
fi
if [ "$shards" -lt 1 ]; then
    echo "SWEEP_SHARDS must be at least 1" >&2
    exit 2
fi
logs=${SWEEP_LOGS:-${out}.slurm-logs}
mkdir -p "$logs"
# shellcheck disable=SC2086 # the extra arguments are meant to split
array="$(sbatch --parsable --array=0-$((shards - 1)) --export=ALL \
    --output="$logs/sweep-%A_%a.out" ${SBATCH_SWEEP_ARGS:-} \
    "$here/sweep.sbatch" "$spec" "$out")"
array=${array%%;*}
# shellcheck disable=SC2086
merge="$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes --export=ALL \
    --output="$logs/merge-%j.out" ${SBATCH_MERGE_ARGS:-} \
    "$here/merge.sbatch" "$out")"
merge=${merge%%;*}
echo "submitted $units units as $shards array tasks (job $array) and the merge (job $merge); logs in $logs" >&2
echo "$array $merge"
