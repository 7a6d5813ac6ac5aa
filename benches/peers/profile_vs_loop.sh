#!/usr/bin/env bash
# lid profile against the per-layer loop (lid embed + lid estimate per layer), MiniLM and SmolLM2,
# on the Lee corpus (docs/benchmarks.md, "lid profile against the per-layer loop"); run on an idle
# machine after `cargo build --release -p lid-experiments --bin lid`. SmolLM2 is exported to f32 in
# /tmp/smollm2-f32 first; its loop is timed at layers 0, 15 and 30 only (about 20 minutes in full).
set -euo pipefail
cd "$(dirname "$0")/../.."
L=./target/release/lid
C=assets/prose/lee_background.cor
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
[ -d /tmp/smollm2-f32 ] || $L export-gguf assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smollm2-f32 >/dev/null
t() { local s=$(date +%s.%N); "$@" > /dev/null 2>/tmp/last.err || { cat /tmp/last.err; exit 1; }; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
for model in minilm smollm2; do
  if [ $model = minilm ]; then M=assets/minilm; layers=6; else M=/tmp/smollm2-f32; layers=30; fi
  rm -rf /tmp/prof-$model
  /usr/bin/time -f "$model profile: %e s wall, %M KB peak RSS" $L profile --model $M --corpus $C --max-length 128 --n-points 10000 --out /tmp/prof-$model > /dev/null 2>/tmp/prof-$model.err || { cat /tmp/prof-$model.err; exit 1; }
  tail -1 /tmp/prof-$model.err
  # The per-layer loop: MiniLM every layer; SmolLM2 three layers (0, 15, 30), the rest extrapolated.
  if [ $model = minilm ]; then todo=$(seq 0 $layers); else todo="0 15 30"; fi
  total=0
  for i in $todo; do
    rm -rf /tmp/loop-$model-$i
    e=$(t $L embed --model $M --corpus $C --max-length 128 --seed 778 --layers $i --quiet --out /tmp/loop-$model-$i)
    s=$(t $L estimate /tmp/loop-$model-$i --layer $i --sample 150000 --keep 10000 --neighbors 128 --json /tmp/loop-$model-$i.json)
    m1=$(python3 -c "import json;print(json.load(open('/tmp/loop-$model-$i.json'))['pointwise']['summary']['mean'])" 2>/dev/null || echo "?")
    m2=$(python3 -c "import json;print(json.load(open('/tmp/prof-$model/layers/layer-$i.json'))['pointwise']['summary']['mean'])" 2>/dev/null || echo "?")
    echo "$model layer $i: embed $e s, estimate $s s; mean loop $m1, profile $m2"
    total=$(echo "$total + $e + $s" | bc)
  done
  echo "$model loop total over [$todo]: $total s"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
