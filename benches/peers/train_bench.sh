#!/usr/bin/env bash
# Training throughput: lid-train vs PyTorch `transformers` on the same model, task, batches and
# thread count, in one run (ratios, not absolute times: check `uptime` first; only an idle machine
# gives a figure worth quoting).
#
# Usage: benches/peers/train_bench.sh [THREADS] [STEPS]
# Needs the PyTorch venv at /work/venvs/torch (or TORCH_VENV=...), the offline assets
# (scripts/fetch-assets.sh), and writes the f32 export of the SmolLM2 GGUF to $EXPORT
# (default /tmp/lid-smollm2-f32) with `lid export-gguf` when missing.
# Cases: MiniLM (BERT, 6 x 384) masked LM; SmolLM2-135M causal LM; batch 8, max length 64,
# MultiWOZ utterances (relexicalised convlab templates, first line per act group and slots).
set -euo pipefail
THREADS=${1:-2}
STEPS=${2:-20}
VENV=${TORCH_VENV:-/work/venvs/torch}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXPORT=${EXPORT:-/tmp/lid-smollm2-f32}
cd "$ROOT"
cargo build --release -p lid-train --example train_speed >&2
cargo build --release -p lid-experiments --bin lid >&2
BIN=${CARGO_TARGET_DIR:-target}/release
TEXTS=$(mktemp /tmp/lid-train-bench.XXXX.txt)
"$VENV/bin/python" - "$ROOT/assets/convlab/multiwoz/auto_user_template_nlg.json" > "$TEXTS" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
for act, by_slots in data.items():
    for slots, templates in by_slots.items():
        for t in templates[:3]:
            print(" ".join(t.split()))
PY
if [ ! -f "$EXPORT/model.safetensors" ]; then
    "$BIN/lid" export-gguf "$ROOT/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" --out "$EXPORT" >&2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $THREADS; timed steps $STEPS; load $(cut -d' ' -f1-3 /proc/loadavg)"
for case in "assets/minilm mlm" "$EXPORT clm"; do
    set -- $case
    echo "== $2 on $1 (batch 8, max length 64)"
    RAYON_NUM_THREADS=$THREADS "$BIN/examples/train_speed" --model "$1" --task "$2" --texts "$TEXTS" --batch 8 --max-length 64 --steps "$STEPS" --warmup-steps 3
    "$VENV/bin/python" benches/peers/train_torch.py --model "$1" --task "$2" --texts "$TEXTS" --batch 8 --max-length 64 --steps "$STEPS" --warmup-steps 3 --threads "$THREADS"
done
rm -f "$TEXTS"
