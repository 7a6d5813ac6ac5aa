#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (its own workspace; needs a nightly toolchain), one at a time.
#
# Targets: input_npy, input_safetensors (the `lid` CLI's readers, lid-experiments/src/cli/input.rs) and
# cloud_estimate (PointCloud + BruteForce / KdTree against the ExhaustiveSearch oracle + TwoNN).
# Installs cargo-fuzz (crates.io, --locked) when it is missing. Seeds come from fuzz/seeds/<target>
# (committed); new corpus entries go to fuzz/corpus/<target> and crashes to fuzz/artifacts/<target>
# (both git-ignored). Reproduce a crash with: cargo +nightly fuzz run <target> <artifact>.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]   (default: 60 s each, all targets)
# Environment: FUZZ_SANITIZER (address | none, default address), CARGO_TARGET_DIR (build folder),
#              FUZZ_TOOLCHAIN (default nightly), FUZZ_JOBS (cargo build jobs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(input_npy input_safetensors cloud_estimate)
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

cd "$repo/fuzz"
jobs_args=()
if [ -n "${FUZZ_JOBS:-}" ]; then
    jobs_args=(--jobs "$FUZZ_JOBS")
fi
for target in "${targets[@]}"; do
    dict=()
    case "$target" in
        input_npy) dict=(-dict=dicts/npy.dict) ;;
        input_safetensors) dict=(-dict=dicts/safetensors.dict) ;;
    esac
    mkdir -p "corpus/$target"
    echo "fuzz: $target for $seconds s (sanitizer: $sanitizer)" >&2
    cargo "+$toolchain" fuzz run -s "$sanitizer" "${jobs_args[@]}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}"
done
