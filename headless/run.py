"""Headless generation: `blender -b film.blend --python <extension>/batch.py -- [options]`.

Timers never fire without a UI, so this drains the scheduler's events in its own
loop on the main thread, printing one line per event, then writes a JSON report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import bpy

from ..jobs.events import (
    TERMINAL_EVENTS,
    JobEvent,
    JobFailed,
    JobProgress,
    JobRouted,
    JobStarted,
    JobSucceeded,
    describe,
)
from ..mainthread import pump
from ..mainthread.recovery import recover_jobs
from ..mainthread.submission import submit_strips
from ..routing.registry import InstanceConfig
from ..settings.preferences import DEFAULT_URLS, current_settings, parse_media_models
from .credentials import credentials_note, with_environment_credentials
from .progress_lines import ProgressLines
from .report import ShotReport, write_report
from .selection import UnknownShot, pick_strips, shot_list


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="blender -b FILE.blend --python batch.py --",
        description="Generate Shotcaller shots without the UI.",
    )
    parser.add_argument("--quality", choices=("draft", "final"), default="draft")
    parser.add_argument(
        "--shots",
        nargs="+",
        metavar="NAME",
        help="strip names (exact, or any case); an unknown name stops the run before anything starts "
        "(default: every shot with a prompt)",
    )
    parser.add_argument("--list", action="store_true", help="print the scene's shots with status and takes, and exit")
    parser.add_argument("--scene", help="scene name (default: the active scene)")
    parser.add_argument("--comfyui-url", help="the ComfyUI server; replaces the preferences' ComfyUI servers")
    parser.add_argument(
        "--server",
        action="append",
        metavar="KIND[:NAME]=URL",
        help="a backend server (comfyui, wan2gp or litellm), KIND=URL or KIND:NAME=URL; repeat for a pool."
        " Replaces the preferences' list. Credentials come from $SHOTCALLER_<NAME>_TOKEN and friends (README)",
    )
    parser.add_argument(
        "--litellm-key-env",
        default="SHOTCALLER_LITELLM_KEY",
        metavar="VAR",
        help="environment variable holding the LiteLLM key (keys never go on the command line)",
    )
    parser.add_argument("--litellm-models", default="", help="LiteLLM media models, as in the preferences")
    parser.add_argument("--allow-cloud", action="store_true", help="let this run use cloud backends")
    parser.add_argument(
        "--online-access",
        action="store_true",
        help="turn on Blender's online access for this run (like blender --online-mode); "
        "servers off this machine and cloud models need it",
    )
    parser.add_argument("--templates", metavar="DIR", help="an extra ComfyUI template folder")
    parser.add_argument("--output-dir", metavar="DIR", help="where takes go (default: the preferences' folder)")
    parser.add_argument("--report", metavar="PATH", help="write a JSON report here")
    parser.add_argument("--save", action="store_true", help="save the .blend when done")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds before giving up (default 6 h)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
    if scene is None:
        print(f"shotcaller: no scene named '{args.scene}'", file=sys.stderr)
        return 2
    if scene.sequence_editor is None:
        print(f"shotcaller: scene '{scene.name}' has no sequencer strips", file=sys.stderr)
        return 2
    if args.list:
        for line in shot_list(scene):
            print(line, flush=True)
        return 0
    try:
        strips, skipped = pick_strips(scene, args.shots)
    except UnknownShot as exc:
        print(f"shotcaller: {exc}", file=sys.stderr)
        return 2
    reports = {strip.name: ShotReport(strip.name, shot_id=strip.shotcaller.shot_id) for strip in strips}
    for name, why in skipped:
        print(f"shotcaller: skipped '{name}': {why}", flush=True)
        reports[name] = ShotReport(name, status="skipped", error=why)

    settings = current_settings()
    overrides: dict[str, Any] = {}
    where = "Shotcaller's preferences"  # where the server addresses came from, for hints
    if args.comfyui_url:
        others = tuple(config for config in settings.instances if config.kind != "comfyui")
        comfyui = InstanceConfig(kind="comfyui", url=args.comfyui_url.strip(), slots=settings.jobs_per_server)
        overrides["comfyui_url"], overrides["instances"] = args.comfyui_url, (comfyui, *others)
        where = "the command line (--comfyui-url)"
    if args.templates:
        overrides["template_folder"] = os.path.abspath(args.templates)
    if args.output_dir:
        overrides["output_folder"] = os.path.abspath(args.output_dir)
    if args.server:
        try:
            overrides["instances"] = tuple(_server(value, args) for value in args.server)
        except ValueError as exc:
            print(f"shotcaller: {exc}", file=sys.stderr)
            return 2
        where = "the command line (--server)"
    if args.allow_cloud:
        scene.shotcaller_project.allow_cloud = True
    if args.online_access and not bpy.app.online_access:
        if bpy.app.online_access_override:
            print("shotcaller: Blender was started offline (--offline-mode); --online-access ignored", flush=True)
        else:
            bpy.context.preferences.system.use_online_access = True
    settings = with_environment_credentials(dataclasses.replace(settings, **overrides), os.environ)
    for line in server_lines(settings, where):
        print(line, flush=True)

    def explain(text: str) -> str:
        return text.replace("Shotcaller's preferences", where) if where != "Shotcaller's preferences" else text

    # Jobs a killed run left on a server are followed up first: their shots are not generated again.
    recovery = recover_jobs(scene, settings, regenerate_if_lost=True) if strips else None
    followed = dict(recovery.followed) if recovery is not None else {}
    for name, why in recovery.abandoned if recovery is not None else []:
        print(f"shotcaller: '{name}': the job a previous run left was not followed ({why}); generating it", flush=True)
    for name, job_id in followed.items():
        if name in reports:
            reports[name].job_id, reports[name].status, reports[name].submitted_at = job_id, "recovering", time.time()
            print(f"shotcaller: '{name}': following the job a previous run left on its server", flush=True)
    to_submit = [strip for strip in strips if strip.name not in followed]

    outcome = submit_strips(scene, to_submit, args.quality, settings) if to_submit else None
    if outcome is not None:
        for problem in outcome.problems + outcome.warnings:
            print(f"shotcaller: {explain(problem)}", flush=True)
        for strip_name, job_id in outcome.submitted:
            report = reports[strip_name]
            report.job_id, report.status, report.submitted_at = job_id, "queued", time.time()
        for strip in strips:
            report = reports[strip.name]
            report.shot_id = strip.shotcaller.shot_id
            if not report.job_id:
                report.status = "failed"
                report.error = explain(strip.shotcaller.message or " ".join(outcome.problems))
    else:
        print("shotcaller: no shot with a prompt to generate", flush=True)

    session = outcome.session if outcome is not None and outcome.session is not None else None
    session = session or (recovery.session if recovery is not None else None)
    if session is not None:
        _run_until_done(session, reports, args.timeout, explain)

    if args.report:
        write_report(args.report, scene, args.quality, reports)
    if args.save:
        if bpy.data.filepath:
            bpy.ops.wm.save_mainfile()
            print(f"shotcaller: saved {bpy.data.filepath}", flush=True)
        else:
            print("shotcaller: --save given but this .blend was never saved; nothing written", file=sys.stderr)
            return 2
    wanted = [r for r in reports.values() if r.status != "skipped"]
    generated = sum(1 for r in wanted if r.status == "done")
    left_out = f"; {len(skipped)} skipped" if skipped else ""
    print(f"shotcaller: {generated} of {len(wanted)} shot(s) got a take{left_out}", flush=True)
    return 0 if wanted and generated == len(wanted) else 1


def server_lines(settings: Any, where: str) -> list[str]:
    """Which servers this run uses and where their addresses came from (hints name the same place)."""
    configs = [c for c in settings.instances if c.enabled] or (
        [InstanceConfig(kind="comfyui", url=settings.comfyui_url)] if settings.comfyui_url else []
    )
    return [f"shotcaller: {c.kind} server {c.url} (from {where}){credentials_note(c)}" for c in configs]


def _server(value: str, args: argparse.Namespace) -> InstanceConfig:
    kind, _, url = value.partition("=")
    kind, _, name = kind.partition(":")  # KIND:NAME=URL names the server (and its credential variables)
    kind = kind.strip().lower()
    if kind not in DEFAULT_URLS or not url.strip():
        raise ValueError(
            f"--server {value!r}: write KIND=URL or KIND:NAME=URL with KIND one of {', '.join(DEFAULT_URLS)}"
        )
    options: dict[str, Any] = {}
    if kind == "litellm":
        options["api_key"] = os.environ.get(args.litellm_key_env, "")
        if args.litellm_models:
            options["models"] = parse_media_models(args.litellm_models)
    return InstanceConfig(kind=kind, name=name.strip(), url=url.strip(), options=options)


def _run_until_done(
    session: Any, reports: dict[str, ShotReport], timeout: float, explain: Callable[[str], str] = str
) -> None:
    by_job = {r.job_id: r for r in reports.values() if r.job_id}
    pending = set(by_job)
    deadline = time.monotonic() + timeout
    progress_lines = ProgressLines()

    def on_event(event: JobEvent, outcome: str) -> None:
        report = by_job.get(event.job_id)
        name = report.name if report is not None else ""
        line = explain(describe(event, name) + (f" -> {outcome}" if outcome else ""))
        if not isinstance(event, JobProgress) or progress_lines.wanted(event.job_id, event.fraction, event.message):
            print(line, flush=True)
        if isinstance(event, (JobRouted, *TERMINAL_EVENTS)):
            progress_lines.forget(event.job_id)  # another attempt's progress starts over
        if report is None:
            return
        if isinstance(event, JobRouted):
            report.backend, report.template, report.reason = event.backend, event.template, event.explanation
        elif isinstance(event, JobStarted):
            report.status, report.started_at = "running", report.started_at or time.time()
        elif isinstance(event, JobSucceeded):
            take = event.take
            report.take_files, report.record, report.timeline = list(take.files), event.record_path, outcome
            report.reason = take.routing_reason
            report.started_at, report.finished_at = take.started_at, take.finished_at
            report.seconds = round(take.finished_at - report.submitted_at, 3)
            placed = outcome.startswith("placed")
            report.status = "done" if placed else "failed"
            if not placed:
                report.error = outcome
        elif isinstance(event, JobFailed):
            report.status, report.error, report.finished_at = "failed", explain(event.text), time.time()
        elif isinstance(event, TERMINAL_EVENTS):
            report.status, report.finished_at = "cancelled", time.time()
        if isinstance(event, TERMINAL_EVENTS):
            pending.discard(event.job_id)
            if not isinstance(event, JobSucceeded):  # a failed or cancelled shot ran too: say for how long
                report.seconds = round(report.finished_at - report.submitted_at, 3)

    cancelled_at: float | None = None
    while pending:
        if pump.drain(session, budget_seconds=0.5, on_event=on_event):
            continue
        now = time.monotonic()
        if cancelled_at is None and now > deadline:
            print(f"shotcaller: timed out after {timeout:.0f} s; cancelling", flush=True)
            for job_id in pending:
                session.scheduler.cancel(job_id)
            cancelled_at = now
        elif cancelled_at is not None and now > cancelled_at + 30:
            for job_id in pending:
                report = by_job[job_id]
                report.status, report.error = "failed", "timed out; the server did not stop"
                report.finished_at = time.time()
                report.seconds = round(report.finished_at - report.submitted_at, 3)
            return
        time.sleep(0.05)
