"""What the writing tools and transcription share: a language-model request and its late answer.

`language_request` checks the first enabled LiteLLM server of the preferences (URL, online access,
the project's cloud settings), or raises Refused with what to change. The request then runs on a
worker thread (`run_in_background`) with plain inputs only, and that thread builds the client and
imports what the request needs (the LiteLLM client, the writing prompts, pydantic: 140 modules, a
quarter of a second on the main thread at the first press); its answer is applied on the main
thread by a timer of this module's own (the pump would import the whole core), after the operator
has finished:
`notify` reports it (through SEQUENCER_OT_shotcaller_report), `push_undo` makes it an undo step,
`redraw` shows it. The LiteLLM key stays in the preferences: it is handed to the client, and
never written into a property, a report or a log line (`error_text` scrubs it).

Used by enhance.py, script.py and transcribe.py next to it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import EnumProperty, StringProperty

from ..settings.preferences import language_service

if TYPE_CHECKING:  # the clients are imported on a worker thread at first use (run_in_background)
    from collections.abc import Callable

    from ..backends.litellm.client import LiteLLMClient

log = logging.getLogger(__name__)

WRITING_TIMEOUT = 120.0  # seconds of silence a local model may take before it starts answering
ANSWER_POLL_SECONDS = 0.1  # how often the UI timer looks for a finished request
MESSAGE_LIMIT = 2000


class Refused(Exception):
    """The request may not or cannot be sent; the message says what to change."""


@dataclass(frozen=True)
class LanguageRequest:
    url: str
    model: str
    online_access: bool
    secret: str = field(default="", repr=False)  # the key: handed to the client, scrubbed out of messages

    def client(self) -> LiteLLMClient:
        """The client for this request. Worker thread: it imports the LiteLLM client on first use."""
        from ..backends.litellm.client import LiteLLMClient
        from ..backends.policy import TransportPolicy

        policy = TransportPolicy(online_access=self.online_access)
        return LiteLLMClient(self.url, self.secret, timeout=WRITING_TIMEOUT, policy=policy)


def language_request(context: Any, scene: Any, *, model_setting: str, purpose: str) -> LanguageRequest:
    """A client for the first enabled LiteLLM server, after every safety check; Refused otherwise.

    `model_setting` is "writing_model" or "transcription_model"; `purpose` completes "... may send
    {purpose} to a cloud provider".
    """
    from ..backends.urls import UnsafeURL, check_service_url  # the standard library only

    service = language_service(context)
    if service is None:
        raise Refused(
            "No LiteLLM server is set up: add one in Preferences > Add-ons > Shotcaller > Servers"
            " (the LiteLLM button), with its URL and key, and keep it enabled."
        )
    model = str(getattr(service, model_setting, "") or "").strip()
    if not model:
        label = "Writing model" if model_setting == "writing_model" else "Transcription model"
        raise Refused(f"No model is set: fill in '{label}' in Preferences > Add-ons > Shotcaller.")
    try:
        url = check_service_url(service.url, online_access=bool(bpy.app.online_access), service="the LiteLLM server")
    except UnsafeURL as exc:
        raise Refused(sentence(str(exc))) from None
    if not service.is_local:
        project = scene.shotcaller_project
        if project.force_local:
            raise Refused(
                f"This project is set to Force Local, and the LiteLLM server at {url} may send {purpose} to a"
                " cloud provider. If its models run on your own machines, set its 'Where' to Local in"
                " Preferences > Add-ons > Shotcaller; otherwise untick Force Local in Shotcaller > Project."
            )
        if not project.allow_cloud:
            raise Refused(
                f"The LiteLLM server at {url} may send {purpose} to a cloud provider, and this project does not"
                " allow cloud. Tick Allow Cloud in Shotcaller > Project, or, if its models run on your own"
                " machines, set its 'Where' to Local in Preferences > Add-ons > Shotcaller."
            )
    return LanguageRequest(url, model, bool(bpy.app.online_access), service.api_key)


def run_in_background(work: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
    """`work()` on a worker thread, then `done(result, error)` on the main thread. In the UI a timer
    of this module's own delivers the answer; headless the batch's loop drains it (timers never fire)."""
    from ..jobs import background  # the standard library only

    background.submit(work, done)
    if not bpy.app.background and not bpy.app.timers.is_registered(_deliver_answers):
        bpy.app.timers.register(_deliver_answers, first_interval=ANSWER_POLL_SECONDS)


def _deliver_answers() -> float | None:
    """UI timer: apply the finished requests' answers; stops when none is running (the pump, once it
    runs, drains the same queue: each answer is applied once, by whichever comes first)."""
    from ..jobs import background

    background.drain()
    return ANSWER_POLL_SECONDS if background.has_work() else None


def error_text(error: BaseException, secret: str = "") -> str:
    """One readable line for the panel and the report, never carrying the key."""
    from ..backends.base import BackendError

    if isinstance(error, BackendError):
        text = error.message.strip()
        if error.hint:
            text = f"{text}{'' if text.endswith(('.', '!', '?')) else '.'} {error.hint}"
    elif isinstance(error, Refused):
        text = str(error)
    else:
        text = f"unexpected {type(error).__name__}: {error}"
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:MESSAGE_LIMIT]


def sentence(text: str) -> str:
    """The text with a capital first letter."""
    return text[:1].upper() + text[1:] if text else text


def notify(level: str, message: str) -> None:
    """A report from the main thread after an operator has finished (an answer arrived later).

    Always logged; in the UI it also goes to Blender's status bar and Info log. Headless, a
    report of ERROR raises in the caller, so only the log line is written there.
    """
    log.log(logging.ERROR if level == "ERROR" else logging.INFO, "%s", message)
    if bpy.app.background:
        return
    with contextlib.suppress(RuntimeError):  # an ERROR report raises once it is shown: expected
        bpy.ops.sequencer.shotcaller_report(level=level, message=message)


def push_undo(message: str) -> None:
    """Make what an answer changed its own undo step.

    Answers are applied from a timer, outside any operator: without a step of their own, undoing
    the next operation would also take them away. Headless Blender keeps no undo stack.
    """
    if bpy.app.background:
        return
    with contextlib.suppress(RuntimeError):
        bpy.ops.ed.undo_push(message=message)


def redraw() -> None:
    """Repaint the sequencer areas only: the rest of Blender need not repaint."""
    from ..mainthread.redraw import redraw_sequencers

    redraw_sequencers()


class SEQUENCER_OT_shotcaller_report(bpy.types.Operator):
    """Show a message from Shotcaller in the status bar"""

    bl_idname = "sequencer.shotcaller_report"
    bl_label = "Shotcaller Message"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[("INFO", "Info", ""), ("WARNING", "Warning", ""), ("ERROR", "Error", "")])
    message: StringProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({self.level}, self.message)
        return {"FINISHED"}


CLASSES = (SEQUENCER_OT_shotcaller_report,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    if bpy.app.timers.is_registered(_deliver_answers):
        bpy.app.timers.unregister(_deliver_answers)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
