"""Fixtures for tests that run inside real Blender (the `bpy` module from PyPI).

These tests run only under a bpy venv (`python3 tools/venvs.py python bpy-4.2` and so on);
`bash tools/test.sh` runs them once per Blender version, each in its own process. Under the dev
venv (no bpy) nothing in this folder is collected.

The add-on under test is the BUILT extension zip, installed the way a user installs it
(`extensions.package_install_files`), so it is the module `bl_ext.user_default.shotcaller`,
with its bundled wheels extracted by Blender. Do not import the repository alias `shotcaller`
(tests/conftest.py) for Blender-side code; pure helpers from it are fine.

Fixtures:
    blender            (session) factory settings, empty file; returns the bpy module
    shotcaller_zip     (session) Path of the zip: $SHOTCALLER_ZIP, or built into a temp dir
    shotcaller_addon   (session) installs + enables the zip; yields the module name;
                       disables it at the end (no class or timer may stay registered: on exit,
                       Blender 4.2 segfaults and 4.5 hangs otherwise)
    sequencer_scene    (function) a fresh empty scene with a sequence editor, made the window's
                       (and on 5.0 the workspace's sequencer) scene; older scenes are removed
    blender_helpers    (session) registered_classes(), registered_timers(), registered_handlers(), disable_addon(),
                       build_zip(), ADDON_MODULE and other names
    dev_python         (session) $SHOTCALLER_DEV_PYTHON (the dev venv python, for starting the
                       reference servers as subprocesses); skips when unset
    blender_dirs       (session) the temp HOME / user resources / extensions dirs in use
    compat             (session) the installed extension's sequencer.compat: strip timing
                       (left_handle, duration, set_left_handle ...) that works from 4.2 to 5.3

Any DeprecationWarning that Blender raises for the extension's code or for these tests fails the test
(Blender 5.1 deprecated the strip timing properties, to be removed in 6.0): the next removal is
caught the day a newer bpy joins the matrix in tools/blenders.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDON_ID = "shotcaller"
REPO_MODULE = "user_default"
ADDON_MODULE = f"bl_ext.{REPO_MODULE}.{ADDON_ID}"

if importlib.util.find_spec("bpy") is None:
    # Dev venv: do not collect these tests at all (the core suite must not see them).
    collect_ignore_glob = ["*"]
else:
    # Blender's user folders must point at a temp dir BEFORE bpy is imported: Blender reads
    # these variables once, at import. Nothing may touch the real ~/.config/blender.
    if "bpy" in sys.modules:
        raise RuntimeError("tests/blender/conftest.py must set up Blender's dirs before bpy is imported")
    _TMP = Path(tempfile.mkdtemp(prefix="shotcaller-blender-"))
    BLENDER_DIRS = {
        "tmp": _TMP,
        "home": _TMP / "home",
        "resources": _TMP / "user",
        "extensions": _TMP / "extensions",
    }
    for _d in BLENDER_DIRS.values():
        _d.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SHOTCALLER_REAL_HOME", os.environ.get("HOME", ""))
    os.environ["HOME"] = str(BLENDER_DIRS["home"])
    os.environ["BLENDER_USER_RESOURCES"] = str(BLENDER_DIRS["resources"])
    os.environ["BLENDER_USER_EXTENSIONS"] = str(BLENDER_DIRS["extensions"])

    bpy = pytest.importorskip("bpy")
    import addon_utils


def project_deprecations(records: list[warnings.WarningMessage]) -> list[str]:
    """The DeprecationWarnings among `records` raised for the installed extension's code or the tests.

    Blender attributes its API deprecations to the calling line. Turning them into errors with a
    warnings filter does not work: Blender's property getter then leaves the exception set and the
    caller sees an unrelated SystemError, so they are collected and reported instead."""
    roots = [str(BLENDER_DIRS["extensions"]), str(REPO_ROOT / "tests"), str(REPO_ROOT / "tools")]
    return [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in records
        if issubclass(w.category, DeprecationWarning) and any(str(w.filename).startswith(r) for r in roots)
    ]


@pytest.fixture(autouse=True)
def _no_deprecated_blender_api() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", DeprecationWarning)
        yield
    found = project_deprecations(records)
    if found:
        pytest.fail("deprecated API used (Blender removes it in a later version):\n" + "\n".join(found))


def pytest_report_header(config: pytest.Config) -> list[str]:
    if "bpy" not in sys.modules:
        return []
    return [
        f"blender: bpy {bpy.app.version_string} (background={bpy.app.background})",
        f"blender user extensions: {os.environ.get('BLENDER_USER_EXTENSIONS')}",
        f"shotcaller zip: {os.environ.get('SHOTCALLER_ZIP') or '(built by the fixture)'}",
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    tmp = globals().get("_TMP")
    if tmp is not None and not os.environ.get("SHOTCALLER_KEEP_BLENDER_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# helpers (tests reach them through the `blender_helpers` fixture: with --import-mode=importlib a
# test module cannot `from conftest import ...`)


def registered_classes(module_prefix: str = ADDON_MODULE) -> list[type]:
    """Python classes from `module_prefix` that are still registered with Blender."""
    bases = [
        getattr(bpy.types, name)
        for name in (
            "Operator",
            "Macro",
            "Panel",
            "Menu",
            "Header",
            "UIList",
            "PropertyGroup",
            "AddonPreferences",
            "KeyingSetInfo",
            "RenderEngine",
            "Gizmo",
            "GizmoGroup",
            "NodeTree",
            "Node",
            "NodeSocket",
            "FileHandler",
        )
        if hasattr(bpy.types, name)
    ]
    found: list[type] = []
    seen: set[type] = set()
    stack = list(bases)
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub in seen:
                continue
            seen.add(sub)
            stack.append(sub)
            if (sub.__module__ or "").startswith(module_prefix) and getattr(sub, "is_registered", False):
                found.append(sub)
    return found


def registered_handlers(module_prefix: str = ADDON_MODULE) -> list[str]:
    """`bpy.app.handlers` entries (as "list_name:function") defined in `module_prefix`."""
    found = []
    for name in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, name)
        if not isinstance(handlers, list):
            continue
        for fn in handlers:
            if (getattr(fn, "__module__", "") or "").startswith(module_prefix):
                found.append(f"{name}:{getattr(fn, '__qualname__', fn)}")
    return found


def registered_timers(module_prefix: str = ADDON_MODULE) -> list[Callable[..., Any]]:
    """Functions of the add-on's modules (and their classes) that are registered as app timers.

    Blender cannot list its timers, so this checks every function defined at module or class
    level in `module_prefix` and its submodules. Closures and bound methods are not found.
    """
    found: list[Callable[..., Any]] = []
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == module_prefix or name.startswith(module_prefix + ".")):
            continue
        candidates: list[Any] = []
        for obj in list(vars(mod).values()):
            if isinstance(obj, type) and obj.__module__ == name:
                candidates.extend(getattr(obj, attr, None) for attr in vars(obj))
            else:
                candidates.append(obj)
        for obj in candidates:
            if not (inspect.isfunction(obj) or inspect.ismethod(obj)):
                continue
            if getattr(obj, "__module__", "") != name or obj in found:
                continue
            with contextlib.suppress(Exception):
                if bpy.app.timers.is_registered(obj):
                    found.append(obj)
    return found


def disable_addon(module: str = ADDON_MODULE) -> list[str]:
    """Disable the add-on; force-unregister leftovers so the process can still exit.

    Returns what the add-on's unregister() left behind: registered classes, timers (those that
    registered_timers() can find) and app handlers; empty when clean.
    """
    if module in bpy.context.preferences.addons or addon_utils.check(module)[1]:
        addon_utils.disable(module, default_set=True)
    leftovers = registered_classes(module)
    for cls in leftovers:
        with contextlib.suppress(RuntimeError):
            bpy.utils.unregister_class(cls)
    timers = registered_timers(module)
    for fn in timers:
        with contextlib.suppress(Exception):
            bpy.app.timers.unregister(fn)
    handlers = registered_handlers(module)
    for name in dir(bpy.app.handlers):
        lst = getattr(bpy.app.handlers, name)
        if isinstance(lst, list):
            for fn in list(lst):
                if (getattr(fn, "__module__", "") or "").startswith(module):
                    lst.remove(fn)
    return (
        [f"{c.__module__}.{c.__name__}" for c in leftovers]
        + [f"timer {fn.__module__}.{fn.__qualname__}" for fn in timers]
        + [f"handler {h}" for h in handlers]
    )


def build_zip(output_dir: Path) -> Path:
    """Build the extension with tools/build.py, using this process's bpy python for Blender's CLI."""
    env = dict(os.environ)
    env["HOME"] = os.environ.get("SHOTCALLER_REAL_HOME") or env["HOME"]
    for var in ("BLENDER_USER_RESOURCES", "BLENDER_USER_EXTENSIONS"):
        env.pop(var, None)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "build.py"),
            "--python",
            sys.executable,
            "--output-dir",
            str(output_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"tools/build.py failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def blender_dirs() -> dict[str, Path]:
    return dict(BLENDER_DIRS)


@pytest.fixture(scope="session")
def blender():
    """bpy, with factory settings and an empty file (once per session)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy


@pytest.fixture(scope="session")
def shotcaller_zip() -> Path:
    env_zip = os.environ.get("SHOTCALLER_ZIP")
    if env_zip:
        path = Path(env_zip).resolve()
        if not path.is_file():
            pytest.fail(f"SHOTCALLER_ZIP={env_zip} does not exist")
        return path
    return build_zip(BLENDER_DIRS["tmp"] / "dist")


@pytest.fixture(scope="session")
def shotcaller_addon(blender, shotcaller_zip: Path) -> Iterator[str]:
    """Install the zip into the user_default repo, enabled; yield `bl_ext.user_default.shotcaller`."""
    try:
        result = bpy.ops.extensions.package_install_files(
            filepath=str(shotcaller_zip),
            repo=REPO_MODULE,
            enable_on_install=True,
        )
        assert result == {"FINISHED"}, result
        assert addon_utils.check(ADDON_MODULE)[1], (
            f"{ADDON_MODULE} is installed but not enabled (its register() may have failed)"
        )
        assert ADDON_MODULE in bpy.context.preferences.addons
        yield ADDON_MODULE
    finally:
        leftovers = disable_addon(ADDON_MODULE)
        if leftovers:
            pytest.fail(f"unregister() left these registered: {leftovers}")


@pytest.fixture
def sequencer_scene(blender):
    """A fresh, empty scene with a sequence editor, active in the window; other scenes removed."""
    old = list(bpy.data.scenes)
    scene = bpy.data.scenes.new("ShotcallerTest")
    window = bpy.context.window
    if window is not None:
        window.scene = scene
    for s in old:
        bpy.data.scenes.remove(s, do_unlink=True)
    bpy.data.orphans_purge(do_recursive=True)
    scene.sequence_editor_create()
    workspace = bpy.context.workspace
    if workspace is not None and hasattr(workspace, "sequencer_scene"):  # Blender 5.0+
        workspace.sequencer_scene = scene
    return scene


@pytest.fixture(scope="session")
def blender_helpers() -> types.SimpleNamespace:
    """registered_classes(prefix), disable_addon(module), build_zip(dir), ADDON_MODULE, REPO_ROOT."""
    return types.SimpleNamespace(
        registered_classes=registered_classes,
        registered_handlers=registered_handlers,
        registered_timers=registered_timers,
        disable_addon=disable_addon,
        build_zip=build_zip,
        ADDON_MODULE=ADDON_MODULE,
        ADDON_ID=ADDON_ID,
        REPO_MODULE=REPO_MODULE,
        REPO_ROOT=REPO_ROOT,
        project_deprecations=project_deprecations,
    )


@pytest.fixture(scope="session")
def dev_python() -> str:
    exe = os.environ.get("SHOTCALLER_DEV_PYTHON")
    if not exe:
        pytest.skip("SHOTCALLER_DEV_PYTHON is not set (tools/test.sh sets it to the dev venv's python)")
    return exe


@pytest.fixture(scope="session")
def comfyui_url(dev_python, tmp_path_factory) -> Iterator[str]:
    """One reference ComfyUI server for the Blender process (dev venv python, free loopback port)."""
    from reference_servers import reference_server

    output = str(tmp_path_factory.mktemp("comfyui"))
    with reference_server(dev_python, "comfyui", "--output-dir", output, "--step-seconds", "0.01") as url:
        yield url


@pytest.fixture(scope="session")
def litellm_proxy(dev_python, tmp_path_factory) -> Iterator[str]:
    """One real LiteLLM proxy (its own venv) in front of the OpenAI media reference endpoint, for the whole
    Blender process: starting it takes about 9 s. Its master key is reference_servers.LITELLM_TEST_KEY."""
    from reference_servers import LITELLM_TEST_KEY, reference_server

    folder = str(tmp_path_factory.mktemp("litellm"))
    args = ("--master-key", LITELLM_TEST_KEY, "--dir", folder, "--video-job-seconds", "0.5")
    with reference_server(dev_python, "litellm", *args, timeout=300) as url:
        yield url


@pytest.fixture(scope="session")
def compat(shotcaller_addon):
    return importlib.import_module(f"{shotcaller_addon}.sequencer.compat")


@pytest.fixture
def prefs(shotcaller_addon, blender, tmp_path):
    """The add-on's preferences with no servers and takes under tmp_path; the session closed after.
    Modules that set up servers their own way define their own `prefs`."""
    preferences = blender.context.preferences.addons[shotcaller_addon].preferences
    preferences.instances.clear()
    preferences.output_folder = str(tmp_path / "takes")
    yield preferences
    importlib.import_module(f"{shotcaller_addon}.jobs.session").close_session()
    preferences.instances.clear()


@pytest.fixture
def mods(shotcaller_addon):
    """`mods("sequencer.compat")`: a module of the installed extension."""

    def module(name):
        return importlib.import_module(f"{shotcaller_addon}.{name}")

    return module


@pytest.fixture
def addon(shotcaller_addon, comfyui_url, tmp_path, blender):
    """The installed add-on pointed at the session's reference ComfyUI server, writing takes under tmp_path.
    Modules that need other servers define their own `addon`."""
    prefs = blender.context.preferences.addons[shotcaller_addon].preferences
    prefs.comfyui_url = comfyui_url
    prefs.output_folder = str(tmp_path / "takes")
    yield importlib.import_module(shotcaller_addon)
    importlib.import_module(f"{shotcaller_addon}.jobs.session").close_session()
