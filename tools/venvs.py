#!/usr/bin/env python3
"""Create and update Shotcaller's development virtual environments (stdlib only).

    python3 tools/venvs.py ensure [dev|litellm|bpy-4.2|...|bpy-5.3|bpy|all ...]
    python3 tools/venvs.py python NAME          # print the venv's python path
    python3 tools/venvs.py list                 # name, Python, state, path

Venvs live under ${SHOTCALLER_VENVS:-$HOME/.cache/shotcaller/venvs}/<name>. `dev` and `litellm` are
built from tools/requirements-<name>.txt; each `bpy-<series>` venv (one per Blender in
tools/blenders.py) from `bpy==<its release>` plus tools/requirements-bpy-tests-py<its Python>.txt.
The sha256 of those requirements (and of the interpreter version) is stored in the venv as
`.shotcaller-requirements`; `ensure` runs pip only when it changed, so a second `ensure all` takes
well under a second.

Each venv needs the CPython of its Blender: 3.11 for dev, litellm and Blender 4.2 to 5.0, 3.13 for
Blender 5.1 to 5.3. The interpreter for Python X.Y is, in order: $SHOTCALLER_PYTHON_X_Y (for 3.11
also $SHOTCALLER_PYTHON), this interpreter if it is X.Y, `pythonX.Y` on PATH, then pyenv's
$PYENV_ROOT/versions/X.Y*/bin/pythonX.Y (a pyenv shim on PATH fails when X.Y is not one of pyenv's
selected versions).

Several venvs are installed in parallel (the bpy wheels are ~350 MB downloads each); pip's
output goes to <venvs>/<name>.log and its tail is printed on failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent

sys.path.insert(0, str(TOOLS))
from blenders import BLENDERS  # noqa: E402  (a sibling script, not a package)

DEV_PYTHON = "3.11"


@dataclass(frozen=True)
class VenvSpec:
    python: str  # "3.11"
    requirements: str  # a file under tools/
    extra: tuple[str, ...] = ()  # requirement lines before it (the bpy pin)


VENVS: dict[str, VenvSpec] = {
    "dev": VenvSpec(DEV_PYTHON, "requirements-dev.txt"),
    "litellm": VenvSpec(DEV_PYTHON, "requirements-litellm.txt"),
    **{b.venv: VenvSpec(b.python, f"requirements-bpy-tests-py{b.python}.txt", (f"bpy=={b.bpy}",)) for b in BLENDERS},
}
BPY_VENVS = tuple(b.venv for b in BLENDERS)
STAMP = ".shotcaller-requirements"
# Bump to force every venv to be re-synced after a change of this script's install logic.
SCHEME = "2"


def venvs_root() -> Path:
    env = os.environ.get("SHOTCALLER_VENVS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "shotcaller" / "venvs"


def venv_dir(name: str) -> Path:
    return venvs_root() / name


def venv_python(name: str) -> Path:
    d = venv_dir(name)
    return d / "Scripts" / "python.exe" if os.name == "nt" else d / "bin" / "python"


def _requirement_files(path: Path, seen: list[Path] | None = None) -> list[Path]:
    """The file and every file it includes with -r/--requirement/-c/--constraint, recursively."""
    seen = [] if seen is None else seen
    path = path.resolve()
    if path in seen:
        return seen
    seen.append(path)
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        for flag in ("-r", "--requirement", "-c", "--constraint"):
            if line.startswith(flag + " ") or line.startswith(flag + "="):
                ref = line[len(flag) + 1 :].strip()
                _requirement_files(path.parent / ref, seen)
    return seen


def requirements_hash(name: str) -> str:
    spec = VENVS[name]
    h = hashlib.sha256()
    h.update(f"scheme={SCHEME}\npython={spec.python}\n".encode())
    h.update("".join(line + "\n" for line in spec.extra).encode())
    for f in _requirement_files(TOOLS / spec.requirements):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def venv_state(name: str) -> str:
    """'ok', 'stale' (requirements changed or never synced) or 'missing'."""
    py = venv_python(name)
    if not py.exists():
        return "missing"
    stamp = venv_dir(name) / STAMP
    if not stamp.exists() or stamp.read_text().strip() != requirements_hash(name):
        return "stale"
    return "ok"


def _version_of(exe: str) -> str | None:
    try:
        return subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _pyenv_pythons(version: str) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted((root / "versions").glob(f"{version}*/bin/python{version}"), reverse=True)
    return [str(p) for p in found]


def find_base_python(version: str = DEV_PYTHON) -> str:
    """A CPython `version` ("3.13") to create venvs with; exits naming what was tried."""
    env_names = [f"SHOTCALLER_PYTHON_{version.replace('.', '_')}"]
    if version == DEV_PYTHON:
        env_names.append("SHOTCALLER_PYTHON")
    tried: list[str] = []
    candidates: list[str] = [os.environ[n] for n in env_names if os.environ.get(n)]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.append(sys.executable)
    for exe in (f"python{version}", "python3"):
        if shutil.which(exe):
            candidates.append(shutil.which(exe) or exe)
    candidates += _pyenv_pythons(version)
    for exe in dict.fromkeys(candidates):
        got = _version_of(exe)
        if got == version:
            return exe
        tried.append(f"{exe} ({'Python ' + got if got else 'does not run'})")
    sys.exit(
        f"venvs.py: no CPython {version} found. Tried: ${' and $'.join(env_names)} (unset or not {version}), "
        f"{', '.join(tried) or 'nothing else on PATH or under pyenv'}. Install Python {version} "
        f"(pyenv install {version}, or your distribution's python{version} with its venv module) "
        f"or point ${env_names[0]} at one."
    )


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise concurrent `ensure` runs on the same venv (POSIX; no-op elsewhere)."""
    venvs_root().mkdir(parents=True, exist_ok=True)
    lock_path = venvs_root() / f".{name}.lock"
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_logged(cmd: list[str], log, env: dict[str, str] | None = None) -> int:
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    return subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def _create(name: str, base_python: str, log) -> None:
    d = venv_dir(name)
    if d.exists():
        shutil.rmtree(d)
    if _run_logged([base_python, "-m", "venv", str(d)], log) == 0:
        return
    # Debian's python3.11 without python3.11-venv has no ensurepip: create the venv without pip
    # and install pip into it with the base interpreter's pip (pip >= 22.3 has --python).
    log.write("venv with pip failed; retrying --without-pip and bootstrapping pip from the base python\n")
    shutil.rmtree(d, ignore_errors=True)
    if _run_logged([base_python, "-m", "venv", "--without-pip", str(d)], log) != 0:
        raise RuntimeError(f"cannot create venv {d}")
    rc = _run_logged(
        [base_python, "-m", "pip", "--python", str(venv_python(name)), "install", "--no-input", "pip"], log
    )
    if rc != 0:
        raise RuntimeError(
            "cannot create a venv with pip: install Debian's python3-venv (apt-get install python3-venv) or python3-pip"
        )


def _start_sync(name: str, base_python: str, force: bool) -> tuple[subprocess.Popen | None, object, str]:
    """Create the venv if needed and start pip in the background. Returns (proc, logfile, state)."""
    state = "missing" if force else venv_state(name)
    log = open(venvs_root() / f"{name}.log", "w")  # noqa: SIM115 (closed by the caller)
    log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} ensure {name} (state {state})\n")
    py = venv_python(name)
    if state == "missing" or not _python_ok(py, VENVS[name].python):
        try:
            _create(name, base_python, log)
        except BaseException:
            log.close()
            raise
    (venv_dir(name) / STAMP).unlink(missing_ok=True)
    cmd = [
        str(py),
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        *VENVS[name].extra,
        "-r",
        str(TOOLS / VENVS[name].requirements),
    ]
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, log, state


def _python_ok(py: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(py), "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return out == version


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def ensure(names: list[str], force: bool = False, quiet: bool = False) -> bool:
    """Bring the named venvs up to date, installing in parallel. True when all are ok."""
    root = venvs_root()
    root.mkdir(parents=True, exist_ok=True)
    todo = [n for n in names if force or venv_state(n) != "ok"]
    for n in names:
        if n not in todo and not quiet:
            print(f"venvs: {n}: up to date ({venv_dir(n)})", file=sys.stderr)
    if not todo:
        return True
    bases = {VENVS[n].python: find_base_python(VENVS[n].python) for n in todo}
    ok = True
    with _all_locked(todo):
        # Another process may have finished the job while we waited for the lock.
        todo = [n for n in todo if force or venv_state(n) != "ok"]
        started: list[tuple[str, subprocess.Popen | None, object, str, float]] = []
        for n in todo:
            t0 = time.monotonic()
            spec = VENVS[n]
            what = " + ".join([*spec.extra, f"tools/{spec.requirements}"])
            print(f"venvs: {n}: installing {what} on Python {spec.python} (log {root / (n + '.log')})", file=sys.stderr)
            try:
                proc, log, state = _start_sync(n, bases[spec.python], force)
            except RuntimeError as exc:
                print(f"venvs: {n}: FAILED: {exc}\n{_tail(root / (n + '.log'))}", file=sys.stderr)
                ok = False
                continue
            started.append((n, proc, log, state, t0))
        for n, proc, log, state, t0 in started:
            rc = proc.wait() if proc else 0
            log.close()  # type: ignore[attr-defined]
            dt = time.monotonic() - t0
            if rc == 0:
                (venv_dir(n) / STAMP).write_text(requirements_hash(n) + "\n")
                print(f"venvs: {n}: ready ({state} -> ok, {dt:.0f}s)", file=sys.stderr)
            else:
                ok = False
                print(
                    f"venvs: {n}: pip FAILED (rc {rc}, {dt:.0f}s); last lines of {root / (n + '.log')}:\n"
                    f"{_tail(root / (n + '.log'))}",
                    file=sys.stderr,
                )
    return ok


@contextmanager
def _all_locked(names: list[str]) -> Iterator[None]:
    if not names:
        yield
        return
    with _locked(names[0]), _all_locked(names[1:]):
        yield


def _expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names or ["all"]:
        if n == "all":
            out.extend(VENVS)
        elif n == "bpy":
            out.extend(BPY_VENVS)
        elif n in VENVS:
            out.append(n)
        else:
            sys.exit(f"venvs.py: unknown venv {n!r}; choose from {', '.join(VENVS)}, bpy, all")
    return list(dict.fromkeys(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_ensure = sub.add_parser("ensure", help="create/update venvs (default: all)")
    p_ensure.add_argument("names", nargs="*")
    p_ensure.add_argument("--force", action="store_true", help="recreate from scratch")
    p_python = sub.add_parser("python", help="print a venv's python path")
    p_python.add_argument("name", choices=list(VENVS))
    p_python.add_argument("--ensure", action="store_true", help="ensure the venv first")
    sub.add_parser("list", help="show venvs and their state")
    args = ap.parse_args(argv)

    if args.cmd == "ensure":
        return 0 if ensure(_expand(args.names), force=args.force) else 1
    if args.cmd == "python":
        if args.ensure and not ensure([args.name], quiet=True):
            return 1
        print(venv_python(args.name))
        return 0
    if args.cmd == "list":
        for n in VENVS:
            print(f"{n:8} {VENVS[n].python:5} {venv_state(n):8} {venv_dir(n)}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
