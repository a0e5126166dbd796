#!/usr/bin/env python3
"""Download the runtime wheels bundled in the extension and keep the manifest in step (stdlib only).

    python3 tools/wheels.py [ensure]          # download if needed, write the manifest's wheels list, check
    python3 tools/wheels.py check             # no download: wheels/ vs tools/requirements-runtime.txt vs manifest
    python3 tools/wheels.py list              # print the wheel list as it belongs in the manifest

The pins are tools/requirements-runtime.txt. For each Python that a supported Blender runs
(tools/blenders.py: 3.11 and 3.13) and each platform in blender_manifest.toml the wheels are fetched
with `pip download --only-binary=:all: --no-deps --platform ... --python-version X.Y
--implementation cp --abi cpXY`; pure-Python wheels come out identical for every one and are kept
once. wheels/ is git-ignored; `.stamp` in it records which pins, Pythons and platforms it holds, so a
second `ensure` does not touch the network.

Blender works out which Pythons an extension supports from the file names of its bundled wheels and
refuses to install it on any other ("This Python version (3.13) isn't compatible with (3.11)"), while
its validator accepts such a zip without a word. So `check` (run by every build) fails, naming the
wheel, Python and platform, when a binary wheel does not cover every (Python, platform) pair.

Any python with pip works (pip download does not depend on the running interpreter's version);
pass --pip-python to use another interpreter's pip.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blenders

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
REQUIREMENTS = ROOT / "tools" / "requirements-runtime.txt"
WHEELS = ROOT / "wheels"
STAMP = WHEELS / ".stamp"

# Blender platform -> pip --platform tags (pip picks the best wheel among them).
# Blender 4.2+ needs glibc 2.28 and macOS 11.2, so newer manylinux/macOS tags would also load; the
# list below prefers what pydantic-core and friends publish.
PLATFORM_TAGS: dict[str, list[str]] = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_11_0_x86_64"],
    "windows-arm64": ["win_arm64"],
    "linux-arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
}


def log(msg: str) -> None:
    print(f"wheels: {msg}", file=sys.stderr)


def read_pins() -> list[str]:
    pins = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line):
            sys.exit(f"wheels.py: {REQUIREMENTS.name}: not an exact pin: {line!r}")
        pins.append(line)
    return pins


def read_manifest() -> dict:
    with open(MANIFEST, "rb") as fh:
        return tomllib.load(fh)


def manifest_platforms(manifest: dict) -> list[str]:
    platforms = manifest.get("platforms") or []
    if not platforms:
        sys.exit("wheels.py: blender_manifest.toml has no `platforms`; list them to bundle binary wheels")
    unknown = [p for p in platforms if p not in PLATFORM_TAGS]
    if unknown:
        sys.exit(f"wheels.py: no pip platform tags known for {unknown}")
    return platforms


def stamp_text(pins: list[str], platforms: list[str]) -> str:
    h = hashlib.sha256("\n".join([*pins, "--", *platforms, "--", *blenders.pythons()]).encode()).hexdigest()
    return f"{h}\n"


def present_wheels() -> list[str]:
    if not WHEELS.is_dir():
        return []
    return sorted(p.name for p in WHEELS.glob("*.whl"))


def stamp_files() -> list[str] | None:
    """The wheel names recorded by the last successful download, or None."""
    if not STAMP.exists():
        return None
    lines = STAMP.read_text().splitlines()
    return sorted(lines[1:])


def is_current(pins: list[str], platforms: list[str]) -> bool:
    if not STAMP.exists():
        return False
    lines = STAMP.read_text().splitlines()
    if not lines or lines[0] + "\n" != stamp_text(pins, platforms):
        return False
    return sorted(lines[1:]) == present_wheels()


def download(pins: list[str], platforms: list[str], pip_python: str) -> list[str]:
    """Download into a temp dir, then replace wheels/ contents. Returns the wheel names."""
    with tempfile.TemporaryDirectory(prefix="shotcaller-wheels-") as tmp:
        names: set[str] = set()
        for python in blenders.pythons():
            abi = "cp" + python.replace(".", "")
            for platform in platforms:
                dest = Path(tmp) / python / platform
                cmd = [
                    pip_python,
                    "-m",
                    "pip",
                    "download",
                    "--no-input",
                    "--disable-pip-version-check",
                    "--progress-bar",
                    "off",
                    "--quiet",
                    "--only-binary=:all:",
                    "--no-deps",
                    "--python-version",
                    python,
                    "--implementation",
                    "cp",
                    "--abi",
                    abi,
                    "--abi",
                    "abi3",
                    "--abi",
                    "none",
                    "--dest",
                    str(dest),
                ]
                for tag in PLATFORM_TAGS[platform]:
                    cmd += ["--platform", tag]
                cmd += pins
                log(f"downloading for Python {python} on {platform} ({', '.join(PLATFORM_TAGS[platform])})")
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.stderr.write(proc.stdout + proc.stderr)
                    sys.exit(
                        f"wheels.py: pip download failed for Python {python} on {platform} (rc {proc.returncode}): "
                        "a pin in tools/requirements-runtime.txt has no wheel for it"
                    )
                got = sorted(p.name for p in dest.glob("*.whl"))
                if len(got) != len(pins):
                    sys.exit(f"wheels.py: expected {len(pins)} wheels for Python {python} on {platform}, got {got}")
                for name in got:
                    target = Path(tmp) / "all" / name
                    target.parent.mkdir(exist_ok=True)
                    if not target.exists():
                        shutil.copy2(dest / name, target)
                    names.add(name)
        WHEELS.mkdir(exist_ok=True)
        for old in WHEELS.glob("*.whl"):
            if old.name not in names:
                log(f"removing stale {old.name}")
                old.unlink()
        for name in sorted(names):
            src = Path(tmp) / "all" / name
            if not (WHEELS / name).exists() or (WHEELS / name).stat().st_size != src.stat().st_size:
                shutil.copy2(src, WHEELS / name)
    result = sorted(names)
    STAMP.write_text(stamp_text(pins, platforms) + "".join(n + "\n" for n in result))
    return result


# Blender platform -> does a wheel platform tag (one of a compressed set) load there?
def _platform_matches(blender_platform: str, tag: str) -> bool:
    os_name, _, arch = blender_platform.partition("-")
    if os_name == "linux":
        machine = {"x64": "x86_64", "arm64": "aarch64"}[arch]
        return (tag.startswith("manylinux") or tag.startswith("linux")) and tag.endswith("_" + machine)
    if os_name == "windows":
        return tag == {"x64": "win_amd64", "arm64": "win_arm64"}[arch]
    if os_name == "macos":
        machine = {"x64": "x86_64", "arm64": "arm64"}[arch]
        return tag.startswith("macosx_") and (tag.endswith("_" + machine) or tag.endswith("_universal2"))
    return False


def _python_matches(python: str, py_tags: list[str], abi_tags: list[str]) -> bool:
    """Does a wheel with these python and ABI tags load on CPython `python` ("3.13")?"""
    want = int(python.replace(".", "")[1:])  # 3.13 -> 13
    for tag in py_tags:
        if tag == f"cp3{want}" or tag in ("py3", "py2.py3"):
            return True
        if tag.startswith("cp3") and "abi3" in abi_tags and int(tag[3:]) <= want:
            return True
    return False


def coverage_problems(names: list[str], pythons: list[str], platforms: list[str]) -> list[str]:
    """For every distribution with a binary wheel: each (Python, platform) pair it does not cover.

    Blender's validator does not check this; Blender's installer refuses the extension on a Python
    that no bundled wheel names, and an extension lacking a platform's wheel fails there at import."""
    by_dist: dict[str, list[tuple[list[str], list[str], list[str]]]] = {}
    for name in names:
        parts = name[: -len(".whl")].split("-")
        py_tags, abi_tags, plat_tags = (t.split(".") for t in parts[-3:])
        by_dist.setdefault(f"{parts[0]}-{parts[1]}", []).append((py_tags, abi_tags, plat_tags))
    problems = []
    for dist, wheels_of in sorted(by_dist.items()):
        if all(plats == ["any"] for _, _, plats in wheels_of):
            continue
        for python in pythons:
            for platform in platforms:
                if not any(
                    _python_matches(python, py, abi)
                    and (plats == ["any"] or any(_platform_matches(platform, t) for t in plats))
                    for py, abi, plats in wheels_of
                ):
                    problems.append(
                        f"{dist} has no binary wheel for Python {python} on {platform}: "
                        f"Blender refuses to install the extension there (run `python3 tools/wheels.py ensure`)"
                    )
    return problems


def manifest_entries(names: list[str]) -> list[str]:
    return [f"./wheels/{n}" for n in sorted(names)]


def sync_manifest(names: list[str]) -> bool:
    """Rewrite the `wheels = [...]` array of blender_manifest.toml. True if the file changed."""
    text = MANIFEST.read_text(encoding="utf-8")
    block = "wheels = [\n" + "".join(f'  "{e}",\n' for e in manifest_entries(names)) + "]"
    pattern = re.compile(r"^wheels\s*=\s*\[.*?\]", re.S | re.M)
    if pattern.search(text):
        new = pattern.sub(lambda _m: block, text, count=1)
    else:
        # Top-level keys must come before the first [table].
        m = re.search(r"^\[", text, re.M)
        pos = m.start() if m else len(text)
        new = text[:pos].rstrip("\n") + "\n\n" + block + "\n\n" + text[pos:]
    if new != text:
        MANIFEST.write_text(new, encoding="utf-8")
        log(f"rewrote the wheels list in {MANIFEST.name} ({len(names)} wheels)")
        return True
    return False


def check(names: list[str]) -> list[str]:
    """Problems with wheels/ vs the manifest vs the pins (empty list when consistent)."""
    problems = []
    manifest = read_manifest()
    listed = sorted(manifest.get("wheels") or [])
    expected = manifest_entries(names)
    for e in sorted(set(expected) - set(listed)):
        problems.append(f"in wheels/ but not in the manifest: {e}")
    for e in sorted(set(listed) - set(expected)):
        problems.append(f"in the manifest but not in wheels/: {e}")
    problems += coverage_problems(names, blenders.pythons(), manifest_platforms(manifest))
    pins = read_pins()
    for pin in pins:
        dist, version = pin.split("==")
        norm = re.sub(r"[-_.]+", "_", dist).lower()
        if not any(n.lower().startswith(f"{norm}-{version}-") for n in names):
            problems.append(f"no wheel for pin {pin}")
    for n in names:
        dist, version = n.split("-")[:2]
        if not any(re.sub(r"[-_.]+", "_", p.split("==")[0]).lower() == dist.lower() for p in pins):
            problems.append(f"wheel without a pin: {n}")
        elif f"{dist.lower()}=={version}" not in {
            re.sub(r"[-_.]+", "_", p.split("==")[0]).lower() + "==" + p.split("==")[1] for p in pins
        }:
            problems.append(f"wheel version differs from its pin: {n}")
    return problems


def default_pip_python() -> str:
    try:
        import pip  # noqa: F401
    except ImportError:
        pass
    else:
        return sys.executable
    sys.path.insert(0, str(ROOT / "tools"))
    import venvs

    if not venvs.ensure(["dev"], quiet=True):
        sys.exit("wheels.py: this python has no pip and the dev venv could not be made")
    return str(venvs.venv_python("dev"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", nargs="?", default="ensure", choices=["ensure", "check", "list"])
    ap.add_argument("--sync-manifest", action="store_true", help="rewrite the manifest wheels list (ensure does)")
    ap.add_argument("--force", action="store_true", help="download even if wheels/ looks current")
    ap.add_argument("--pip-python", default=os.environ.get("SHOTCALLER_PIP_PYTHON"), help="python whose pip to use")
    args = ap.parse_args(argv)

    pins = read_pins()
    platforms = manifest_platforms(read_manifest())

    if args.cmd == "ensure":
        if args.force or not is_current(pins, platforms):
            names = download(pins, platforms, args.pip_python or default_pip_python())
            log(f"{len(names)} wheels in {WHEELS}")
        else:
            names = present_wheels()
            log(f"up to date ({len(names)} wheels in {WHEELS})")
    else:
        recorded = stamp_files()
        if args.cmd == "check" and not is_current(pins, platforms):
            log("wheels/ is missing or out of date: run `python3 tools/wheels.py ensure`")
            return 1
        names = recorded if recorded is not None else present_wheels()

    if args.cmd == "list":
        for e in manifest_entries(names):
            print(f'  "{e}",')
        return 0

    if args.cmd == "ensure" or args.sync_manifest:
        sync_manifest(names)
    problems = check(names)
    if problems:
        for p in problems:
            log(f"MISMATCH: {p}")
        log("fix: python3 tools/wheels.py ensure")
        return 1
    log(f"manifest wheels list matches wheels/ ({len(names)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
