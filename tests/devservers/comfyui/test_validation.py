"""POST /prompt validation: every error shape compared with the recorded ComfyUI 0.3.64 answers."""

from __future__ import annotations

import copy
import json

import pytest

from devservers.comfyui.catalogue import DEFAULT_MODELS, parse_models
from devservers.comfyui.launch import start_server
from devservers.comfyui.testing import Client, image_prompt, wan_prompt

EMPTY_IMAGE_WIDTH = ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}]
PROMPT_FAILED = {
    "type": "prompt_outputs_failed_validation",
    "message": "Prompt outputs failed validation",
    "details": "",
    "extra_info": {},
}
SERVER_TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("comfyui-validation"), step_seconds=0.01, preview_method="none")
    yield Client(handle.url)
    handle.stop()


def rejected(client: Client, prompt) -> dict:
    reply = client.submit(prompt, client_id="validation")
    assert reply.status == 400, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.json


def test_unknown_class_type(client):
    prompt = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    assert rejected(client, prompt) == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#1'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_missing_class_type(client):
    assert rejected(client, {"1": {"inputs": {}}}) == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because a node is missing the class_type property.",
            "details": "Node ID '#1'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_missing_required_input(client):
    prompt = image_prompt()
    del prompt["1"]["inputs"]["width"]
    assert rejected(client, prompt) == {
        "error": PROMPT_FAILED,
        "node_errors": {
            "1": {
                "errors": [
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": "width",
                        "extra_info": {"input_name": "width"},
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "EmptyImage",
            }
        },
    }


def test_wrong_value_type(client):
    prompt = image_prompt()
    prompt["1"]["inputs"]["width"] = "abc"
    message = "invalid literal for int() with base 10: 'abc'"
    assert rejected(client, prompt)["node_errors"] == {
        "1": {
            "errors": [
                {
                    "type": "invalid_input_type",
                    "message": "Failed to convert an input value to a INT value",
                    "details": f"width, abc, {message}",
                    "extra_info": {
                        "input_name": "width",
                        "input_config": EMPTY_IMAGE_WIDTH,
                        "received_value": "abc",
                        "exception_message": message,
                    },
                }
            ],
            "dependent_outputs": ["2"],
            "class_type": "EmptyImage",
        }
    }


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (0, "value_smaller_than_min", "Value 0 smaller than min of 1"),
        (20000, "value_bigger_than_max", "Value 20000 bigger than max of 16384"),
    ],
)
def test_value_out_of_range(client, value, kind, message):
    prompt = image_prompt()
    prompt["1"]["inputs"]["width"] = value
    assert rejected(client, prompt) == {
        "error": PROMPT_FAILED,
        "node_errors": {
            "1": {
                "errors": [
                    {
                        "type": kind,
                        "message": message,
                        "details": "width",
                        "extra_info": {
                            "input_name": "width",
                            "input_config": EMPTY_IMAGE_WIDTH,
                            "received_value": value,
                        },
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "EmptyImage",
            }
        },
    }


def test_strings_are_converted_before_range_checks(client):
    prompt = image_prompt(prefix="converted")
    prompt["1"]["inputs"]["width"] = "32"
    reply = client.submit(prompt, client_id="validation")
    assert reply.status == 200
    entry = client.wait_history(reply.json["prompt_id"])
    assert entry["prompt"][2]["1"]["inputs"]["width"] == 32  # stored converted, like the real server


def test_bad_combo_value_legacy_list(client):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 8, "color": 65280}},
        "2": {
            "class_type": "SaveAnimatedWEBP",
            "inputs": {
                "images": ["1", 0],
                "filename_prefix": "anim",
                "fps": 8.0,
                "lossless": False,
                "quality": 80,
                "method": "bogus",
            },
        },
    }
    details = "method: 'bogus' not in ['default', 'fastest', 'slowest']"
    assert rejected(client, prompt) == {
        "error": {**PROMPT_FAILED, "details": f"Value not in list: {details}"},
        "node_errors": {
            "2": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": details,
                        "extra_info": {
                            "input_name": "method",
                            "input_config": [["default", "fastest", "slowest"], {}],
                            "received_value": "bogus",
                        },
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "SaveAnimatedWEBP",
            }
        },
    }


def test_bad_combo_value_combo_form(client):
    prompt = wan_prompt()
    prompt["58"]["inputs"]["format"] = "avi"
    error = rejected(client, prompt)["node_errors"]["58"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["details"] == "format: 'avi' not in ['auto', 'mp4']"
    assert error["extra_info"]["input_config"][0] == "COMBO"


def test_long_combo_lists_are_summarised(client):
    prompt = wan_prompt()
    prompt["3"]["inputs"]["sampler_name"] = "nope"
    error = rejected(client, prompt)["node_errors"]["3"]["errors"][0]
    assert error["details"].startswith("sampler_name: 'nope' not in (list of length ")
    assert error["extra_info"]["input_config"] is None


def test_missing_model_file(client):
    prompt = wan_prompt()
    prompt["37"]["inputs"]["unet_name"] = "other_model.safetensors"
    body = rejected(client, prompt)
    installed = parse_models(DEFAULT_MODELS)["diffusion_models"]  # the files the server lists, sorted
    assert "wan2.2_ti2v_5B_fp16.safetensors" in installed
    assert body["error"] == PROMPT_FAILED  # the failing node is not the output node
    assert body["node_errors"] == {
        "37": {
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": f"unet_name: 'other_model.safetensors' not in {installed}",
                    "extra_info": {
                        "input_name": "unet_name",
                        "input_config": [installed, {}],
                        "received_value": "other_model.safetensors",
                    },
                }
            ],
            "dependent_outputs": ["58"],
            "class_type": "UNETLoader",
        }
    }


def test_link_type_mismatch(client):
    prompt = {
        "1": {"class_type": "EmptyAudio", "inputs": {"duration": 1.0, "sample_rate": 44100, "channels": 2}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    details = "images, received_type(AUDIO) mismatch input_type(IMAGE)"
    assert rejected(client, prompt) == {
        "error": {**PROMPT_FAILED, "details": f"Return type mismatch between linked nodes: {details}"},
        "node_errors": {
            "2": {
                "errors": [
                    {
                        "type": "return_type_mismatch",
                        "message": "Return type mismatch between linked nodes",
                        "details": details,
                        "extra_info": {
                            "input_name": "images",
                            "input_config": ["IMAGE", {"tooltip": "The images to save."}],
                            "received_type": "AUDIO",
                            "linked_node": ["1", 0],
                        },
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "SaveImage",
            }
        },
    }


def test_link_to_missing_node(client):
    prompt = image_prompt()
    prompt["2"]["inputs"]["images"] = ["99", 0]
    body = rejected(client, prompt)
    assert body["error"] == {**PROMPT_FAILED, "details": "Exception when validating node: '99'"}
    error = body["node_errors"]["2"]["errors"][0]
    traceback = error["extra_info"].pop("traceback")
    assert isinstance(traceback, list) and all(isinstance(line, str) for line in traceback)
    assert error == {
        "type": "exception_during_validation",
        "message": "Exception when validating node",
        "details": "'99'",
        "extra_info": {"exception_type": "KeyError"},
    }
    assert body["node_errors"]["2"]["dependent_outputs"] == ["2"]
    assert body["node_errors"]["2"]["class_type"] == "SaveImage"


def test_no_output_node(client):
    prompt = {"1": image_prompt()["1"]}
    assert rejected(client, prompt) == {
        "error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}},
        "node_errors": {},
    }


def test_load_image_missing_file(client):
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert rejected(client, prompt) == {
        "error": PROMPT_FAILED,
        "node_errors": {
            "1": {
                "errors": [
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": "image - Invalid image file: does_not_exist.png",
                        "extra_info": {"input_name": "image"},
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "LoadImage",
            }
        },
    }


def test_no_prompt_key(client):
    reply = client.post_json("/prompt", {"client_id": "x"})
    assert reply.status == 400
    assert reply.json == {
        "error": {
            "type": "no_prompt",
            "message": "No prompt provided",
            "details": "No prompt provided",
            "extra_info": {},
        },
        "node_errors": {},
    }


@pytest.mark.parametrize("body", [b"this is not json", b'{"prompt": [1, 2]}', b'{"prompt": "text"}'])
def test_server_trouble_500(client, body):
    reply = client.request("POST", "/prompt", body, {"Content-Type": "application/json"})
    assert reply.status == 500
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == SERVER_TROUBLE


def test_partially_valid_prompt_is_queued_with_node_errors(client):
    prompt = image_prompt(prefix="partial")
    prompt["3"] = {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}}
    prompt["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "never"}}
    reply = client.submit(prompt, client_id="validation")
    assert reply.status == 200
    body = reply.json
    assert set(body["node_errors"]) == {"3"}
    assert body["node_errors"]["3"]["errors"][0]["type"] == "value_smaller_than_min"
    entry = client.wait_history(body["prompt_id"])
    assert entry["prompt"][4] == ["2"]
    assert list(entry["outputs"]) == ["2"]


def test_shared_invalid_upstream_lists_all_dependent_outputs(client):
    prompt = image_prompt()
    prompt["1"]["inputs"]["color"] = -5
    prompt["3"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    body = rejected(client, prompt)
    assert body["error"] == PROMPT_FAILED
    assert list(body["node_errors"]) == ["1"]  # outputs invalid only because of node 1 are not listed
    assert sorted(body["node_errors"]["1"]["dependent_outputs"]) == ["2", "3"]


def test_numbers_prompt_ids_and_duplicates(client):
    first = client.submit(image_prompt(prefix="numbers"), client_id="validation").json["number"]
    assert client.submit({"1": {"class_type": "Nope", "inputs": {}}}).status == 400
    second = client.submit(image_prompt(prefix="numbers"), client_id="validation", front=True)
    assert second.json["number"] == -(first + 2)  # the rejected prompt used up a number
    explicit = client.submit(image_prompt(prefix="numbers"), number=12)
    assert explicit.json["number"] == 12.0
    fixed = client.submit(copy.deepcopy(image_prompt(prefix="fixed")), prompt_id="my-fixed-id-7d2e96de")
    assert fixed.status == 200 and fixed.json["prompt_id"] == "my-fixed-id-7d2e96de"
    again = client.submit(image_prompt(prefix="fixed"), prompt_id="my-fixed-id-7d2e96de")
    assert again.status == 409
    assert again.json == {"error": "prompt_id already exists"}


def test_link_cycle_is_reported(client):
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cycle"}},
    }
    body = rejected(client, prompt)
    assert [e["type"] for errors in body["node_errors"].values() for e in errors["errors"]] == ["dependency_cycle"]


def test_unconnected_nodes_are_not_validated_or_run(client):
    prompt = image_prompt(prefix="unconnected")
    prompt["5"] = {"class_type": "ImageInvert", "inputs": {"image": ["6", 0]}}
    prompt["6"] = {"class_type": "ImageInvert", "inputs": {"image": ["5", 0]}}
    prompt["7"] = {"class_type": "EmptyImage"}
    reply = client.submit(prompt)
    assert reply.status == 200 and reply.json["node_errors"] == {}
    assert client.wait_history(reply.json["prompt_id"])["status"]["status_str"] == "success"


def test_same_mistakes_in_the_newer_templates_get_the_same_answers(client):
    from devservers.comfyui.testing import template_prompt

    audio = template_prompt("stable_audio_open_t2a", **{"10": {"type": "bogus"}, "11": {"seconds": 0.5}})
    body = rejected(client, audio)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    clip = body["node_errors"]["10"]["errors"][0]
    assert (clip["type"], clip["extra_info"]["received_value"]) == ("value_not_in_list", "bogus")
    assert "stable_audio" in clip["extra_info"]["input_config"][0]
    latent = body["node_errors"]["11"]["errors"][0]
    assert (latent["type"], latent["message"]) == ("value_smaller_than_min", "Value 0.5 smaller than min of 1.0")
    assert body["node_errors"]["11"]["dependent_outputs"] == ["19"]

    wan = template_prompt("wan22_14b_t2v")
    del wan["58"]["inputs"]["start_at_step"]
    wan["37"]["inputs"]["unet_name"] = "wan2.2_t2v_high_noise_14B_fp16.safetensors"  # not installed
    body = rejected(client, wan)
    assert body["node_errors"]["58"]["errors"][0]["type"] == "required_input_missing"
    assert body["node_errors"]["58"]["errors"][0]["details"] == "start_at_step"
    assert body["node_errors"]["37"]["errors"][0]["type"] == "value_not_in_list"
    assert body["node_errors"]["37"]["class_type"] == "UNETLoader"

    music = template_prompt("ace_step_v1_t2m")
    music["52"]["inputs"]["latent_image"] = ["14", 0]  # CONDITIONING where a LATENT goes
    error = rejected(client, music)["node_errors"]["52"]["errors"][0]
    assert error["type"] == "return_type_mismatch"
    assert error["details"] == "latent_image, received_type(CONDITIONING) mismatch input_type(LATENT)"


def test_bundled_templates_validate_as_they_are(tmp_path):
    """Every bundled workflow passes the server's validation with the default models (without running)."""
    from PIL import Image

    from devservers.comfyui.catalogue import Catalogue
    from devservers.comfyui.testing import TEMPLATES
    from devservers.comfyui.validation import Validator

    directories = {kind: str(tmp_path / kind) for kind in ("input", "output", "temp")}
    for path in directories.values():
        (tmp_path / path).mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "input" / "start.png")
    validator = Validator(Catalogue(parse_models(DEFAULT_MODELS), directories["input"]), directories)
    checked = 0
    for path in sorted(TEMPLATES.glob("*.json")):
        if path.name.endswith(".binding.json"):
            continue
        prompt = json.loads(path.read_text())
        for node in prompt.values():
            if node["class_type"] == "LoadImage":
                node["inputs"]["image"] = "start.png"
        result = validator.validate(prompt, None)
        assert result.ok and result.node_errors == {}, (path.name, result.error, result.node_errors)
        assert len(result.outputs) == 1
        checked += 1
    assert checked == 8
