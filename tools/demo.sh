#!/usr/bin/env bash
# The demo command from the README: bash tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tools/venvs.py ensure dev bpy-5.0
DEV_PYTHON=$(python3 tools/venvs.py python dev)
BLENDER_PYTHON=$(python3 tools/venvs.py python bpy-5.0)
ZIP=$(python3 tools/build.py --blender 5.0)
exec "$DEV_PYTHON" tools/demo.py --zip "$ZIP" --blender-python "$BLENDER_PYTHON" "$@"
