#!/usr/bin/env bash
# THE test command:   bash tools/test.sh [STAGE ...]
#
# Stages, in order (default: all of them):
#   ruff          ruff check .                                        (dev venv)
#   mypy          mypy -p shotcaller through a symlink (tools/lint.sh) (dev venv, fake-bpy-module stubs)
#   core          pytest tests --ignore=tests/blender                 (dev venv; "no tests" is a failure)
#   build         tools/build.py: wheels, Blender's validator (tags checked), zip in dist/, zip validated
#   blender-4.2   pytest tests/blender inside bpy 4.2.23 (Python 3.11) } one stage per Blender of
#   blender-4.5   ... 4.5.15 (3.11)    blender-5.0  ... 5.0.1 (3.11)  } tools/blenders.py, each in its own
#   blender-5.1   ... 5.1.2  (3.13)    blender-5.2  ... 5.2.3 (3.13)  } process, against the zip from the
#   blender-5.3   ... 5.3.0  (3.13)                                   } build stage (SHOTCALLER_ZIP), with
#                 SHOTCALLER_DEV_PYTHON = the dev venv python; DeprecationWarnings from the extension fail
# The venvs are ensured first (tools/venvs.py ensure all; a no-op when the requirements are unchanged).
#
# Every stage runs even if an earlier one failed (the Blender stages need the build). The exit
# status is non-zero if any stage failed. A summary table ends the output, then one line
# "total: N passed, N failed, N skipped" that adds up the pytest counts; a failed stage that is not
# a test failure (lint, build, crash or hang at exit) counts as one failure there.
#
# Environment:
#   SHOTCALLER_VENVS            where the venvs live (default ~/.cache/shotcaller/venvs)
#   SHOTCALLER_STAGE_TIMEOUT    seconds per Blender stage before it is killed (default 1200)
#   SHOTCALLER_BLENDER_JOBS     how many Blender stages run at once (default 2)
#   PYTEST_ADDOPTS              extra pytest options for every pytest stage (pytest reads it itself)
# Logs of each stage: build/test-logs/<stage>.log
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGS="$ROOT/build/test-logs"
mkdir -p "$LOGS"

BASE_PYTHON="${SHOTCALLER_PYTHON:-python3}"
read -r -a BLENDER_SERIES <<<"$("$BASE_PYTHON" tools/blenders.py series)"
ALL_STAGES=(ruff mypy core build "${BLENDER_SERIES[@]/#/blender-}")
if [[ $# -gt 0 ]]; then STAGES=("$@"); else STAGES=("${ALL_STAGES[@]}"); fi
for s in "${STAGES[@]}"; do
    [[ " ${ALL_STAGES[*]} " == *" $s "* ]] || { echo "tools/test.sh: unknown stage '$s' (${ALL_STAGES[*]})" >&2; exit 2; }
done
want() { [[ " ${STAGES[*]} " == *" $1 "* ]]; }

STAGE_TIMEOUT="${SHOTCALLER_STAGE_TIMEOUT:-1200}"
BLENDER_JOBS="${SHOTCALLER_BLENDER_JOBS:-2}"

declare -A STATUS NOTE SECS
ORDER=()
T_PASS=0 T_FAIL=0 T_SKIP=0

banner() { printf '\n==================== %s ====================\n' "$*"; }

record() { # stage status seconds note
    ORDER+=("$1"); STATUS[$1]="$2"; SECS[$1]="$3"; NOTE[$1]="$4"
}

# Add the counts of pytest's closing line in $1 (a log file) to the totals; echo a short note.
pytest_counts() {
    local line p f e s
    line="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|errors|skipped|deselected|xfailed|xpassed)|no tests ran' "$1" | tail -1)"
    p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || true)"
    f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || true)"
    e="$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || true)"
    s="$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || true)"
    T_PASS=$((T_PASS + ${p:-0})); T_FAIL=$((T_FAIL + ${f:-0} + ${e:-0})); T_SKIP=$((T_SKIP + ${s:-0}))
    PYTEST_NOTE="${p:-0} passed, $((${f:-0} + ${e:-0})) failed, ${s:-0} skipped"
}

describe_rc() { # rc -> words
    case "$1" in
        0) echo "ok" ;;
        1) echo "tests failed" ;;
        2) echo "interrupted / usage error" ;;
        3) echo "pytest internal error" ;;
        4) echo "pytest usage error" ;;
        5) echo "no tests collected" ;;
        124|137) echo "TIMEOUT after ${STAGE_TIMEOUT}s (hang, e.g. at exit with something still registered)" ;;
        *) if (( $1 > 128 )); then echo "CRASHED (signal $(( $1 - 128 )); 139 = segfault at exit?)"; else echo "rc $1"; fi ;;
    esac
}

# ------------------------------------------------------------------------------------ venvs
banner "venvs"
t0=$SECONDS
if ! "$BASE_PYTHON" tools/venvs.py ensure all; then
    echo "tools/test.sh: could not create the venvs (see the logs under \${SHOTCALLER_VENVS:-~/.cache/shotcaller/venvs})" >&2
    echo "total: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
record venvs PASS $((SECONDS - t0)) "$("$BASE_PYTHON" tools/venvs.py list | awk '{print $1"="$3}' | xargs)"
DEV="$("$BASE_PYTHON" tools/venvs.py python dev)"
export SHOTCALLER_DEV_PYTHON="$DEV"

# ------------------------------------------------------------------------------------ ruff / mypy
for tool in ruff mypy; do
    want "$tool" || continue
    banner "$tool"
    t0=$SECONDS
    if [[ $tool == ruff ]]; then
        (cd "$ROOT" && "$DEV" -m ruff check --no-cache --output-format concise .) 2>&1 | tee "$LOGS/ruff.log"
    else
        bash tools/lint.sh mypy 2>&1 | tee "$LOGS/mypy.log"
    fi
    rc=${PIPESTATUS[0]}
    if [[ $rc == 0 ]]; then record "$tool" PASS $((SECONDS - t0)) "clean"
    else
        record "$tool" FAIL $((SECONDS - t0)) "$(grep -E '^Found [0-9]+ error' "$LOGS/$tool.log" | tail -1 || echo "rc $rc")"
        T_FAIL=$((T_FAIL + 1))
    fi
done

# ------------------------------------------------------------------------------------ core
if want core; then
    banner "core: pytest tests (dev venv, without tests/blender)"
    t0=$SECONDS
    "$DEV" -m pytest tests --ignore=tests/blender -q -rfEs 2>&1 | tee "$LOGS/core.log"
    rc=${PIPESTATUS[0]}
    pytest_counts "$LOGS/core.log"
    if [[ $rc == 0 ]]; then record core PASS $((SECONDS - t0)) "$PYTEST_NOTE"
    else
        record core FAIL $((SECONDS - t0)) "$(describe_rc "$rc"); $PYTEST_NOTE"
        [[ $rc == 1 ]] || T_FAIL=$((T_FAIL + 1))
    fi
fi

# ------------------------------------------------------------------------------------ build
ZIP=""
need_build=0
for v in "${BLENDER_SERIES[@]}"; do want "blender-$v" && need_build=1; done
if want build || [[ $need_build == 1 ]]; then
    banner "build: tools/build.py"
    t0=$SECONDS
    ZIP="$("$DEV" tools/build.py 2> >(tee "$LOGS/build.log" >&2))"
    rc=$?
    sleep 0.2  # let the stderr tee finish
    if [[ $rc == 0 && -f "$ZIP" ]]; then
        size="$(du -k "$ZIP" | cut -f1)"
        record build PASS $((SECONDS - t0)) "$(basename "$ZIP"), ${size} KiB"
        echo "zip: $ZIP"
    else
        record build FAIL $((SECONDS - t0)) "rc $rc (see $LOGS/build.log)"
        T_FAIL=$((T_FAIL + 1))
        ZIP=""
    fi
fi

# ------------------------------------------------------------------------------------ blender
# The Blender stages run $BLENDER_JOBS at a time (each in its own process, own temp user folders, own
# servers on free ports); much of their time is spent waiting on servers and subprocesses. Each one's
# log is printed whole when it ends, in the order of tools/blenders.py.
run_blender_stage() { # series
    local stage="blender-$1" t0=$SECONDS py
    py="$("$BASE_PYTHON" tools/venvs.py python "bpy-$1")"
    SHOTCALLER_ZIP="$ZIP" timeout -k 30 "$STAGE_TIMEOUT" "$py" -m pytest tests/blender -q -rfEs \
        >"$LOGS/$stage.log" 2>&1 </dev/null
    echo "$?" >"$LOGS/$stage.rc"
    echo "$((SECONDS - t0))" >"$LOGS/$stage.secs"
}
BLENDER_RUN=()
for v in "${BLENDER_SERIES[@]}"; do
    want "blender-$v" || continue
    if [[ -z "$ZIP" ]]; then
        record "blender-$v" FAIL 0 "not run: no zip (build failed)"
        T_FAIL=$((T_FAIL + 1))
        continue
    fi
    BLENDER_RUN+=("$v")
done
if ((${#BLENDER_RUN[@]})); then
    banner "blender stages: ${BLENDER_RUN[*]/#/blender-} ($BLENDER_JOBS at a time)"
    for v in "${BLENDER_RUN[@]}"; do
        rm -f "$LOGS/blender-$v.rc"
        while (($(jobs -rp | wc -l) >= BLENDER_JOBS)); do wait -n || true; done
        echo "started blender-$v"
        run_blender_stage "$v" &
    done
    wait
fi
for v in "${BLENDER_RUN[@]}"; do
    stage="blender-$v"
    banner "$stage: pytest tests/blender inside bpy $v"
    cat "$LOGS/$stage.log"
    rc="$(cat "$LOGS/$stage.rc" 2>/dev/null || echo 3)"
    secs="$(cat "$LOGS/$stage.secs" 2>/dev/null || echo 0)"
    pytest_counts "$LOGS/$stage.log"
    if [[ $rc == 0 || $rc == 5 ]]; then
        record "$stage" PASS "$secs" "$PYTEST_NOTE$([[ $rc == 5 ]] && echo ' (no tests collected)')"
    else
        record "$stage" FAIL "$secs" "$(describe_rc "$rc"); $PYTEST_NOTE"
        # A crash or hang after all tests passed is still a failure: count it.
        [[ $rc == 1 ]] || T_FAIL=$((T_FAIL + 1))
    fi
done

# ------------------------------------------------------------------------------------ summary
banner "summary"
overall=0
for s in "${ORDER[@]}"; do
    printf '%-12s %-5s %5ss  %s\n' "$s" "${STATUS[$s]}" "${SECS[$s]}" "${NOTE[$s]}"
    [[ "${STATUS[$s]}" == PASS ]] || overall=1
done
printf '%-12s %-5s %5ss\n' "all" "$([[ $overall == 0 ]] && echo PASS || echo FAIL)" "$SECONDS"
echo "logs: $LOGS"
echo "total: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
exit $overall
