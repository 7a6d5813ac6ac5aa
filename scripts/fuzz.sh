#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (its own workspace; needs a nightly toolchain), one at a time,
# each for a fixed budget of seconds.
#
# Targets (docs/fuzzing.md):
#   without candle: input_npy, input_safetensors (the `lid` CLI's readers), cloud_estimate (PointCloud
#     + BruteForce / KdTree against the ExhaustiveSearch oracle + TwoNN), dialogue_data (lid-data:
#     MultiWOZ 2.1, ConvLab unified, EmoWOZ, chatterbot YAML, the Wikipedia markup stripper),
#     run_metrics (lid-data: the sweeps' metric files, TripPy-R eval_res JSON and the CSVs);
#   with lid-embed (feature `embed`, builds candle): gguf, model_config, tokenizer_json, corpus;
#   with lid-train (feature `train`): weight_file, train_checkpoint (checkpoint::restore and
#     read_state, the reader of Trainer::resume and the sweeps).
# Installs cargo-fuzz (crates.io, --locked) when it is missing. Seeds come from fuzz/seeds/<target>
# (committed); new corpus entries go to fuzz/corpus/<target> and crashes to fuzz/artifacts/<target>
# (both git-ignored). Reproduce a crash with:
#   cd fuzz && cargo +nightly fuzz run --features embed,train <target> artifacts/<target>/<file>
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]   (default: 60 s each, all targets)
# Environment: FUZZ_SANITIZER (address | none, default address), CARGO_TARGET_DIR (build folder),
#              FUZZ_TOOLCHAIN (default nightly), FUZZ_JOBS (cargo build jobs),
#              FUZZ_NO_CANDLE=1 (only the targets that build without candle).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
light=(input_npy input_safetensors cloud_estimate dialogue_data run_metrics)
heavy=(gguf model_config tokenizer_json corpus weight_file train_checkpoint)
if [ "${#targets[@]}" -eq 0 ]; then
    targets=("${light[@]}")
    if [ -z "${FUZZ_NO_CANDLE:-}" ]; then
        targets+=("${heavy[@]}")
    fi
fi
features=()
for t in "${targets[@]}"; do
    for h in "${heavy[@]}"; do
        if [ "$t" = "$h" ]; then features=(--features embed,train); fi
    done
done
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "fuzz: the $toolchain toolchain is missing (rustup toolchain install $toolchain);" \
         "libFuzzer targets need it" >&2
    exit 1
fi

cd "$repo/fuzz"
jobs_args=()
if [ -n "${FUZZ_JOBS:-}" ]; then
    jobs_args=(--jobs "$FUZZ_JOBS")
fi
failed=()
for target in "${targets[@]}"; do
    dict=()
    case "$target" in
        input_npy) dict=(-dict=dicts/npy.dict) ;;
        input_safetensors | weight_file | train_checkpoint) dict=(-dict=dicts/safetensors.dict) ;;
        run_metrics) dict=(-dict=dicts/metrics.dict) ;;
        gguf) dict=(-dict=dicts/gguf.dict) ;;
        model_config | tokenizer_json | corpus | dialogue_data) dict=(-dict=dicts/json.dict) ;;
    esac
    mkdir -p "corpus/$target"
    echo "fuzz: $target for $seconds s (sanitizer: $sanitizer)" >&2
    # A finding stops this target (its input goes to artifacts/<target>/), not the others.
    if ! cargo "+$toolchain" fuzz run -s "$sanitizer" "${jobs_args[@]}" "${features[@]}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}"; then
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
