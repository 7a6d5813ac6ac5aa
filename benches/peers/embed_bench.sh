#!/usr/bin/env bash
# `lid embed` (candle, CPU) vs PyTorch `transformers` (CPU) on all-MiniLM-L6-v2: tokens/second of the
# forward passes on the same sequences, same tokenisation and the same length-grouped batches, in one
# run; and the peak RSS of `lid embed` for N and 10N sequences (memory is bounded by the batch, so it
# should barely grow).
#
# Needs: scripts/fetch-assets.sh (minilm, convlab), a release build of `lid`
#   cargo build --release -p lid-experiments --bin lid
# and a Python with torch + transformers + tokenizers (default /work/venvs/torch/bin/python, or $PYTHON).
# Usage: benches/peers/embed_bench.sh [N=500] [BATCH=32] [THREADS=$(nproc)]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
assets="${LID_ASSETS:-$repo/assets}"
python="${PYTHON:-/work/venvs/torch/bin/python}"
lid="${LID_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/lid}"
n="${1:-500}"
batch="${2:-32}"
threads="${3:-$(nproc)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bash "$repo/scripts/fetch-assets.sh" minilm convlab >/dev/null
# Corpus: real MultiWOZ user utterances from the convlab asset, one per line, in a fixed order.
"$python" - "$assets/convlab/multiwoz/auto_user_template_nlg.json" "$work/corpus.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lines = [u for act in sorted(d) for slots in sorted(d[act]) for u in d[act][slots]]
open(sys.argv[2], "w").write("\n".join(l.replace("\n", " ") for l in lines) + "\n")
print(len(lines), "utterances", file=sys.stderr)
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $threads"
echo "== MiniLM CPU throughput, $n sequences, batch $batch, max length 128 =="
RAYON_NUM_THREADS="$threads" /usr/bin/time -f "lid embed peak RSS %M KB, wall %e s" \
    "$lid" embed --model "$assets/minilm" --corpus "$work/corpus.txt" --first "$n" \
    --batch-size "$batch" --max-length 128 --out "$work/lid.npy" --quiet
"$python" "$repo/benches/peers/embed_torch.py" --model "$assets/minilm" --corpus "$work/corpus.txt" \
    --first "$n" --batch-size "$batch" --max-length 128 --threads "$threads"

echo "== lid embed peak RSS: N = $n vs 10N = $((10 * n)) sequences =="
for m in "$n" "$((10 * n))"; do
    RAYON_NUM_THREADS="$threads" /usr/bin/time -f "M=$m: peak RSS %M KB, wall %e s" \
        "$lid" embed --model "$assets/minilm" --corpus "$work/corpus.txt" --first "$m" \
        --batch-size "$batch" --max-length 128 --out "$work/rss_$m" --quiet 2>&1 | grep -E "peak RSS|embedded"
done
