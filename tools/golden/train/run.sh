#!/usr/bin/env bash
# Regenerates lid-train/tests/fixtures/* with the torch venv (see make_train_fixtures.py's docstring).
set -euo pipefail
PY="${LID_TORCH_PY:-/work/venvs/torch/bin/python}"
cd "$(dirname "$0")/../../.."
exec "$PY" tools/golden/train/make_train_fixtures.py "$@"
