#!/usr/bin/env bash
# `lid embed` (candle, CPU) vs PyTorch `transformers` (CPU) on all-MiniLM-L6-v2: tokens/second on the
# same sequences, same tokenisation and the same length-grouped batches, in one run; and the peak RSS
# of `lid embed` for N and 10N sequences (memory is bounded by the batch, so it should barely grow).
#
# What is timed, on both sides: from after model loading and tokenisation to the kept rows being
# written as one .npy (building the padded batches, the forward passes, gathering the real tokens,
# writing them): `lid embed`'s own `forward_seconds`, and the same span in embed_torch.py. PyTorch
# runs with its default attention (`sdpa`, fused scaled_dot_product_attention) and with `eager` (the
# implementation the golden fixtures use). Each side runs REPEAT times, alternating, and the best
# (least disturbed) run of each is reported, as the machine may be shared.
#
# Needs: scripts/fetch-assets.sh (minilm, convlab), a release build of `lid`
#   cargo build --release -p lid-experiments --bin lid
# and a Python with torch + transformers + tokenizers (default /work/venvs/torch/bin/python, or $PYTHON).
# Usage: benches/peers/embed_bench.sh [N=500] [BATCH=32] [THREADS=$(nproc)] [REPEAT=3] [JOIN=1] [MAXLEN=128]
#   JOIN > 1 concatenates JOIN consecutive utterances per sequence (longer sequences, up to MAXLEN).
#   LID_BASE=<another lid binary> also times that build in each repeat (before/after comparisons).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
assets="${LID_ASSETS:-$repo/assets}"
python="${PYTHON:-/work/venvs/torch/bin/python}"
lid="${LID_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/lid}"
n="${1:-500}"
batch="${2:-32}"
threads="${3:-$(nproc)}"
repeat="${4:-3}"
join="${5:-1}"
maxlen="${6:-128}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bash "$repo/scripts/fetch-assets.sh" minilm convlab >/dev/null
# Corpus: real MultiWOZ user utterances from the convlab asset, one per line (JOIN per line), in a
# fixed order.
"$python" - "$assets/convlab/multiwoz/auto_user_template_nlg.json" "$work/corpus.txt" "$join" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
join = int(sys.argv[3])
lines = [u.replace("\n", " ") for act in sorted(d) for slots in sorted(d[act]) for u in d[act][slots]]
lines = [" ".join(lines[i : i + join]) for i in range(0, len(lines) - join + 1, join)]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print(len(lines), "sequences of", join, "utterance(s)", file=sys.stderr)
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $threads; $(date -u +%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== MiniLM CPU throughput, $n sequences, batch $batch, max length $maxlen, best of $repeat =="
best() { sort -g | tail -1; }
: > "$work/lid.rates"; : > "$work/base.rates"; : > "$work/sdpa.rates"; : > "$work/eager.rates"
lid_rate() { # binary, rates file, label
    RAYON_NUM_THREADS="$threads" "$1" embed --model "$assets/minilm" --corpus "$work/corpus.txt" \
        --first "$n" --batch-size "$batch" --max-length "$maxlen" --out "$work/lid.npy" --quiet \
        2> "$work/lid.log"
    line="$(grep embedded "$work/lid.log")"
    echo "run $r $3: $line"
    echo "$line" | sed -E 's/.*\(([0-9]+) tokens\/s\).*/\1/' >> "$2"
}
for r in $(seq "$repeat"); do
    lid_rate "$lid" "$work/lid.rates" lid
    if [ -n "${LID_BASE:-}" ]; then lid_rate "$LID_BASE" "$work/base.rates" "lid (LID_BASE)"; fi
    for attn in sdpa eager; do
        line="$("$python" "$repo/benches/peers/embed_torch.py" --model "$assets/minilm" \
            --corpus "$work/corpus.txt" --first "$n" --batch-size "$batch" --max-length "$maxlen" \
            --threads "$threads" --attn "$attn" 2>/dev/null | grep tokens/s)"
        echo "run $r $line"
        echo "$line" | sed -E 's/.*= ([0-9]+) tokens\/s.*/\1/' >> "$work/$attn.rates"
    done
done
lid_best="$(best < "$work/lid.rates")"
sdpa_best="$(best < "$work/sdpa.rates")"
eager_best="$(best < "$work/eager.rates")"
torch_best="$(printf '%s\n%s\n' "$sdpa_best" "$eager_best" | best)"
echo "best tokens/s: lid $lid_best, torch sdpa $sdpa_best, torch eager $eager_best;" \
    "lid / best torch = $(awk -v a="$lid_best" -v b="$torch_best" 'BEGIN { printf "%.2f", a / b }')x"
if [ -n "${LID_BASE:-}" ]; then
    base_best="$(best < "$work/base.rates")"
    echo "LID_BASE best $base_best tokens/s = $(awk -v a="$base_best" -v b="$torch_best" 'BEGIN { printf "%.2f", a / b }')x best torch"
fi

echo "== lid embed peak RSS: N = $n vs 10N = $((10 * n)) sequences =="
for m in "$n" "$((10 * n))"; do
    RAYON_NUM_THREADS="$threads" /usr/bin/time -f "M=$m: peak RSS %M KB, wall %e s" \
        "$lid" embed --model "$assets/minilm" --corpus "$work/corpus.txt" --first "$m" \
        --batch-size "$batch" --max-length "$maxlen" --out "$work/rss_$m" --quiet 2>&1 | grep -E "peak RSS|embedded"
done
