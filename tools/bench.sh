#!/usr/bin/env bash
# The benchmark command from the README: bash tools/bench.sh [--quick] [--skip-failover] [--skip-history]
# Prints each figure as `name: value unit`, with ratios against baselines measured in the same run:
# first the routing benchmarks (dev venv), then the main thread inside real Blender (bench/blender_drain.py,
# then the first press in fresh Blenders, bench/blender_first_use.py, in the bpy venv named by
# $SHOTCALLER_BENCH_BLENDER, default bpy-5.0, with the extension built from this tree).
# SHOTCALLER_BENCH_BLENDER=none skips the Blender part.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tools/venvs.py ensure dev >&2
DEV="$(python3 tools/venvs.py python dev)"
"$DEV" -m bench.routing "$@"
BLENDER_VENV="${SHOTCALLER_BENCH_BLENDER:-bpy-5.0}"
[[ "$BLENDER_VENV" == none ]] && exit 0
python3 tools/venvs.py ensure "$BLENDER_VENV" >&2
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
ZIP="$("$DEV" tools/build.py --output-dir "$OUT" 2>/dev/null | tail -1)"
BLENDER_ARGS=()
FIRST_USE_ARGS=()
for arg in "$@"; do [[ "$arg" == --quick ]] && BLENDER_ARGS=(--shots 50 --seconds 3) && FIRST_USE_ARGS=(--rounds 1); done
BLENDER_PYTHON="$(python3 tools/venvs.py python "$BLENDER_VENV")"
"$BLENDER_PYTHON" bench/blender_drain.py --zip "$ZIP" --dev-python "$DEV" "${BLENDER_ARGS[@]}" \
    2> >(grep -v '^$' >&2) | grep -E '^[a-z0-9_]+: '
"$BLENDER_PYTHON" bench/blender_first_use.py --zip "$ZIP" --dev-python "$DEV" "${FIRST_USE_ARGS[@]}" \
    2> >(grep -v '^$' >&2) | grep -E '^[a-z0-9_]+: '
