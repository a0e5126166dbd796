#!/usr/bin/env bash
# The benchmark command from the README: bash tools/bench.sh
# Prints each figure as `name: value unit`, with ratios against baselines measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tools/venvs.py ensure dev >&2
exec "$(python3 tools/venvs.py python dev)" -m bench.routing "$@"
