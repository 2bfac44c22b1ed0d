#!/bin/sh
# The one-shot GPU acceptance (see acceptance.py and docs/gpu.md):
#   benchmarks/gpu/acceptance.sh OUT_DIR [--dry-run] [--wheels DIR] [--budget-s S]
set -eu
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python3}" benchmarks/gpu/acceptance.py "$@"
