"""Running prompts: websocket message order, history, outputs, caching, interrupt, queue, failures."""

from __future__ import annotations

import io
import itertools
import json
import os
import time

import av
import numpy as np
import pytest
from PIL import Image

from devservers.comfyui.drawing import seed_colour
from devservers.comfyui.launch import start_server
from devservers.comfyui.testing import Client, image_prompt, template_prompt, types, wan_prompt

WAN_ORDER = ["37", "48", "38", "6", "7", "39", "55", "3", "8", "57", "58"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("comfyui-exec"), step_seconds=0.01)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


def node_messages(node_id: str, steps: int = 0, preview: str = "BINARY1", output: bool = False) -> list[str]:
    sampled = []
    for _ in range(steps):
        sampled += (
            ["progress_state", "BINARY4", "progress"]
            if preview == "BINARY4"
            else (["progress_state", "progress", preview] if preview else ["progress_state", "progress"])
        )
    return ["progress_state", "executing", *sampled, *(["executed"] if output else []), "progress_state"]


def run(client: Client, ws, prompt: dict, client_id: str, **extra) -> tuple[dict, list[dict]]:
    reply = client.submit(prompt, client_id=client_id, **extra)
    assert reply.status == 200, reply.text
    prompt_id = reply.json["prompt_id"]
    messages = ws.collect(prompt_id)
    return client.get(f"/history/{prompt_id}").json[prompt_id], messages


def test_wan_template_run_then_cached_rerun(client, server):
    prompt = wan_prompt("A red fox running through snow", width=128, height=64, length=9, steps=3, seed=7, fps=8.0)
    with client.websocket("wan-client") as ws:
        assert ws.hello == {
            "type": "status",
            "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "wan-client"},
        }
        entry, messages = run(client, ws, prompt, "wan-client")
        expected = ["status", "status", "execution_start", "execution_cached"]
        for node_id in WAN_ORDER:
            expected += node_messages(node_id, steps=3 if node_id == "3" else 0, output=node_id == "58")
        expected += ["execution_success", "status", "executing"]
        assert types(messages) == expected

        prompt_id = entry["prompt"][1]
        assert [m["data"]["status"]["exec_info"]["queue_remaining"] for m in messages[:2]] == [1, 1]
        assert messages[-2]["data"] == {"status": {"exec_info": {"queue_remaining": 0}}}
        assert messages[-1]["data"] == {"node": None, "prompt_id": prompt_id}
        executing = [m["data"] for m in messages if m["type"] == "executing"][:-1]
        assert executing[0] == {"node": "37", "display_node": "37", "prompt_id": prompt_id}
        progress = [m["data"] for m in messages if m["type"] == "progress"]
        assert progress == [{"value": v, "max": 3, "prompt_id": prompt_id, "node": "3"} for v in (1, 2, 3)]
        previews = [m for m in messages if m["type"] == "binary"]
        assert all(p["event"] == 1 and p["format"] == 2 and p["image"][:4] == b"\x89PNG" for p in previews)
        final_state = [m for m in messages if m["type"] == "progress_state"][-1]["data"]["nodes"]
        assert set(final_state) == set(WAN_ORDER) and {s["state"] for s in final_state.values()} == {"finished"}

        video = {"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}
        assert entry["outputs"] == {"58": {"images": [video], "animated": [True]}}
        assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
        assert [m[0] for m in entry["status"]["messages"]] == [
            "execution_start",
            "execution_cached",
            "execution_success",
        ]
        assert entry["prompt"][3] == {"client_id": "wan-client"} and entry["prompt"][4] == ["58"]
        assert entry["meta"] == {
            "58": {"node_id": "58", "display_node": "58", "parent_node": None, "real_node_id": "58"}
        }
        executed = next(m for m in messages if m["type"] == "executed")["data"]
        assert executed == {
            "node": "58",
            "display_node": "58",
            "output": entry["outputs"]["58"],
            "prompt_id": prompt_id,
        }

        download = client.get("/view", **video)
        assert download.status == 200 and download.headers["Content-Type"] == "video/mp4"
        with av.open(io.BytesIO(download.body)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
            assert (stream.width, stream.height, stream.average_rate) == (128, 64, 8)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == 9
        assert not np.array_equal(frames[0], frames[8])  # frame number and marker move
        corner = frames[0][1, -2].astype(int)
        assert np.abs(corner - np.array(seed_colour(7))).max() < 24

        files_before = sorted(os.listdir(server.output_dir / "video"))
        cached_entry, cached = run(client, ws, prompt, "wan-client")
        assert types(cached) == [
            "status",
            "status",
            "execution_start",
            "execution_cached",
            "executed",
            "progress_state",
            "execution_success",
            "status",
            "executing",
        ]
        assert cached[3]["data"]["nodes"] == list(prompt)
        assert cached[4]["data"]["output"] == entry["outputs"]["58"]
        assert cached_entry["outputs"] == entry["outputs"]
        assert cached_entry["status"]["messages"][1][1]["nodes"] == list(prompt)
        assert sorted(os.listdir(server.output_dir / "video")) == files_before

        # Changing only the seed re-runs the sampler and everything after it.
        _, partial = run(
            client,
            ws,
            wan_prompt("A red fox running through snow", width=128, height=64, length=9, steps=3, seed=8, fps=8.0),
            "wan-client",
        )
        assert partial[3]["data"]["nodes"] == ["37", "38", "39", "48", "6", "7", "55"]
        assert [m["data"]["node"] for m in partial if m["type"] == "executing"][:-1] == ["3", "8", "57", "58"]
        assert sorted(os.listdir(server.output_dir / "video"))[-1] == "ComfyUI_00002_.mp4"


def test_feature_flags_and_metadata_previews(client):
    with client.websocket("ff-client", feature_flags=True) as ws:
        assert ws.recv() == {
            "type": "feature_flags",
            "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
        }
        entry, messages = run(client, ws, wan_prompt("flags", steps=2, seed=21, prefix="ff/v"), "ff-client")
        sampler = messages.index(next(m for m in messages if m["type"] == "executing" and m["data"]["node"] == "3"))
        assert types(messages)[sampler + 1 : sampler + 7] == ["progress_state", "BINARY4", "progress"] * 2
        preview = messages[sampler + 2]
        assert preview["metadata"] == {
            "node_id": "3",
            "prompt_id": entry["prompt"][1],
            "display_node_id": "3",
            "parent_node_id": None,
            "real_node_id": "3",
            "image_type": "image/png",
        }
        assert Image.open(io.BytesIO(preview["image"])).format == "PNG"


def test_previews_can_be_turned_off_per_prompt(client):
    with client.websocket("quiet") as ws:
        _, messages = run(
            client,
            ws,
            wan_prompt("quiet", steps=2, seed=31, prefix="quiet/v"),
            "quiet",
            extra_data={"preview_method": "none"},
        )
        assert "BINARY1" not in types(messages)


def test_client_isolation(client):
    with client.websocket("alice") as alice, client.websocket("bob") as bob:
        _, alice_messages = run(client, alice, image_prompt(color=0x123456, prefix="iso"), "alice")
        assert "execution_success" in types(alice_messages)
        time.sleep(0.2)
        bob.ws.settimeout(0.3)
        seen = []
        try:
            while True:
                seen.append(bob.recv())
        except Exception:
            pass
        assert seen and {m["type"] for m in seen} == {"status"}


def test_interrupt_running_sampler(client):
    with client.websocket("stopper") as ws:
        prompt = wan_prompt("long shot", steps=400, seed=41, prefix="interrupt/v")
        prompt_id = client.submit(prompt, client_id="stopper").json["prompt_id"]
        while ws.recv()["type"] != "progress":
            pass
        assert client.post_json("/interrupt", {"prompt_id": "someone-else"}).status == 200
        time.sleep(0.05)
        reply = client.post_json("/interrupt", {"prompt_id": prompt_id})
        assert (reply.status, reply.body) == (200, b"")
        messages = ws.collect(prompt_id)
        assert types(messages)[-3:] == ["execution_interrupted", "status", "executing"]
        interrupted = messages[-3]["data"]
        assert interrupted["node_id"] == "3" and interrupted["node_type"] == "KSampler"
        assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
        assert set(interrupted["executed"]) == {"37", "48", "38", "6", "7", "39", "55"}
        steps_done = [m["data"]["value"] for m in messages if m["type"] == "progress"]
        assert steps_done and steps_done[-1] < 400
    entry = client.wait_history(prompt_id)
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["outputs"] == {} and entry["meta"] == {}
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    assert client.post_json("/interrupt").status == 200  # idle, no body


def test_queue_delete_and_clear_only_touch_pending(client):
    with client.websocket("queuer") as ws:
        running = client.submit(wan_prompt("busy", steps=400, seed=51, prefix="q/v"), client_id="queuer").json
        while ws.recv()["type"] != "progress":
            pass
        pending = [client.submit(image_prompt(color=c, prefix="q/img"), client_id="queuer").json for c in (1, 2)]
        front = client.submit(image_prompt(color=3, prefix="q/img"), client_id="queuer", front=True).json
        assert front["number"] < 0
        queue = client.get("/queue").json
        assert [item[1] for item in queue["queue_running"]] == [running["prompt_id"]]
        assert {item[1] for item in queue["queue_pending"]} == {p["prompt_id"] for p in [*pending, front]}
        assert queue["queue_running"][0][3] == {"client_id": "queuer"} and queue["queue_running"][0][4] == ["58"]
        assert client.get("/prompt").json == {"exec_info": {"queue_remaining": 4}}

        reply = client.post_json("/queue", {"delete": [pending[0]["prompt_id"], "unknown-id"]})
        assert (reply.status, reply.body) == (200, b"")
        queue = client.get("/queue").json
        assert {item[1] for item in queue["queue_pending"]} == {pending[1]["prompt_id"], front["prompt_id"]}
        client.post_json("/api/queue", {"clear": True})
        queue = client.get("/queue").json
        assert queue["queue_pending"] == [] and len(queue["queue_running"]) == 1
        client.post_json("/interrupt")
        ws.collect(running["prompt_id"])
    for item in [*pending, front]:
        assert client.get(f"/history/{item['prompt_id']}").json == {}


def test_out_of_memory_simulation(client, server):
    assert server.fail_next("oom") == ["oom"]
    with client.websocket("oom") as ws:
        entry, messages = run(client, ws, wan_prompt("too big", seed=61, prefix="oom/v"), "oom")
        assert types(messages)[-3:] == ["execution_error", "status", "executing"]
        error = messages[-3]["data"]
        assert error["exception_type"] == "torch.OutOfMemoryError"
        assert "Allocation on device" in error["exception_message"]
        assert "This error means you ran out of memory on your GPU." in error["exception_message"]
        assert error["node_id"] == "3" and error["node_type"] == "KSampler"
        assert list(error) == [
            "prompt_id",
            "node_id",
            "node_type",
            "executed",
            "exception_message",
            "exception_type",
            "traceback",
            "current_inputs",
            "current_outputs",
            "timestamp",
        ]
        assert error["current_inputs"]["steps"] == [3] and error["current_inputs"]["sampler_name"] == ["uni_pc"]
        assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
        # The failure is used up: the same prompt now succeeds.
        entry, _ = run(client, ws, wan_prompt("too big", seed=61, prefix="oom/v"), "oom")
        assert entry["status"]["status_str"] == "success"


def test_dropped_websocket_then_reconnect(client, server):
    server.fail_next("drop-ws")
    ws = client.websocket("dropper")
    prompt = wan_prompt("dropped", steps=150, seed=71, prefix="drop/v")
    prompt_id = client.submit(prompt, client_id="dropper").json["prompt_id"]
    with pytest.raises(Exception):  # noqa: B017 - closed or reset, depending on timing
        while True:
            ws.recv(timeout=10)
    ws.close()
    with client.websocket("dropper") as again:
        assert again.hello["data"]["sid"] == "dropper"
        messages = again.collect(prompt_id)
    # The executing client gets the current node again right after the status hello.
    assert messages[0]["type"] == "executing" and set(messages[0]["data"]) == {"node"}
    assert messages[0]["data"]["node"] in WAN_ORDER
    assert types(messages)[-3:] == ["execution_success", "status", "executing"]
    assert client.get(f"/history/{prompt_id}").json[prompt_id]["status"]["status_str"] == "success"


def test_runtime_error_from_cli_flag(tmp_path):
    with start_server(tmp_path, fail_next="error", preview_method="none") as handle:
        client = Client(handle.url)
        with client.websocket("err") as ws:
            entry, messages = run(client, ws, image_prompt(prefix="err"), "err")
            assert types(messages) == [
                "status",
                "status",
                "execution_start",
                "execution_cached",
                "progress_state",
                "executing",
                "execution_error",
                "status",
                "executing",
            ]
            error = messages[6]["data"]
            assert error["exception_type"] == "RuntimeError" and error["node_id"] == "1"
            assert error["exception_message"].endswith("\n")
            assert entry["status"] == {
                "status_str": "error",
                "completed": False,
                "messages": entry["status"]["messages"],
            }


def test_image_nodes_audio_text_and_load_image(client, server):
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 10), (10, 200, 30, 255)).save(buffer, format="PNG")
    uploaded = client.upload("source.png", buffer.getvalue(), subfolder="blender").json
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": f"{uploaded['subfolder']}/{uploaded['name']}"}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "bilinear", "width": 40, "height": 0, "crop": "disabled"},
        },
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "misc/inverted"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "6": {
            "class_type": "SaveAnimatedWEBP",
            "inputs": {
                "images": ["3", 0],
                "filename_prefix": "misc/anim",
                "fps": 8.0,
                "lossless": False,
                "quality": 80,
                "method": "default",
            },
        },
        "7": {"class_type": "EmptyAudio", "inputs": {"duration": 0.5, "sample_rate": 22050, "channels": 1}},
        "8": {"class_type": "SaveAudio", "inputs": {"audio": ["7", 0], "filename_prefix": "audio/blender"}},
        "9": {"class_type": "PrimitiveString", "inputs": {"value": "hello from blender"}},
        "10": {"class_type": "PreviewAny", "inputs": {"source": ["9", 0]}},
    }
    entry = client.wait_history(client.submit(prompt, client_id="misc").json["prompt_id"])
    outputs = entry["outputs"]
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert outputs["4"] == {"images": [{"filename": "inverted_00001_.png", "subfolder": "misc", "type": "output"}]}
    saved = Image.open(server.output_dir / "misc" / "inverted_00001_.png")
    assert saved.size == (40, 20) and saved.convert("RGB").getpixel((5, 5)) == (245, 55, 225)
    (preview,) = outputs["5"]["images"]
    assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
    assert client.get("/view", **preview).status == 200
    assert outputs["6"]["animated"] == [False] and outputs["6"]["images"][0]["filename"] == "anim_00001_.webp"
    assert outputs["8"] == {"audio": [{"filename": "blender_00001_.flac", "subfolder": "audio", "type": "output"}]}
    with av.open(str(server.output_dir / "audio" / "blender_00001_.flac")) as container:
        assert container.streams.audio[0].sample_rate == 22050
    assert outputs["10"] == {"text": ["hello from blender"]}
    assert json.loads(json.dumps(outputs)) == outputs


def test_odd_sized_video_is_cropped_to_even(client, server):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 33, "height": 17, "batch_size": 5, "color": 255}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8.0}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "odd/clip", "format": "mp4", "codec": "h264"},
        },
    }
    entry = client.wait_history(client.submit(prompt).json["prompt_id"])
    (video,) = entry["outputs"]["3"]["images"]
    assert video == {"filename": "clip_00001_.mp4", "subfolder": "odd", "type": "output"}
    with av.open(str(server.output_dir / "odd" / "clip_00001_.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (32, 16)
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_a_node_the_server_cannot_run_is_refused_at_validation(client):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "blur"}},
    }
    assert "ImageBlur" in client.get("/object_info/ImageBlur").json  # listed, as the real server lists it
    reply = client.submit(prompt)
    assert reply.status == 400
    error = reply.json["error"]
    assert error["type"] == "invalid_prompt" and error["details"] == "Node ID '#2'"
    assert "ImageBlur does not exist on the ComfyUI reference server" in error["message"]
    assert "cannot run it" in error["message"]


# --- stand-ins for the models of the bundled templates ------------------------------------------


def upload_colour(client: Client, name: str, colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(buffer, format="PNG")
    uploaded = client.upload(name, buffer.getvalue(), subfolder="starts").json
    return f"{uploaded['subfolder']}/{uploaded['name']}"


def test_flux_custom_sampler_makes_a_still_showing_the_prompt(client, server):
    prompt = template_prompt(
        "flux1_dev_t2i",
        **{
            "6": {"text": "a red kite over dunes"},
            "17": {"steps": 3},
            "25": {"noise_seed": 5},
            "27": {"width": 96, "height": 64},
            "30": {"width": 96, "height": 64},
            "9": {"filename_prefix": "flux/kite"},
        },
    )
    with client.websocket("flux") as ws:
        entry, messages = run(client, ws, prompt, "flux")
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [(p["node"], p["value"], p["max"]) for p in progress] == [("13", 1, 3), ("13", 2, 3), ("13", 3, 3)]
    assert entry["outputs"] == {
        "9": {"images": [{"filename": "kite_00001_.png", "subfolder": "flux", "type": "output"}]}
    }
    with Image.open(server.output_dir / "flux" / "kite_00001_.png") as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (64, 96, 3)
    assert np.abs(pixels[1, -2].astype(int) - np.array(seed_colour(5))).max() < 8
    assert np.abs(pixels[-2, 2].astype(int) - np.array(seed_colour(5)) * 0.56).max() < 12  # no frame counter


def test_wan_14b_runs_its_two_samplers_in_turn(client, server):
    prompt = template_prompt(
        "wan22_14b_t2v",
        **{
            "6": {"text": "a ferry leaving port"},
            "59": {"width": 64, "height": 48, "length": 5},
            "57": {"noise_seed": 9, "steps": 4, "end_at_step": 2},
            "58": {"steps": 4, "start_at_step": 2},
            "60": {"fps": 8.0},
            "61": {"filename_prefix": "video/ferry"},
        },
    )
    with client.websocket("ferry") as ws:
        entry, messages = run(client, ws, prompt, "ferry")
    progress = [(m["data"]["node"], m["data"]["value"], m["data"]["max"]) for m in messages if m["type"] == "progress"]
    assert progress == [("57", 1, 2), ("57", 2, 2), ("58", 1, 2), ("58", 2, 2)]
    [video] = entry["outputs"]["61"]["images"]
    with av.open(str(server.output_dir / video["subfolder"] / video["filename"])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)
    # The low-noise sampler adds no noise: the picture keeps the high-noise sampler's seed.
    assert np.abs(frames[0][1, -2].astype(int) - np.array(seed_colour(9))).max() < 24


@pytest.mark.parametrize(
    ("template", "image_node", "latent_node", "sampler"),
    [
        ("wan22_ti2v_5b_i2v", "56", "55", {"3": {"steps": 2}}),
        ("wan22_14b_i2v", "62", "63", {"57": {"steps": 2, "end_at_step": 1}, "58": {"steps": 2, "start_at_step": 1}}),
    ],
)
def test_image_to_video_starts_from_the_uploaded_image(client, server, template, image_node, latent_node, sampler):
    start = upload_colour(client, f"{template}.png", (250, 200, 20))
    prompt = template_prompt(
        template, **{image_node: {"image": start}, latent_node: {"width": 64, "height": 64, "length": 5}}, **sampler
    )
    entry = client.wait_history(client.submit(prompt).json["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    [video] = next(iter(entry["outputs"].values()))["images"]
    with av.open(str(server.output_dir / video["subfolder"] / video["filename"])) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(frame[1, -2].astype(int) - np.array([250, 200, 20])).max() < 24


def read_flac(path) -> tuple[int, np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.sample_rate, stream.channels
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    return rate, np.concatenate(chunks, axis=1).reshape(-1, channels).astype(np.float32) / 32768.0


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_stable_audio_makes_a_tone_of_the_asked_length_pitched_by_the_seed(client, server):
    from devservers.comfyui.sounds import tone_frequency

    prompt = template_prompt(
        "stable_audio_open_t2a",
        **{
            "6": {"text": "ship horn"},
            "11": {"seconds": 1.5},
            "12": {"seconds_total": 1.5},
            "3": {"steps": 3, "seed": 4},
            "19": {"filename_prefix": "audio/horn"},
        },
    )
    with client.websocket("sound") as ws:
        entry, messages = run(client, ws, prompt, "sound")
    assert "BINARY1" not in types(messages)  # sound latents have no previews
    assert entry["outputs"] == {
        "19": {"audio": [{"filename": "horn_00001_.flac", "subfolder": "audio", "type": "output"}]}
    }
    rate, samples = read_flac(server.output_dir / "audio" / "horn_00001_.flac")
    assert rate == 44100 and samples.shape == (round(1.5 * 44100), 2)
    assert abs(dominant_frequency(samples[:, 0], rate) - tone_frequency(4)) < 2


def test_ace_step_makes_music_of_the_asked_length(client, server):
    from devservers.comfyui.sounds import music_notes

    prompt = template_prompt(
        "ace_step_v1_t2m",
        **{
            "14": {"tags": "sea shanty, accordion"},
            "17": {"seconds": 2.0},
            "52": {"steps": 3, "seed": 3},
            "59": {"filename_prefix": "audio/shanty"},
        },
    )
    entry = client.wait_history(client.submit(prompt).json["prompt_id"])
    [sound] = entry["outputs"]["59"]["audio"]
    rate, samples = read_flac(server.output_dir / sound["subfolder"] / sound["filename"])
    assert samples.shape == (2 * 44100, 2)
    # The first note of the arpeggio is the key's root.
    first_note = samples[: int(0.25 * 44100), 0]
    assert abs(dominant_frequency(first_note, rate) - music_notes(3)[0]) < 8


def test_decoding_a_sound_latent_as_pixels_is_a_runtime_error(client):
    prompt = template_prompt("stable_audio_open_t2a", **{"3": {"steps": 1}})
    prompt["13"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
    prompt["19"] = {"class_type": "SaveImage", "inputs": {"images": ["13", 0], "filename_prefix": "wrong"}}
    entry = client.wait_history(client.submit(prompt).json["prompt_id"])
    error = entry["status"]["messages"][-1]
    assert error[0] == "execution_error" and error[1]["node_type"] == "VAEDecode"
    assert error[1]["exception_type"] == "RuntimeError" and "sound latent" in error[1]["exception_message"]


def test_jpeg_previews_like_real_comfyui_and_slow_steps(tmp_path):
    with start_server(tmp_path, preview_format="jpeg", slow_step_seconds=0.1) as handle:
        client = Client(handle.url)
        with client.websocket("jpeg") as ws:
            _, messages = run(client, ws, wan_prompt("jpeg", steps=2, seed=3, prefix="j/v"), "jpeg")
        previews = [m for m in messages if m["type"] == "binary"]
        assert [(p["event"], p["format"], p["image"][:3]) for p in previews] == [(1, 1, b"\xff\xd8\xff")] * 2
        with client.websocket("jpeg-meta", feature_flags=True) as ws:
            ws.recv()  # the feature_flags answer
            _, messages = run(client, ws, wan_prompt("jpeg", steps=2, seed=4, prefix="j/v"), "jpeg-meta")
        previews = [m for m in messages if m["type"] == "binary"]
        assert [p["metadata"]["image_type"] for p in previews] == ["image/jpeg"] * 2
        assert Image.open(io.BytesIO(previews[0]["image"])).format == "JPEG"

        assert handle.fail_next("slow") == ["slow"]
        with client.websocket("slow") as ws:
            reply = client.submit(wan_prompt("slow", steps=3, seed=5, prefix="j/slow"), client_id="slow")
            stamps = []
            while True:
                message = ws.recv(timeout=10)
                if message["type"] == "progress":
                    stamps.append(time.monotonic())
                if message["type"] == "executing" and message["data"].get("node") is None:
                    break
        assert len(stamps) == 3 and all(b - a >= 0.09 for a, b in itertools.pairwise(stamps))
        assert client.wait_history(reply.json["prompt_id"])["status"]["status_str"] == "success"
        assert handle.fail_next("none") == []
