#!/usr/bin/env bash
# Regenerates the golden fixtures of lid-core (lid-core/tests/fixtures/golden/) with pinned Python peers.
# Creates two throwaway venvs under tools/golden/ (git-ignored): scikit-dimension 0.3.4 needs an old
# numpy/scipy; scikit-dimension 0.5.0 and dadapy 0.3.4 share the second one. Python 3.11.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../lid-core/tests/fixtures/golden"
py="${PYTHON:-python3}"

make_venv() { # dir, packages...
    local dir="$1"; shift
    if [ ! -x "$dir/bin/python" ]; then
        "$py" -m venv "$dir"
        "$dir/bin/pip" install -q "$@"
    fi
}

make_venv "$here/.venv034" scikit-dimension==0.3.4 numpy==1.26.4 scipy==1.12.0 pandas==3.0.6 \
    matplotlib==3.11.2 scikit-learn==1.9.1
make_venv "$here/.venv050" scikit-dimension==0.5.0 dadapy==0.3.4 numpy==1.26.4 scipy==1.17.1 \
    scikit-learn==1.9.1

mkdir -p "$out"
"$here/.venv050/bin/python" "$here/make_golden.py" clouds "$out"
"$here/.venv034/bin/python" "$here/make_golden.py" skdim034 "$out"
"$here/.venv050/bin/python" "$here/make_golden.py" skdim050 "$out"
du -sh "$out"
