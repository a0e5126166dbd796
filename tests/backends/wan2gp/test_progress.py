"""Job events to one forward-only progress bar, and HTTP statuses to typed errors."""

from __future__ import annotations

import pytest

from shotcaller.backends.base import BackendBusy, BackendUnreachable, ProtocolError
from shotcaller.backends.wan2gp.client import JobEvent
from shotcaller.backends.wan2gp.errors import http_error
from shotcaller.backends.wan2gp.progress import RUN_END, JobProgress, MonotonicReporter, phase_progress


def step(ts, n, total=10):
    data = {"phase": "inference", "status": "Denoising", "progress": 100 * n // total, "current_step": n,
            "total_steps": total}  # fmt: skip
    return JobEvent("progress", ts, data)


def test_events_repeated_across_polls_apply_once_and_noise_is_ignored():
    reports = []
    tracker = JobProgress(MonotonicReporter(reports.append))
    first = [
        JobEvent("started", 1.0, {"tasks": 1}),
        JobEvent("status", 1.1, "Loading model Wan2.2 ..."),
        JobEvent("stream", 1.2, {"stream": "stderr", "text": "INFO Processing request of type"}),
        step(1.3, 1),
    ]
    tracker.apply(first)
    tracker.apply([*first[-2:], step(1.4, 2), step(1.4, 2), JobEvent("mystery", 1.5, None)])  # the last 20, again
    tracker.apply([step(1.35, 1)])  # older than what was seen: ignored
    tracker.apply([JobEvent("error", 1.6, {"message": "boom", "stage": "generation"}),
                   JobEvent("completed", 1.7, {"success": False})])  # fmt: skip
    messages = [r.message for r in reports]
    assert messages == ["started on Wan2GP", "Loading model Wan2.2 ...", "Denoising (step 1/10)",
                        "Denoising (step 2/10)", "Wan2GP reports the job did not succeed"]  # fmt: skip
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] < RUN_END  # a failed job is never "finished"
    assert tracker.errors == ["boom"] and tracker.succeeded is False
    assert tracker.stream[-1] == "INFO Processing request of type"  # kept for explaining a failure


@pytest.mark.parametrize(
    ("data", "fraction", "message"),
    [
        ({"phase": "loading_model", "status": "Loading model", "progress": 0}, 0.05, "Loading model"),
        ({"phase": "inference", "current_step": 5, "total_steps": 10}, 0.54, "denoising (step 5/10)"),
        # "inference" without steps is the server's name for what it does not recognise: not "denoising".
        ({"phase": "inference", "progress": 50, "status": "Prompt 1/1 | Encoding Prompt"}, 0.5,
         "Prompt 1/1 | Encoding Prompt"),
        ({"phase": "inference", "progress": 15}, 0.185, None),
        ({"phase": "inference_stage_2", "current_step": 5, "total_steps": 10}, 0.72,
         "denoising, second pass (step 5/10)"),
        ({"phase": "decoding", "progress": 100}, 0.93, "decoding the video"),
        ({"progress": 50}, 0.5, None),  # unknown phase: the whole run
        ({"phase": "inference", "current_step": 12, "total_steps": 10, "status": "Denoising"}, 0.88,
         "Denoising (step 12/10)"),  # clamped
    ],
)  # fmt: skip
def test_phase_progress(data, fraction, message):
    found, words = phase_progress(data)
    assert found == pytest.approx(fraction, abs=0.005)
    assert words == message


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (406, b'{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Not Acceptable: Client must'
              b' accept both application/json and text/event-stream"}}', ProtocolError, "Not Acceptable"),
        (400, b"Invalid Content-Type header", ProtocolError, "Invalid Content-Type header"),
        (404, b"Not Found", BackendUnreachable, "no MCP endpoint"),
        (429, b"", BackendBusy, "busy"),
        (503, b"", BackendBusy, "busy"),
        (500, b"Internal Server Error", ProtocolError, "internal error"),
        (405, b'{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Method Not Allowed: Session'
              b' termination not supported"}}', ProtocolError, "Session termination"),
    ],
)  # fmt: skip
def test_http_statuses(status, body, error, match):
    found = http_error(status, body, "http://127.0.0.1:7866/mcp/", "ping")
    assert type(found) is error and match in found.message and found.hint


def test_a_completed_success_is_finished_and_a_window_that_starts_late_is_a_gap():
    reports = []
    tracker = JobProgress(MonotonicReporter(reports.append))
    assert not tracker.gap([step(1.0, 1)])  # nothing seen yet: nothing missed
    tracker.apply([step(1.0, 1)])
    assert not tracker.gap([step(1.0, 1), step(1.2, 2)])
    assert tracker.gap([step(1.5, 4), step(1.6, 5)])  # steps 2 and 3 fell out of the window
    tracker.apply([JobEvent("completed", 2.0, {"success": True})])
    assert reports[-1].message == "finished on Wan2GP" and reports[-1].fraction == RUN_END


RETRY_LINE = "      WARNING  Retrying in 2s [Retry 2/5].   _http.py:329"


def test_hub_retries_in_the_console_are_said_and_other_console_lines_are_not():
    reports = []
    tracker = JobProgress(MonotonicReporter(reports.append))
    tracker.apply([JobEvent("status", 1.0, "Loading model Wan2.1 Text2video 1.3B..."),
                   JobEvent("stream", 1.1, {"stream": "stderr", "text": "  INFO  Processing request of type"}),
                   JobEvent("stream", 1.2, {"stream": "stderr", "text": RETRY_LINE})])  # fmt: skip
    assert [r.message for r in reports] == [
        "Loading model Wan2.1 Text2video 1.3B...",
        "Wan2GP cannot reach the Hugging Face hub for model weights (retry 2/5)",
    ]


def test_a_shorter_report_of_the_same_thing_keeps_the_detail_already_shown():
    reports = []
    tracker = JobProgress(MonotonicReporter(reports.append))
    tracker.reporter.update(0.05, "started on Wan2GP (Wan2.2 TextImage2video 5B)")  # as the backend says it
    tracker.apply([
        JobEvent("started", 1.0, {"tasks": 1}),
        JobEvent("status", 1.1, "Loading model Wan2.2 TextImage2video 5B..."),
        JobEvent("progress", 1.2, {"phase": "loading_model", "status": "Loading model", "progress": 5}),
        step(1.3, 1),
    ])  # fmt: skip
    messages = [r.message for r in reports]
    messages = [m for i, m in enumerate(messages) if i == 0 or messages[i - 1] != m]  # the bar moved: same words
    assert messages == ["started on Wan2GP (Wan2.2 TextImage2video 5B)", "Loading model Wan2.2 TextImage2video 5B...",
                        "Denoising (step 1/10)"]  # fmt: skip
