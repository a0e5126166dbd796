"""Writing tools against the REAL LiteLLM proxy (mock_response models) and against look-alike clients."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from devservers.litellm.config import ENHANCED_PROMPT, SHOT_LIST
from shotcaller.backends.base import BackendBusy, Cancelled
from shotcaller.backends.litellm.client import ChatAnswer, LiteLLMClient
from shotcaller.backends.litellm.errors import ContextWindowExceeded, UnknownModel
from shotcaller.shots import MediaKind
from shotcaller.writing import (
    ShotDraft,
    WritingError,
    clean_prompt,
    enhance_prompt,
    extract_json,
    parse_shot_list,
    script_to_shots,
    timeline,
)

SCRIPT = """EXT. HARBOUR - DAWN
Mist over the water. Fishing boats rock at their moorings.
Mara, a fisherwoman in a yellow raincoat, walks the length of the pier.
TITLE: The Last Catch"""


class Spy:
    """Wraps the real client: records what was asked, and can send each call to another model."""

    def __init__(self, client: LiteLLMClient, models: list[str] | None = None) -> None:
        self.client = client
        self.models = list(models or [])
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []

    def _model(self, model: str) -> str:
        return self.models.pop(0) if self.models else model

    def chat(self, model: str, messages: Any, **kwargs: Any) -> ChatAnswer:
        self.calls.append((model, [dict(m) for m in messages]))
        return self.client.chat(self._model(model), messages, **kwargs)

    def chat_stream(self, model: str, messages: Any, **kwargs: Any) -> ChatAnswer:
        self.calls.append((model, [dict(m) for m in messages]))
        return self.client.chat_stream(self._model(model), messages, **kwargs)


# --- enhance prompt ----------------------------------------------------------------------------


def test_enhance_prompt_through_the_proxy(client):
    spy = Spy(client)
    new = enhance_prompt(
        spy, "prompt-writer", "boats in a harbour at dawn", "Wan 2.2 TI2V 5B", negative_prompt="people"
    )
    assert new == ENHANCED_PROMPT  # the mock's 'Enhanced prompt:' label and quotes are gone
    ((model, messages),) = spy.calls
    assert model == "prompt-writer"
    assert messages[0]["role"] == "system" and "Wan 2.2 TI2V 5B" in messages[0]["content"]
    assert "boats in a harbour at dawn" in messages[1]["content"] and "people" in messages[1]["content"]


def test_enhance_prompt_errors(client):
    with pytest.raises(WritingError):
        enhance_prompt(client, "prompt-writer", "   ", "Wan")
    with pytest.raises(UnknownModel):
        enhance_prompt(client, "no-such-writer", "a fox", "Wan")


@pytest.mark.parametrize("model", ["prompt-writer-fenced", "prompt-writer-sure"])
def test_enhanced_prompt_is_the_prompt_alone_whatever_the_model_wraps_it_in(client, model):
    assert enhance_prompt(client, model, "boats in a harbour at dawn", "Wan 2.2") == ENHANCED_PROMPT


def test_an_answer_that_is_not_one_prompt_is_refused(client):
    with pytest.raises(WritingError) as caught:
        enhance_prompt(client, "prompt-writer-shot-list", "boats in a harbour at dawn", "Wan 2.2")
    assert caught.value.message == (
        "model 'prompt-writer-shot-list' did not answer with one prompt: it gave a list of 3 items"
        " (a shot list or several options)"
    )
    assert "unchanged" in caught.value.hint and "Script to Shots" in caught.value.hint


def test_writing_errors_from_the_proxy_carry_writing_hints(client):
    with pytest.raises(BackendBusy) as caught:
        enhance_prompt(client, "rate-limited", "a fox", "Wan")
    assert "another backend" not in caught.value.hint
    assert caught.value.hint == "Wait a moment and press Enhance Prompt again; nothing was changed."
    assert str(caught.value).count(". ") >= 1  # message and hint read as sentences


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("A fox in snow.", "A fox in snow."),
        ('"A fox in snow."', "A fox in snow."),
        ("Enhanced prompt: A fox\nin snow.", "A fox in snow."),
        ("**Prompt:**\n\u201cA fox in snow.\u201d", "A fox in snow."),
        ("```\nA fox in snow.\n```", "A fox in snow."),
        ("Sure!\nHere is the enhanced prompt:\n```text\nA fox in snow.\n```", "A fox in snow."),
        ("Here's a rewritten version: **A fox in snow.**", "A fox in snow."),
        ("Certainly! Here is your prompt: 'A fox in snow.'\nLet me know if you want changes.", "A fox in snow."),
        ("The enhanced prompt: A fox, at dusk: in snow.", "A fox, at dusk: in snow."),
        ("A fox in snow. Here is why: it is cold.", "A fox in snow. Here is why: it is cold."),
        ("  ", ""),
    ],
)
def test_clean_prompt(raw, clean):
    assert clean_prompt(raw) == clean


# --- script to shots ---------------------------------------------------------------------------


def test_script_to_shots_through_the_proxy(client):
    pieces: list[str] = []
    drafts = script_to_shots(client, "shot-writer", SCRIPT, fps=24, on_text=pieces.append)
    assert [d.name for d in drafts] == [s["name"] for s in SHOT_LIST["shots"]]
    assert [d.frames for d in drafts] == [72, 60, 48]  # 3 s, 2.5 s and 2 s at 24 fps
    assert drafts[0].negative_prompt == "text, watermark"
    assert drafts[2].media == MediaKind.IMAGE and drafts[1].media == MediaKind.VIDEO
    assert len(pieces) > 10  # streamed


def test_durations_follow_the_fps(client):
    drafts = script_to_shots(client, "shot-writer", SCRIPT, fps=29.97)
    assert [d.frames for d in drafts] == [90, 75, 60]
    assert timeline(drafts, 1) == [(drafts[0], 1, 91), (drafts[1], 91, 166), (drafts[2], 166, 226)]


def test_invalid_answer_is_asked_again_once_then_fails(client):
    spy = Spy(client)
    with pytest.raises(WritingError) as caught:
        script_to_shots(spy, "shot-writer-invalid", SCRIPT, fps=24)
    assert len(spy.calls) == 2
    assert "even when asked again" in caught.value.message
    assert "shot 1, prompt: Field required" in caught.value.message
    retry = spy.calls[1][1]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "shot 1, seconds" in retry[3]["content"] and "hologram" in retry[2]["content"]
    assert not caught.value.failover


def test_prose_instead_of_json_fails_clearly(client):
    with pytest.raises(WritingError) as caught:
        script_to_shots(client, "shot-writer-prose", SCRIPT, fps=24)
    assert "contains no JSON" in caught.value.message


def test_second_answer_can_repair_the_first(client):
    # First call answers invalid JSON, the retry goes to the model that answers a valid list.
    spy = Spy(client, ["shot-writer-invalid", "shot-writer"])
    drafts = script_to_shots(spy, "writer", SCRIPT, fps=24)
    assert len(spy.calls) == 2 and len(drafts) == 3


def test_script_errors_from_the_proxy_pass_through(client):
    with pytest.raises(ContextWindowExceeded) as caught:
        script_to_shots(client, "context-too-long", SCRIPT, fps=24)
    assert "split a long script" in caught.value.hint


def test_script_cancel(client):
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled):
        script_to_shots(client, "slow-mock", SCRIPT, fps=24, cancel=cancel)


def test_script_input_checks(client):
    with pytest.raises(WritingError):
        script_to_shots(client, "shot-writer", " \n", fps=24)
    with pytest.raises(WritingError):
        script_to_shots(client, "shot-writer", SCRIPT, fps=0)


# --- parsing, without a proxy ------------------------------------------------------------------


def test_extract_json_shapes():
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json("Sure.\n```\n[1, 2]\n```\nDone.") == [1, 2]
    assert extract_json('[{"x": 1}]') == [{"x": 1}]
    assert extract_json('Here you go: {"shots": []} Enjoy!') == {"shots": []}
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("no braces here")
    with pytest.raises(ValueError, match="malformed"):
        extract_json('{"shots": [1, 2,]')


def test_parse_shot_list_is_forgiving_where_it_is_safe():
    shots = parse_shot_list(
        '[{"name": " Opening   shot ", "prompt": "A  boat", "duration": "4 seconds", "media": "Still"},'
        ' {"name": "x" , "prompt": "y", "seconds": 1, "negative_prompt": null, "camera": "dolly"}]'
    )
    assert shots[0] == ShotDraft(name="Opening shot", prompt="A boat", seconds=4.0, media=MediaKind.IMAGE)
    assert shots[1].negative_prompt == "" and shots[1].media == MediaKind.VIDEO


def test_parse_shot_list_problems_are_specific():
    with pytest.raises(ValueError, match='no "shots" list'):
        parse_shot_list('{"scenes": []}')
    with pytest.raises(ValueError, match="at least 1"):
        parse_shot_list('{"shots": []}')
    with pytest.raises(ValueError, match="shot 2, seconds"):
        parse_shot_list('[{"name": "a", "prompt": "b", "seconds": 2}, {"name": "c", "prompt": "d", "seconds": 900}]')
    with pytest.raises(ValueError, match="use at most 1"):
        parse_shot_list(
            '[{"name": "a", "prompt": "b", "seconds": 2}, {"name": "c", "prompt": "d", "seconds": 2}]', max_shots=1
        )


class Scripted:
    """A look-alike client answering from a list."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    def chat_stream(self, model: str, messages: Any, **kwargs: Any) -> ChatAnswer:
        return ChatAnswer(self.answers.pop(0), "stop", model)

    def chat(self, model: str, messages: Any, **kwargs: Any) -> ChatAnswer:
        return ChatAnswer(self.answers.pop(0), "stop", model)


def test_duplicate_names_are_numbered_and_long_names_cut():
    long_name = "N" * 80
    answer = (
        '[{"name": "Pier", "prompt": "a", "seconds": 1}, {"name": "pier", "prompt": "b", "seconds": 1},'
        f' {{"name": "{long_name}", "prompt": "c", "seconds": 1}}]'
    )
    drafts = script_to_shots(Scripted(answer), "m", "script", fps=10)
    assert [d.name for d in drafts[:2]] == ["Pier", "pier 2"]
    assert len(drafts[2].name) == 63
    assert [d.frames for d in drafts] == [10, 10, 10]


def test_several_blocks_are_not_one_prompt():
    with pytest.raises(WritingError, match="it gave 2 blocks of text"):
        enhance_prompt(Scripted("Option A:\n```\nA fox.\n```\nOption B:\n```\nA wolf.\n```"), "m", "a fox", "Wan")


def test_enhance_empty_answer_is_an_error():
    with pytest.raises(WritingError, match="empty prompt"):
        enhance_prompt(Scripted('""'), "m", "a fox", "Wan")
