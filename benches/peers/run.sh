#!/usr/bin/env bash
# Side-by-side timings of `lid` against its Python peers, on the same .npy files (docs/benchmarks.md).
#   (a) scikit-dimension 0.3.4 TwoNN fit_pw (the paper's path), N = 5,000, D = 768, L = 128, against
#       `lid estimate` end to end; checks that the estimates agree (max abs difference).
#   (b) faiss IndexFlatL2 all-kNN, N = 60,000, D = 768, k = 129 (self included), against `lid knn -k 128`.
#   (c) `lid estimate` at paper scale, N = 60,000, D = 768, L = 128: wall time and peak RSS.
# Usage: benches/peers/run.sh [a] [b] [c]   (default: all). Needs PyPI access for the venvs the first
# time (benches/peers/.venv034, .venv-faiss; git-ignored). Data and outputs go to $LID_PEERS_WORK
# (default /tmp/lid-peers). Run it on an otherwise idle machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${LID_PEERS_WORK:-/tmp/lid-peers}"
py="${PYTHON:-python3}"
parts="${*:-a b c}"
mkdir -p "$work"

make_venv() { # dir, packages...
    local dir="$1"; shift
    if [ ! -x "$dir/bin/python" ]; then
        "$py" -m venv "$dir"
        "$dir/bin/pip" install -q "$@"
    fi
}
make_venv "$here/.venv034" scikit-dimension==0.3.4 numpy==1.26.4 scipy==1.12.0 pandas==3.0.6 \
    matplotlib==3.11.2 scikit-learn==1.9.1
make_venv "$here/.venv-faiss" faiss-cpu numpy==1.26.4

(cd "$root" && cargo build --release -q -p lid-experiments --bin lid)
lid="${CARGO_TARGET_DIR:-$root/target}/release/lid"
peer034="$here/.venv034/bin/python $here/peers.py"
peerfaiss="$here/.venv-faiss/bin/python $here/peers.py"

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "versions: lid $("$lid" --version | cut -d' ' -f2), $($here/.venv034/bin/python -c 'import skdim,sklearn;print("scikit-dimension",skdim.__version__,"scikit-learn",sklearn.__version__)'), faiss-cpu $($here/.venv-faiss/bin/python -c 'import faiss;print(faiss.__version__)')"

# Wall seconds and peak RSS (MiB) of a command, from GNU time.
timed() { # log, command...
    local log="$1"; shift
    /usr/bin/time -v "$@" > "$log.out" 2> "$log.time"
    local wall rss
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
    echo "$wall $((rss / 1024))"
}

small="$work/emb_5000x768.npy"
large="$work/emb_60000x768.npy"
[ -f "$small" ] || $peerfaiss gen "$small" 5000 768 1
[ -f "$large" ] || $peerfaiss gen "$large" 60000 768 2

if [[ "$parts" == *a* ]]; then
    echo "== (a) TwoNN fit_pw, N=5000, D=768, L=128: scikit-dimension 0.3.4 vs lid estimate"
    read -r skdim_wall _ < <(timed "$work/a_skdim" $peer034 skdim "$small" 128 "$work/a_skdim.npy")
    cat "$work/a_skdim.out"
    skdim_s=$(sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p' "$work/a_skdim.out")
    read -r lid_s lid_mb < <(timed "$work/a_lid" "$lid" estimate "$small" --neighbors 128 --cdf paper \
        --pointwise-out "$work/a_lid.npy")
    cat "$work/a_lid.out"
    $peerfaiss compare "$work/a_lid.npy" "$work/a_skdim.npy"
    echo "(a) skdim ${skdim_s}s (fit_pw only; process ${skdim_wall}s), lid ${lid_s}s (whole process, ${lid_mb} MiB): ratio $(echo "$skdim_s / $lid_s" | bc -l | cut -c1-6)x"
fi

if [[ "$parts" == *b* ]]; then
    echo "== (b) exact all-kNN, N=60000, D=768: faiss IndexFlatL2 (k=129 with self) vs lid knn (k=128 without self)"
    read -r faiss_wall _ < <(timed "$work/b_faiss" $peerfaiss faiss "$large" 129 "$work/b_faiss.npy")
    cat "$work/b_faiss.out"
    faiss_s=$(sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p' "$work/b_faiss.out")
    read -r _ _ < <(timed "$work/b_lid" "$lid" knn "$large" -k 128)
    cat "$work/b_lid.out"
    lid_s=$(sed -n 's/.*search \([0-9.]*\) s.*/\1/p' "$work/b_lid.out")
    echo "(b) faiss search ${faiss_s}s, lid search ${lid_s}s: lid/faiss = $(echo "$lid_s / $faiss_s" | bc -l | cut -c1-6)"
fi

if [[ "$parts" == *c* ]]; then
    echo "== (c) paper scale: lid estimate N=60000, D=768, L=128 (exact kNN + 60,000 local TwoNN fits + global)"
    read -r c_s c_mb < <(timed "$work/c_lid" "$lid" estimate "$large" --neighbors 128 --cdf paper --global)
    cat "$work/c_lid.out"
    echo "(c) wall ${c_s}s, peak RSS ${c_mb} MiB"
fi
