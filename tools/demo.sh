#!/usr/bin/env bash
# The demo command from the README: bash tools/demo.sh   (on the newest Blender of tools/blenders.py;
# SHOTCALLER_DEMO_BLENDER=4.5, say, for another one)
set -euo pipefail
cd "$(dirname "$0")/.."
BLENDER="${SHOTCALLER_DEMO_BLENDER:-$(python3 tools/blenders.py newest)}"
python3 tools/venvs.py ensure dev "bpy-$BLENDER"
DEV_PYTHON=$(python3 tools/venvs.py python dev)
BLENDER_PYTHON=$(python3 tools/venvs.py python "bpy-$BLENDER")
ZIP=$(python3 tools/build.py --blender "$BLENDER")
exec "$DEV_PYTHON" tools/demo.py --zip "$ZIP" --blender-python "$BLENDER_PYTHON" "$@"
