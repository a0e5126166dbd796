"""Templates: loading, validation messages, and how shot values land in the workflow."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from shotcaller.backends.comfyui.templates import (
    BUNDLED_TEMPLATE_DIR,
    InputBinding,
    TemplateError,
    load_template,
    load_templates,
)
from shotcaller.shots import MediaKind, Quality, make_spec

WAN = "wan22_ti2v_5b_t2v"


def spec(**fields):
    values = {"shot_id": "s" * 32, "prompt": "a lighthouse at dusk", "width": 64, "height": 64,
              "frame_count": 9, "fps": 16.0, "seed": 7}
    values.update(fields)
    return make_spec(**values)


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled Wan template, to break in different ways."""
    directory = tmp_path / "templates"
    directory.mkdir()
    for name in (f"{WAN}.json", f"{WAN}.binding.json"):
        shutil.copy(os.path.join(BUNDLED_TEMPLATE_DIR, name), directory / name)
    return directory


def edit_binding(directory: Path, change) -> Path:
    path = directory / f"{WAN}.binding.json"
    binding = json.loads(path.read_text())
    change(binding)
    path.write_text(json.dumps(binding, indent=2))
    return path


def test_bundled_template_loads_with_its_metadata_and_models():
    [template] = [t for t in load_templates([BUNDLED_TEMPLATE_DIR]) if t.name == WAN]
    assert template.media is MediaKind.VIDEO
    assert template.quality is Quality.DRAFT
    assert template.model == "Wan 2.2 TI2V 5B"
    assert template.vram_gb == 8.0
    assert template.label == "Wan 2.2 TI2V 5B text to video"
    # Model file names are read from the workflow, not repeated in the binding.
    assert [(m.node_id, m.class_type, m.folder, m.filename) for m in template.required_models] == [
        ("37", "UNETLoader", "diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"),
        ("38", "CLIPLoader", "text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
        ("39", "VAELoader", "vae", "wan2.2_vae.safetensors"),
    ]
    assert template.node_classes["58"] == "SaveVideo"
    assert not template.needs_init_image


def test_build_prompt_applies_every_bound_parameter():
    template = load_template(os.path.join(BUNDLED_TEMPLATE_DIR, f"{WAN}.binding.json"))
    shot = spec(negative_prompt="blurry", seed=1234, fps=12.0)
    prompt, applied = template.build_prompt(shot, "shotcaller/take_01")
    assert prompt["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert prompt["7"]["inputs"]["text"] == "blurry"
    assert prompt["3"]["inputs"]["seed"] == 1234
    assert prompt["55"]["inputs"] == {"vae": ["39", 0], "width": 64, "height": 64, "length": 9, "batch_size": 1}
    assert prompt["57"]["inputs"]["fps"] == 12.0
    assert prompt["58"]["inputs"]["filename_prefix"] == "shotcaller/take_01"
    assert applied == {"template": WAN, "prompt": "a lighthouse at dusk", "negative_prompt": "blurry",
                       "seed": 1234, "width": 64, "height": 64, "frame_count": 9, "fps": 12.0,
                       "filename_prefix": "shotcaller/take_01"}


def test_build_prompt_never_mutates_the_loaded_workflow():
    template = load_template(os.path.join(BUNDLED_TEMPLATE_DIR, f"{WAN}.binding.json"))
    before = template.workflow_copy()
    first, _ = template.build_prompt(spec(prompt="first"), "a")
    first["3"]["inputs"]["steps"] = 1  # a caller changing its prompt must not leak either
    second, _ = template.build_prompt(spec(prompt="second", width=1280, height=720, frame_count=121), "b")
    assert template.workflow_copy() == before
    assert second["6"]["inputs"]["text"] == "second"
    assert second["3"]["inputs"]["steps"] == 20
    # 720 is halfway between 704 and 736: halves round up.
    assert (second["55"]["inputs"]["width"], second["55"]["inputs"]["height"]) == (1280, 736)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(64, 64), (70, 64), (79, 64), (80, 96), (81, 96), (832, 832), (16, 32), (1, 32), (47, 32), (48, 64)],
)
def test_multiple_of_rounds_to_nearest_and_respects_min(value, expected):
    assert InputBinding(node="1", input="w", multiple_of=32, min=32).apply_snapping(value) == expected


@pytest.mark.parametrize(
    ("frames", "expected"), [(1, 1), (2, 5), (5, 5), (8, 9), (9, 9), (10, 13), (48, 49), (49, 49), (50, 53)]
)
def test_4n_plus_1_rounds_up_so_the_take_is_never_shorter_than_the_shot(frames, expected):
    assert InputBinding(node="1", input="length", snap="4n+1").apply_snapping(frames) == expected


def test_snapped_values_are_what_the_prompt_and_the_parameters_record():
    template = load_template(os.path.join(BUNDLED_TEMPLATE_DIR, f"{WAN}.binding.json"))
    prompt, applied = template.build_prompt(spec(width=850, height=470, frame_count=50), "p")
    assert (applied["width"], applied["height"], applied["frame_count"]) == (864, 480, 53)
    assert prompt["55"]["inputs"]["length"] == 53


def test_min_without_multiple_and_non_numbers_pass_through():
    assert InputBinding(node="1", input="x", min=10).apply_snapping(3) == 10
    assert InputBinding(node="1", input="x", multiple_of=8).apply_snapping("text") == "text"


def test_bad_json_names_the_file_and_line(template_dir: Path):
    path = template_dir / f"{WAN}.binding.json"
    path.write_text('{\n  "name": "x",\n  "workflow": oops\n}\n')
    with pytest.raises(TemplateError) as caught:
        load_templates([str(template_dir)])
    assert str(path) in str(caught.value)
    assert "line 3" in str(caught.value)


def test_bad_workflow_json_names_the_workflow_file(template_dir: Path):
    (template_dir / f"{WAN}.json").write_text("{\n\n ,}")
    with pytest.raises(TemplateError, match=rf"{WAN}\.json: the workflow is not valid JSON.*line 3"):
        load_templates([str(template_dir)])


def test_unknown_node_id_in_a_binding(template_dir: Path):
    edit_binding(template_dir, lambda b: b["inputs"]["seed"][0].update(node="999"))
    with pytest.raises(TemplateError, match="parameter 'seed' refers to node 999, which is not in the workflow"):
        load_templates([str(template_dir)])


def test_node_without_that_input(template_dir: Path):
    edit_binding(template_dir, lambda b: b["inputs"]["seed"][0].update(input="noise_seed"))
    with pytest.raises(TemplateError) as caught:
        load_templates([str(template_dir)])
    message = str(caught.value)
    assert "input 'noise_seed' of node 3 (KSampler)" in message
    assert "seed" in message and "steps" in message  # lists what the node does have


def test_missing_workflow_file(template_dir: Path):
    os.unlink(template_dir / f"{WAN}.json")
    with pytest.raises(TemplateError, match=r"workflow file .* does not exist"):
        load_templates([str(template_dir)])


def test_unknown_parameter_and_unknown_keys_are_rejected(template_dir: Path):
    edit_binding(template_dir, lambda b: b["inputs"].update(steps=[{"node": "3", "input": "steps"}]))
    with pytest.raises(TemplateError, match=r"invalid binding: inputs\.steps"):
        load_templates([str(template_dir)])
    edit_binding(template_dir, lambda b: (b["inputs"].pop("steps"), b.update(colour="red")))
    with pytest.raises(TemplateError, match="colour"):
        load_templates([str(template_dir)])


def test_required_model_must_point_at_a_file_name(template_dir: Path):
    edit_binding(template_dir, lambda b: b["required_models"][0].update(input="weight_dtype", node="48"))
    with pytest.raises(TemplateError, match="input 'weight_dtype' of node 48"):
        load_templates([str(template_dir)])
    edit_binding(template_dir, lambda b: b["required_models"][0].update(input="shift"))
    with pytest.raises(TemplateError, match=r"must hold a file name, found 8\.0"):
        load_templates([str(template_dir)])


def test_ui_format_workflow_is_explained(template_dir: Path):
    (template_dir / f"{WAN}.json").write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(TemplateError, match="API format"):
        load_templates([str(template_dir)])


def test_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(TemplateError, match="does not exist"):
        load_templates([str(tmp_path / "nope")])


def test_on_error_skips_broken_templates_and_keeps_the_good_ones(template_dir: Path, tmp_path: Path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.binding.json").write_text("not json")
    errors: list[TemplateError] = []
    templates = load_templates([str(template_dir), str(broken), str(tmp_path / "missing")], on_error=errors.append)
    assert [t.name for t in templates] == [WAN]
    assert [os.path.basename(e.path) for e in errors] == ["bad.binding.json", "missing"]


def test_later_folder_overrides_a_template_of_the_same_name(template_dir: Path):
    edit_binding(template_dir, lambda b: b.update(label="My studio's Wan", quality="final"))
    templates = load_templates([BUNDLED_TEMPLATE_DIR, str(template_dir)])
    [wan] = [t for t in templates if t.name == WAN]
    assert wan.label == "My studio's Wan"
    assert wan.quality is Quality.FINAL


def test_init_image_binding(tmp_path: Path):
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    binding = {
        "name": "invert", "workflow": "invert.json", "media": "image", "quality": "draft",
        "inputs": {"init_image": [{"node": "1", "input": "image"}],
                   "filename_prefix": [{"node": "3", "input": "filename_prefix"}]},
    }
    (tmp_path / "invert.json").write_text(json.dumps(workflow))
    (tmp_path / "invert.binding.json").write_text(json.dumps(binding))
    [template] = load_templates([str(tmp_path)])
    assert template.needs_init_image
    shot = spec(init_image="/home/me/frame.png")
    prompt, applied = template.build_prompt(shot, "p", init_image="shotcaller/frame.png")
    assert prompt["1"]["inputs"]["image"] == "shotcaller/frame.png"
    assert applied["init_image"] == "shotcaller/frame.png"
    with pytest.raises(ValueError, match="needs an init image"):
        template.build_prompt(spec(), "p")
