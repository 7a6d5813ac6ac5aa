#!/usr/bin/env bash
# Runs every test of the workspace, fetching the offline assets the tests need first.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
bash scripts/fetch-assets.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
# lid-knn's candle backend (DeviceBruteForce on the CPU device) is behind its `device` feature.
cargo test -p lid-knn --features device
# The Python package lid (lid-python/, issue 18): a fresh venv with pinned build and test tools, the
# extension built by pip through maturin with the feature `embed` (lid.embed, lid.compare) in the
# dev profile (the workspace's target/debug, sharing the dependencies the tests above built), then
# its pytest suite (scikit-dimension goldens, kNN against numpy, errors, determinism, lid.compare
# against the `lid compare` command built above).
venv="$repo/target/lid-python-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check maturin==1.16.0 pytest==8.4.2 \
  "numpy==2.0.2; python_version < '3.11'" "numpy==2.3.5; python_version >= '3.11'"
# (maturin from the venv, found on PATH: --no-build-isolation builds with the pinned version)
PATH="$venv/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check \
  --no-build-isolation ./lid-python --config-settings=build-args="--features embed --profile dev"
LID_BIN="$repo/target/debug/lid" "$venv/bin/python" -m pytest -q lid-python/tests
