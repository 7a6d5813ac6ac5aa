#!/usr/bin/env bash
# Peak resident memory (RSS) of `lid estimate` at N = 60,000 and 200,000 points, D = 768 (exact and
# HNSW backends), and of `lid embed` at two corpus sizes. These are measurements, not tests: they take
# minutes and gigabytes. Results go to stdout as a Markdown table (and to $OUT/rss.md).
#
# Peak RSS is the "Maximum resident set size" of GNU time (`/usr/bin/time -v`), or, without it, the
# children's ru_maxrss from Python's resource module.
#
# Usage: scripts/rss.sh [OUT_DIR]          (default: /tmp/lid-rss)
# Environment:
#   LID_BIN        the lid binary (default: builds target/release/lid)
#   SYNTH_BIN      the synth_cloud example (default: builds it, release)
#   SIZES          point counts (default "60000 200000");  DIM (default 768)
#   NEIGHBORS      L (default 128, the paper's)
#   BACKENDS       (default "exact hnsw")
#   EMBED_MODEL    model folder for lid embed (default assets/minilm, else the tiny RoBERTa fixture)
#   EMBED_SIZES    corpus sizes in sequences (default "2000 20000")
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/lid-rss}"
mkdir -p "$out"
sizes="${SIZES:-60000 200000}"
dim="${DIM:-768}"
neighbors="${NEIGHBORS:-128}"
backends="${BACKENDS:-exact hnsw}"
embed_sizes="${EMBED_SIZES:-2000 20000}"

if [ -z "${LID_BIN:-}" ] || [ -z "${SYNTH_BIN:-}" ]; then
    (cd "$repo" && cargo build --release -p lid-experiments --bin lid --example synth_cloud)
fi
target="${CARGO_TARGET_DIR:-$repo/target}"
lid="${LID_BIN:-$target/release/lid}"
synth="${SYNTH_BIN:-$target/release/examples/synth_cloud}"

# Runs a command, prints "<peak RSS in MiB> <wall seconds>".
peak() {
    local log="$out/time.log"
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v "$@" > "$out/stdout.log" 2> "$log"
        local kb secs
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" \
            | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
        echo "$((kb / 1024)) $secs"
    else
        python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, round(time.time() - t, 1))
PY
    fi
}

{
echo "| command | N x D (input MiB) | L / corpus | peak RSS (MiB) | wall (s) |"
echo "|---|---|---|---|---|"
for n in $sizes; do
    cloud="$out/cloud_${n}x${dim}.npy"
    [ -f "$cloud" ] || "$synth" "$cloud" "$n" "$dim" 12 1 2>/dev/null
    mib=$(( $(stat -c %s "$cloud") / 1048576 ))
    for knn in $backends; do
        read -r rss secs < <(peak "$lid" estimate "$cloud" --neighbors "$neighbors" --knn "$knn" \
            --json "$out/estimate_${n}_${knn}.json")
        echo "| \`lid estimate --knn $knn\` | $n x $dim ($mib) | L = $neighbors | $rss | $secs |"
    done
done

model="${EMBED_MODEL:-$repo/assets/minilm}"
if [ ! -f "$model/config.json" ]; then
    model="$repo/lid-embed/tests/fixtures/tiny_roberta"
fi
for m in $embed_sizes; do
    corpus="$out/corpus_$m.txt"
    python3 - "$corpus" "$m" <<'PY'
import random, sys
path, m = sys.argv[1], int(sys.argv[2])
rng = random.Random(778)
words = ("i need a cheap restaurant in the centre and a taxi to the station please book it for "
         "two people on friday at the hotel with free parking and wifi near the museum").split()
with open(path, "w") as f:
    for _ in range(m):
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + "\n")
PY
    rm -rf "$out/embed_$m"
    read -r rss secs < <(peak "$lid" embed --model "$model" --corpus "$corpus" --out "$out/embed_$m" \
        --max-length 128 --quiet)
    shape=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print(s['tokens_kept'], 'x', s['hidden_size'])" \
        "$out/embed_$m/manifest.json")
    echo "| \`lid embed\` ($(basename "$model")) | $shape written | $m sequences | $rss | $secs |"
done
} | tee "$out/rss.md"
