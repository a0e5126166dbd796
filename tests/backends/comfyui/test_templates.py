"""Templates: loading, validation messages, and how shot values land in the workflow."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from comfyui_doubles import invert_template

from shotcaller.backends.comfyui.templates import (
    BUNDLED_TEMPLATE_DIR,
    InputBinding,
    ParameterOutOfRange,
    ParameterSpec,
    TemplateError,
    load_template,
    load_templates,
)
from shotcaller.shots import MediaKind, Quality, make_spec

WAN = "wan22_ti2v_5b_t2v"


def spec(**fields):
    values = {
        "shot_id": "s" * 32,
        "prompt": "a lighthouse at dusk",
        "width": 64,
        "height": 64,
        "frame_count": 9,
        "fps": 16.0,
        "seed": 7,
    }
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
    assert template.vram_gb == 8.0 and template.vram.per_megapixel_frame_gb == 0.02
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
    assert applied == {
        "template": WAN,
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "blurry",
        "seed": 1234,
        "width": 64,
        "height": 64,
        "frame_count": 9,
        "fps": 12.0,
        "filename_prefix": "shotcaller/take_01",
    }


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
    [template] = load_templates([invert_template(tmp_path)])  # LoadImage -> ImageInvert -> SaveImage
    assert template.needs_init_image
    shot = spec(init_image="/home/me/frame.png")
    prompt, applied = template.build_prompt(shot, "p", init_image="shotcaller/frame.png")
    assert prompt["1"]["inputs"]["image"] == "shotcaller/frame.png"
    assert applied["init_image"] == "shotcaller/frame.png"
    with pytest.raises(ValueError, match="needs an init image"):
        template.build_prompt(spec(), "p")


# --- the bundled templates ------------------------------------------------------------------

OBJECT_INFO = os.path.join(
    os.path.dirname(BUNDLED_TEMPLATE_DIR), os.pardir, "devservers", "comfyui", "object_info.json"
)

# name: (media, quality, init image, model files by folder, (vram base, per megapixel-frame), max frames)
BUNDLED = {
    "sdxl_base_t2i": (MediaKind.IMAGE, Quality.DRAFT, False, {"checkpoints/sd_xl_base_1.0.safetensors"}, (6.0, 1.5), 0),
    "flux1_dev_t2i": (
        MediaKind.IMAGE,
        Quality.FINAL,
        False,
        {
            "diffusion_models/flux1-dev.safetensors",
            "text_encoders/t5xxl_fp16.safetensors",
            "text_encoders/clip_l.safetensors",
            "vae/ae.safetensors",
        },
        (18.0, 2.0),
        0,
    ),
    WAN: (
        MediaKind.VIDEO,
        Quality.DRAFT,
        False,
        {
            "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
            "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            "vae/wan2.2_vae.safetensors",
        },
        (8.0, 0.02),
        121,
    ),
    "wan22_ti2v_5b_i2v": (
        MediaKind.VIDEO,
        Quality.DRAFT,
        True,
        {
            "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
            "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            "vae/wan2.2_vae.safetensors",
        },
        (8.0, 0.02),
        121,
    ),
    "wan22_14b_t2v": (
        MediaKind.VIDEO,
        Quality.FINAL,
        False,
        {
            "diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
            "diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
            "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            "vae/wan_2.1_vae.safetensors",
        },
        (16.0, 0.06),
        121,
    ),
    "wan22_14b_i2v": (
        MediaKind.VIDEO,
        Quality.FINAL,
        True,
        {
            "diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
            "diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
            "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            "vae/wan_2.1_vae.safetensors",
        },
        (16.0, 0.06),
        121,
    ),
    "stable_audio_open_t2a": (
        MediaKind.AUDIO,
        Quality.DRAFT,
        False,
        {"checkpoints/stable-audio-open-1.0.safetensors", "text_encoders/t5_base.safetensors"},
        (5.0, 0.0),
        0,
    ),
    "ace_step_v1_t2m": (
        MediaKind.MUSIC,
        Quality.FINAL,
        False,
        {"checkpoints/ace_step_v1_3.5b.safetensors"},
        (9.0, 0.0),
        0,
    ),
}


@pytest.fixture(scope="module")
def bundled() -> dict:
    errors: list[TemplateError] = []
    templates = {t.name: t for t in load_templates([BUNDLED_TEMPLATE_DIR], on_error=errors.append)}
    assert errors == []
    return templates


@pytest.fixture(scope="module")
def catalogue() -> dict:
    with open(OBJECT_INFO, encoding="utf-8") as handle:
        return json.load(handle)


def test_every_bundled_template_declares_what_it_makes_and_needs(bundled):
    assert set(bundled) == set(BUNDLED)
    for name, (media, quality, init_image, models, (base, per_mpf), max_frames) in BUNDLED.items():
        template = bundled[name]
        assert (template.media, template.quality, template.needs_init_image) == (media, quality, init_image), name
        assert {f"{m.folder}/{m.filename}" for m in template.required_models} == models, name
        assert (template.vram.base_gb, template.vram.per_megapixel_frame_gb, template.max_frames) == (
            base,
            per_mpf,
            max_frames,
        ), name
        # The binding lists every model of its workflow: detection of known loaders adds nothing.
        declared = {(r.node, r.input) for r in template.binding.required_models}
        assert {(m.node_id, m.input_name) for m in template.required_models} == declared, name
        assert template.model and template.label != template.name
        assert "filename_prefix" in template.parameters and "prompt" in template.parameters


def test_bundled_workflows_use_only_real_node_types_inputs_and_choices(bundled, catalogue):
    """Against the node catalogue captured from a real ComfyUI (devservers/comfyui/object_info.json)."""
    for template in bundled.values():
        workflow = template.workflow_copy()
        # Model files and the init image are combos of what a server has installed or uploaded.
        server_files = {(m.node_id, m.input_name) for m in template.required_models} | template.bound_inputs
        for node_id, node in workflow.items():
            where = f"{template.name} node {node_id} ({node['class_type']})"
            info = catalogue.get(node["class_type"])
            assert info is not None, f"{where}: no such node type"
            declared = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
            assert set(node["inputs"]) <= set(declared), f"{where}: unknown inputs"
            assert set(info["input"].get("required", {})) <= set(node["inputs"]), f"{where}: missing inputs"
            for input_name, value in node["inputs"].items():
                spec_type, options = (
                    declared[input_name][0],
                    declared[input_name][1] if len(declared[input_name]) > 1 else {},
                )
                if isinstance(value, list):  # a link: the source's output type must fit
                    source = workflow[value[0]]
                    produced = catalogue[source["class_type"]]["output"][value[1]]
                    assert produced == spec_type or spec_type == "*", f"{where}.{input_name}: {produced}"
                elif (node_id, input_name) in server_files and isinstance(spec_type, list):
                    assert isinstance(value, str) and value, where  # a file on the server, or replaced per shot
                elif isinstance(spec_type, list):
                    assert value in spec_type, f"{where}.{input_name}: {value!r} not a choice"
                elif spec_type == "COMBO":
                    assert value in options["options"], f"{where}.{input_name}: {value!r}"
                elif spec_type in ("INT", "FLOAT"):
                    assert options.get("min", value) <= value <= options.get("max", value), f"{where}.{input_name}"
        outputs = [n for n in workflow.values() if catalogue[n["class_type"]]["output_node"]]
        assert len(outputs) == 1, template.name
        assert template.required_nodes == tuple(sorted({n["class_type"] for n in workflow.values()}))


def test_offline_shot_values_and_vram_estimates(bundled):
    wan = bundled[WAN]
    assert wan.estimate_vram_gb(1280, 704, 121) == pytest.approx(8.0 + 0.02 * 1280 * 704 / 1e6 * 121)
    assert bundled["sdxl_base_t2i"].estimate_vram_gb(1024, 1024) == pytest.approx(6.0 + 1.5 * 1.048576)
    assert bundled["stable_audio_open_t2a"].estimate_vram_gb(1920, 1080, 500) == 5.0
    # Width and height outside the range are clamped; too many frames are refused.
    prompt, applied = wan.build_prompt(spec(width=4000, height=16, frame_count=121), "p")
    assert (applied["width"], applied["height"], applied["frame_count"]) == (1280, 32, 121)
    assert prompt["55"]["inputs"]["width"] == 1280
    too_long = r"at most 5\.0 s \(121 frames at 24 fps\) and shot 'Door' lasts 5\.1 s \(122 frames\)"
    with pytest.raises(ParameterOutOfRange, match=too_long):
        wan.shot_values(spec(label="Door", frame_count=122, fps=24.0))


def test_sound_templates_take_the_shots_duration_in_seconds(bundled):
    audio = bundled["stable_audio_open_t2a"]
    assert audio.parameters["duration"] == ParameterSpec("duration", "float", 1.0, 47.0)
    prompt, applied = audio.build_prompt(spec(frame_count=50, fps=24.0, negative_prompt="hiss"), "audio/x")
    # 50 frames at 24 fps = 2.083 s: rounded UP to 2.1 s, so the sound covers the whole shot.
    assert applied["duration"] == 2.1
    assert (prompt["11"]["inputs"]["seconds"], prompt["12"]["inputs"]["seconds_total"]) == (2.1, 2.1)
    assert prompt["7"]["inputs"]["text"] == "hiss" and prompt["19"]["inputs"]["filename_prefix"] == "audio/x"
    short, _ = audio.build_prompt(spec(frame_count=6, fps=24.0), "p")
    assert short["11"]["inputs"]["seconds"] == 1.0  # EmptyLatentAudio's minimum
    with pytest.raises(ParameterOutOfRange, match=r"at most 47\.0 s and"):
        audio.shot_values(spec(frame_count=48 * 24, fps=24.0))
    music = bundled["ace_step_v1_t2m"]
    prompt, applied = music.build_prompt(spec(prompt="lo-fi piano, rain", frame_count=240, fps=24.0), "m")
    assert prompt["14"]["inputs"]["tags"] == "lo-fi piano, rain" and prompt["17"]["inputs"]["seconds"] == 10.0
    assert prompt["52"]["inputs"]["seed"] == 7 and "negative_prompt" not in music.parameters


def test_parameters_describe_types_and_ranges(bundled):
    wan = bundled[WAN]
    assert wan.parameters["width"] == ParameterSpec("width", "int", 32, 1280)
    assert wan.parameters["fps"].type == "float" and wan.parameters["prompt"] == ParameterSpec("prompt", "string")
    assert bundled["wan22_ti2v_5b_i2v"].parameters["init_image"].type == "image"
    flux = bundled["flux1_dev_t2i"]
    assert "negative_prompt" not in flux.parameters  # FLUX.1 dev takes no negative prompt
    prompt, _ = flux.build_prompt(spec(width=1000, height=570), "p")
    # Both the latent and ModelSamplingFlux get the snapped size.
    assert (prompt["27"]["inputs"]["width"], prompt["30"]["inputs"]["width"]) == (1008, 1008)
    assert (prompt["27"]["inputs"]["height"], prompt["30"]["inputs"]["height"]) == (576, 576)
    assert prompt["25"]["inputs"]["noise_seed"] == 7


def test_14b_seeds_the_high_noise_sampler(bundled):
    prompt, _ = bundled["wan22_14b_t2v"].build_prompt(spec(seed=99), "p")
    assert prompt["57"]["inputs"]["noise_seed"] == 99 and prompt["57"]["inputs"]["add_noise"] == "enable"
    assert prompt["58"]["inputs"]["add_noise"] == "disable" and prompt["58"]["inputs"]["latent_image"] == ["57", 0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.3, 1.0), (1.0, 1.0), (1.04, 1.1), (2.0833, 2.1), (2.1, 2.1), (0.1 * 21, 2.1), (2.1001, 2.2)],
)
def test_ceil_to_rounds_a_duration_up_and_respects_min(value, expected):
    assert InputBinding(node="1", input="seconds", ceil_to=0.1, min=1.0).apply_snapping(value) == expected


# --- the binding format's newer parts --------------------------------------------------------


def test_legacy_vram_gb_is_the_base_and_both_forms_together_are_refused(template_dir: Path):
    edit_binding(template_dir, lambda b: (b.pop("vram"), b.update(vram_gb=7.5)))
    [template] = load_templates([str(template_dir)])
    assert (template.vram_gb, template.vram.per_megapixel_frame_gb) == (7.5, 0.0)
    edit_binding(template_dir, lambda b: b.update(vram={"base_gb": 1.0}))
    with pytest.raises(TemplateError, match="either"):
        load_templates([str(template_dir)])


def test_bad_parameter_ranges_are_named(template_dir: Path):
    edit_binding(template_dir, lambda b: b["parameters"].update(width={"min": 900, "max": 100}))
    with pytest.raises(TemplateError, match=r"parameters\.width.*min 900 is above max 100"):
        load_templates([str(template_dir)])
    edit_binding(template_dir, lambda b: b["parameters"].update(width={"min": 32}, duration={"max": 5}))
    with pytest.raises(TemplateError, match="range for 'duration', which 'inputs' binds to no node input"):
        load_templates([str(template_dir)])
    edit_binding(template_dir, lambda b: (b["parameters"].pop("duration"), b["parameters"].update(prompt={"max": 5})))
    with pytest.raises(TemplateError, match="'prompt' is a string, it has no range"):
        load_templates([str(template_dir)])


def test_models_of_known_loaders_are_found_without_being_declared(template_dir: Path):
    edit_binding(template_dir, lambda b: b.update(required_models=[]))
    [template] = load_templates([str(template_dir)])
    assert [(m.node_id, m.folder, m.filename) for m in template.required_models] == [
        ("37", "diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"),
        ("38", "text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
        ("39", "vae", "wan2.2_vae.safetensors"),
    ]


def test_link_to_a_node_that_is_not_there_is_named(template_dir: Path):
    workflow = json.loads((template_dir / f"{WAN}.json").read_text())
    workflow["8"]["inputs"]["samples"] = ["300", 0]
    (template_dir / f"{WAN}.json").write_text(json.dumps(workflow))
    with pytest.raises(TemplateError, match="input 'samples' of node 8 \\(VAEDecode\\) is linked to node 300"):
        load_templates([str(template_dir)])


def test_broken_user_template_never_hides_the_bundled_one(template_dir: Path):
    edit_binding(template_dir, lambda b: b["inputs"]["seed"][0].update(node="999"))  # same name as bundled
    errors: list[TemplateError] = []
    templates = load_templates([BUNDLED_TEMPLATE_DIR, str(template_dir)], on_error=errors.append)
    [wan] = [t for t in templates if t.name == WAN]
    assert wan.source == os.path.join(BUNDLED_TEMPLATE_DIR, f"{WAN}.binding.json")
    assert len(templates) == len(BUNDLED)
    assert [e.path for e in errors] == [str(template_dir / f"{WAN}.binding.json")]
    assert "node 999" in str(errors[0]) and str(template_dir) in str(errors[0])


def test_two_templates_of_one_name_in_one_folder(template_dir: Path):
    shutil.copy(template_dir / f"{WAN}.binding.json", template_dir / "zz_copy.binding.json")
    errors: list[TemplateError] = []
    [template] = load_templates([str(template_dir)], on_error=errors.append)
    assert template.source.endswith(f"{WAN}.binding.json")
    assert len(errors) == 1 and "zz_copy.binding.json" in errors[0].path
    assert f"({WAN}.binding.json) is already named '{WAN}'" in errors[0].problem


def test_a_shape_no_check_foresaw_is_still_a_template_error(template_dir: Path):
    workflow = json.loads((template_dir / f"{WAN}.json").read_text())
    workflow["37"]["inputs"]["unet_name"] = {"unexpected": "object"}  # not a file name: str() of it
    (template_dir / f"{WAN}.json").write_text(json.dumps(workflow))
    edit_binding(template_dir, lambda b: b["required_models"].pop(0))
    errors: list[TemplateError] = []
    templates = load_templates([str(template_dir)], on_error=errors.append)
    assert errors == [] and templates  # unknown shapes of values are tolerated where harmless
    (template_dir / f"{WAN}.binding.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(TemplateError, match="invalid binding"):
        load_templates([str(template_dir)])
