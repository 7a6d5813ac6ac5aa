#!/usr/bin/env bash
# lid's Python package against scikit-dimension 0.3.4 `TwoNN().fit_pw` in one Python process, on the
# cloud of benches/peers/run.sh (a) (N = 5,000, D = 768, L = 128), next to `lid estimate` on the
# same file (how much the Python call adds to the CLI). Needs PyPI access the first time (venv
# benches/peers/.venv034-lid, git-ignored). Data goes to $LID_PEERS_WORK (default /tmp/lid-peers).
# Run it on an otherwise idle machine (docs/benchmarks.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${LID_PEERS_WORK:-/tmp/lid-peers}"
py="${PYTHON:-python3}"
venv="$here/.venv034-lid"
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q scikit-dimension==0.3.4 numpy==1.26.4 scipy==1.12.0 pandas==3.0.6 \
        matplotlib==3.11.2 scikit-learn==1.9.1 maturin==1.16.0
fi
PATH="$venv/bin:$PATH" "$venv/bin/pip" install -q --no-build-isolation "$root/lid-python"
(cd "$root" && cargo build --release -q -p lid-experiments --bin lid)
lid="${CARGO_TARGET_DIR:-$root/target}/release/lid"

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
small="$work/emb_5000x768.npy"
[ -f "$small" ] || "$venv/bin/python" "$here/peers.py" gen "$small" 5000 768 1
"$venv/bin/python" "$here/python_bench.py" "$small" 128 3
for run in 1 2 3; do
    /usr/bin/time -f "lid estimate (whole process): %e s wall" "$lid" estimate "$small" --neighbors 128 \
        --cdf paper > /dev/null
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
