from shotcaller.jobs.events import CandidateNote
from shotcaller.panels import text

MESSAGE = (
    "ComfyUI at http://127.0.0.1:9 is unreachable (connection refused). Is ComfyUI running? Start it with "
    "python main.py --listen 127.0.0.1 --port 9, or set the server's address in Shotcaller's preferences "
    "(Edit > Preferences > Add-ons > Shotcaller > Servers); the address came from the preferences."
)


def test_wrapping_keeps_every_word_and_respects_the_width():
    for width in (20, 33, 48, 80):
        lines = text.wrap(MESSAGE, width)
        assert all(len(line) <= width for line in lines)
        assert " ".join(lines).split() == MESSAGE.split()


def test_a_long_url_is_split_not_cut():
    url = "http://gpu-box.studio.example:8188/" + "a" * 70
    lines = text.wrap(f"see {url}", 30)
    assert "".join(lines).replace("see", "", 1).strip() == url
    assert all(len(line) <= 30 for line in lines)


def test_paragraphs_stay_apart_and_empty_text_draws_nothing():
    assert text.wrap("first\nsecond line", 40) == ["first", "second line"]
    assert text.wrap("", 40) == []


def test_width_in_characters_follows_the_region_and_the_ui_scale():
    assert text.chars_for_width(None) == text.UNKNOWN_WIDTH_CHARS
    wide, scaled = text.chars_for_width(400), text.chars_for_width(400, ui_scale=2.0)
    assert wide > scaled >= text.NARROWEST
    assert text.chars_for_width(50) == text.NARROWEST


def test_candidates_round_trip_and_damaged_values_give_nothing():
    notes = [CandidateNote("ComfyUI on a with SDXL", True, "chosen"), CandidateNote("Wan2GP on b", False, "busy")]
    parsed = text.parse_candidates(text.candidates_json(notes))
    assert parsed == [
        {"label": "ComfyUI on a with SDXL", "accepted": True, "reason": "chosen"},
        {"label": "Wan2GP on b", "accepted": False, "reason": "busy"},
    ]
    assert text.parse_candidates("{not json") == [] and text.parse_candidates('{"a": 1}') == []
