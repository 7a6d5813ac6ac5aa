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
