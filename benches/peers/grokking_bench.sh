#!/usr/bin/env bash
# Training speed of the grokking model: lid-experiments (lid-train's CPU kernels) vs the same model in
# PyTorch (CPU), same sizes, batch, optimiser, dropout and thread count, in one run.
#
# Usage: benches/peers/grokking_bench.sh [THREADS] [STEPS]
# Needs the PyTorch venv at /work/venvs/torch (or TORCH_VENV=...). Defaults: 2 threads, 200 steps,
# the quick preset's small model (p = 59, width 64, 4 heads, ff 256, batch 256, weight decay 1.0) and
# then the paper's sizes (p = 197, width 128, ff 512, batch 512, weight decay 0.01).
set -euo pipefail
THREADS=${1:-2}
STEPS=${2:-200}
VENV=${TORCH_VENV:-/work/venvs/torch}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
cargo build --release -p lid-experiments --bin lid-experiments >&2
BIN=${CARGO_TARGET_DIR:-target}/release/lid-experiments
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $THREADS; steps $STEPS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== small sizes (p 59, d 64, ff 256, batch 256)"
RAYON_NUM_THREADS=$THREADS "$BIN" grokking --preset quick --p 59 --batch-size 256 --fractions 0.3 --time-steps "$STEPS"
"$VENV/bin/python" benches/peers/grokking_torch.py --threads "$THREADS" --steps "$STEPS" --p 59 --d 64 --ff 256 --batch 256 --weight-decay 1.0
echo "== paper sizes (p 197, d 128, ff 512, batch 512)"
RAYON_NUM_THREADS=$THREADS "$BIN" grokking --preset paper --fractions 0.3 --time-steps "$STEPS"
"$VENV/bin/python" benches/peers/grokking_torch.py --threads "$THREADS" --steps "$STEPS" --p 197 --d 128 --ff 512 --batch 512 --weight-decay 0.01
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
