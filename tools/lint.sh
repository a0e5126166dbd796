#!/usr/bin/env bash
# Lint and type-check with the dev venv:  bash tools/lint.sh [ruff|mypy]   (default: both)
#
# ruff:  `ruff check .` from the repo root (config: pyproject.toml).
# mypy:  the repo root IS the package `shotcaller` (relative imports, root __init__.py), and a
#        clone's folder can have any name, so mypy runs from a folder outside the repo that holds
#        a symlink `shotcaller -> <repo>`: `mypy -p shotcaller`. Module names then match the
#        pyproject overrides (shotcaller.properties, ...). bpy types come from the
#        fake-bpy-module-4.2 stubs in the dev venv. tests/, bench/ ... are excluded in pyproject.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${SHOTCALLER_DEV_PYTHON:-}"
if [[ -z "$PY" ]]; then
    python3 "$ROOT/tools/venvs.py" ensure dev >&2 || exit 1
    PY="$(python3 "$ROOT/tools/venvs.py" python dev)"
fi

what="${1:-all}"
rc=0

if [[ "$what" == all || "$what" == ruff ]]; then
    echo "== ruff check" >&2
    (cd "$ROOT" && "$PY" -m ruff check --no-cache .) || rc=1
fi

if [[ "$what" == all || "$what" == mypy ]]; then
    echo "== mypy -p shotcaller" >&2
    # A stable place outside the repo (a symlink inside it would make tree walkers loop), keyed
    # by the repo path so that several clones do not share one incremental cache.
    key="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    work="${XDG_CACHE_HOME:-$HOME/.cache}/shotcaller/mypy/$key"
    mkdir -p "$work"
    ln -sfn "$ROOT" "$work/shotcaller"
    (cd "$work" && "$PY" -m mypy --config-file "$ROOT/pyproject.toml" --cache-dir "$work/.mypy_cache" \
        -p shotcaller) || rc=1
fi

exit $rc
