"""The low-level client against loopback stubs serving the answers recorded from real servers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from aiohttp import web

from shotcaller.backends.base import (
    BackendUnreachable,
    Cancelled,
    InvalidRequest,
    MissingResource,
    OutOfMemory,
    ProtocolError,
)
from shotcaller.backends.comfyui.client import ComfyUIClient
from shotcaller.backends.comfyui.errors import (
    error_from_history,
    execution_error,
    interrupted_error,
    rejection_error,
)
from shotcaller.backends.policy import TransportPolicy

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"rest-of-a-png"
JSON = "application/json"

# POST /prompt answers, verbatim from protocols/comfyui-recorded.md and comfyui-source-notes.md.
UNKNOWN_CLASS_RECORDED = {
    "error": {
        "type": "invalid_prompt",
        "message": "Cannot execute because node NoSuchNode does not exist.",
        "details": "Node ID '#1'",
        "extra_info": {},
    },
    "node_errors": {},
}
MISSING_NODE_TYPE_NEWEST = {
    "error": {
        "type": "missing_node_type",
        "message": "Node 'WanVideoSampler' not found. The custom node may not be installed.",
        "details": "Node ID '#12'",
        "extra_info": {"node_id": "12", "class_type": "WanVideoSampler", "node_title": "WanVideo Sampler"},
    },
    "node_errors": {},
}
BAD_COMBO_RECORDED = {
    "error": {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "Value not in list: method: 'bogus' not in ['default', 'fastest', 'slowest']",
        "extra_info": {},
    },
    "node_errors": {
        "2": {
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "method: 'bogus' not in ['default', 'fastest', 'slowest']",
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
MISSING_MODEL = {
    "error": {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "",
        "extra_info": {},
    },
    "node_errors": {
        "37": {
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "unet_name: 'wan2.2_ti2v_5B_fp16.safetensors' not in []",
                    "extra_info": {
                        "input_name": "unet_name",
                        "input_config": [[], {}],
                        "received_value": "wan2.2_ti2v_5B_fp16.safetensors",
                    },
                }
            ],
            "dependent_outputs": ["58"],
            "class_type": "UNETLoader",
        }
    },
}
BELOW_MIN_RECORDED = {
    "error": {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "",
        "extra_info": {},
    },
    "node_errors": {
        "1": {
            "errors": [
                {
                    "type": "value_smaller_than_min",
                    "message": "Value 0 smaller than min of 1",
                    "details": "width",
                    "extra_info": {"input_name": "width", "received_value": 0},
                }
            ],
            "dependent_outputs": ["2"],
            "class_type": "EmptyImage",
        }
    },
}
NO_OUTPUTS_RECORDED = {
    "error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}},
    "node_errors": {},
}
OLD_STRING_ERROR = {"error": "no prompt", "node_errors": []}
SERVER_TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"
REGEX_ERROR_RECORDED = {
    "prompt_id": "cbb2666c-6c14-4d3c-bc83-c20f34f07a05",
    "node_id": "1",
    "node_type": "RegexReplace",
    "executed": [],
    "exception_message": "missing ), unterminated subpattern at position 0\n",
    "exception_type": "re.error",
    "traceback": ["..."],
    "current_inputs": {},
    "current_outputs": ["2", "1"],
}


def client_for(url: str, timeout: float = 5.0) -> ComfyUIClient:
    return ComfyUIClient(url, timeout)


# --- connection-level failures ------------------------------------------------------------


def test_connection_refused_names_the_url_and_how_to_start_comfyui(refused_url: str):
    with pytest.raises(BackendUnreachable) as caught:
        client_for(refused_url).system_stats()
    assert refused_url in caught.value.message
    assert "connection refused" in caught.value.message
    assert f"Is ComfyUI running at {refused_url}?" in caught.value.hint
    assert "main.py" in caught.value.hint


def test_unresolvable_host_is_unreachable():
    client = ComfyUIClient("http://shotcaller-no-such-host.invalid:8188", 3, policy=TransportPolicy(online_access=True))
    with pytest.raises(BackendUnreachable, match=r"shotcaller-no-such-host\.invalid"):
        client.queue()


def test_timeout_is_unreachable(stub):
    async def slow(request):
        await asyncio.sleep(1)
        return (200, {}, JSON)

    stub.on("GET", "/queue", slow)
    started = time.monotonic()
    with pytest.raises(BackendUnreachable, match="did not answer in time"):
        client_for(stub.url, timeout=0.3).queue()
    assert time.monotonic() - started < 1.5


def test_reset_before_answering_is_unreachable(raw_server):
    server = raw_server(b"", reset=True)
    with pytest.raises(BackendUnreachable, match="closed the connection"):
        client_for(server.url).queue()


def test_not_http_at_all_is_a_protocol_error(raw_server):
    server = raw_server(b"SSH-2.0-OpenSSH_9.6\r\n")
    with pytest.raises(ProtocolError, match="not HTTP"):
        client_for(server.url).system_stats()


def test_body_cut_short_is_a_protocol_error(raw_server):
    server = raw_server(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"queue_running": ['
    )
    with pytest.raises(ProtocolError, match="middle of a reply"):
        client_for(server.url).queue()


# --- answers that are not what the protocol allows -----------------------------------------


def test_html_instead_of_json_is_a_protocol_error(stub):
    stub.on("GET", "/system_stats", (200, "<html><body>Welcome to nginx!</body></html>", "text/html"))
    with pytest.raises(ProtocolError) as caught:
        client_for(stub.url).system_stats()
    assert "not JSON" in caught.value.message and "Welcome to nginx" in caught.value.message


def test_json_that_is_not_an_object_is_a_protocol_error(stub):
    stub.on("GET", "/queue", (200, [1, 2, 3], JSON))
    with pytest.raises(ProtocolError):
        client_for(stub.url).queue()


def test_recorded_500_text_plain_is_a_protocol_error(stub):
    stub.on("POST", "/prompt", (500, SERVER_TROUBLE, "text/plain"))
    with pytest.raises(ProtocolError) as caught:
        client_for(stub.url).submit({"1": {}}, "c")
    assert "HTTP 500" in caught.value.message and "Server got itself in trouble" in caught.value.message


def test_busy_status_is_backend_busy(stub):
    from shotcaller.backends.base import BackendBusy

    stub.on("GET", "/queue", (503, "try later", "text/plain"))
    with pytest.raises(BackendBusy):
        client_for(stub.url).queue()


# --- POST /prompt -------------------------------------------------------------------------


def test_submit_sends_prompt_and_ids_and_returns_the_servers_prompt_id(stub):
    stub.on("POST", "/prompt", (200, {"prompt_id": "server-chosen", "number": 3, "node_errors": {}}, JSON))
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8}}}
    assert client_for(stub.url).submit(prompt, "client-1", "mine") == "server-chosen"
    [body] = stub.requests_to("POST", "/prompt")
    assert json.loads(body) == {"prompt": prompt, "client_id": "client-1", "prompt_id": "mine"}


def test_submit_without_prompt_id_in_answer_is_a_protocol_error(stub):
    stub.on("POST", "/prompt", (200, {"number": 3}, JSON))
    with pytest.raises(ProtocolError, match="no prompt_id"):
        client_for(stub.url).submit({}, "c")


@pytest.mark.parametrize(
    ("answer", "error_type", "words"),
    [
        (UNKNOWN_CLASS_RECORDED, MissingResource, ["NoSuchNode", "#1"]),
        (MISSING_NODE_TYPE_NEWEST, MissingResource, ["WanVideoSampler", "12"]),
        (MISSING_MODEL, MissingResource, ["wan2.2_ti2v_5B_fp16.safetensors", "node 37", "UNETLoader", "unet_name"]),
        (BAD_COMBO_RECORDED, InvalidRequest, ["node 2 (SaveAnimatedWEBP) input method", "bogus"]),
        (BELOW_MIN_RECORDED, InvalidRequest, ["node 1 (EmptyImage) input width", "smaller than min"]),
        (NO_OUTPUTS_RECORDED, InvalidRequest, ["Prompt has no outputs"]),
        (OLD_STRING_ERROR, InvalidRequest, ["no prompt"]),
    ],
)
def test_validation_failures_become_typed_errors(stub, answer, error_type, words):
    stub.on("POST", "/prompt", (400, answer, JSON))
    with pytest.raises(error_type) as caught:
        client_for(stub.url).submit({"1": {}}, "c")
    assert type(caught.value) is error_type
    for word in words:
        assert word in caught.value.message
    assert stub.url in caught.value.message
    assert caught.value.hint


def test_rejection_that_is_not_json_is_a_protocol_error(stub):
    stub.on("POST", "/prompt", (400, "Bad Request", "text/plain"))
    with pytest.raises(ProtocolError, match="unreadable answer: Bad Request"):
        client_for(stub.url).submit({}, "c")


def test_sampler_name_not_in_list_is_a_template_problem_not_a_missing_model():
    answer = json.loads(json.dumps(BAD_COMBO_RECORDED))
    answer["node_errors"]["2"]["class_type"] = "KSampler"
    answer["node_errors"]["2"]["errors"][0]["extra_info"]["input_name"] = "sampler_name"
    error = rejection_error(400, json.dumps(answer).encode(), "http://x")
    assert type(error) is InvalidRequest


# --- other endpoints ----------------------------------------------------------------------


def test_history_returns_the_entry_or_none_while_running(stub):
    entry = {"outputs": {}, "status": {"status_str": "success", "completed": True, "messages": []}}
    stub.on("GET", "/history/done-id", (200, {"done-id": entry}, JSON))
    stub.on("GET", "/history/running-id", (200, {}, JSON))
    client = client_for(stub.url)
    assert client.history("done-id") == entry
    assert client.history("running-id") is None


def test_system_stats_object_info_and_queue(stub):
    stub.on("GET", "/system_stats", (200, {"system": {"comfyui_version": "0.3.64"}, "devices": []}, JSON))
    stub.on("GET", "/object_info", (200, {"EmptyImage": {"input": {}}}, JSON))
    stub.on("GET", "/object_info/NoSuchNode", (200, {}, JSON))
    stub.on("GET", "/queue", (200, {"queue_running": [], "queue_pending": []}, JSON))
    client = client_for(stub.url + "/")  # a trailing slash in the preferences must not matter
    assert client.system_stats()["system"]["comfyui_version"] == "0.3.64"
    assert "EmptyImage" in client.object_info()
    assert client.object_info("NoSuchNode") == {}
    assert client.queue() == {"queue_running": [], "queue_pending": []}


def test_interrupt_and_queue_delete_send_json_and_accept_empty_answers(stub):
    stub.on("POST", "/interrupt", (200, b"", "text/plain"))
    stub.on("POST", "/queue", (200, b"", "text/plain"))
    client = client_for(stub.url)
    client.interrupt("p-1")
    client.interrupt()
    client.delete_from_queue(["p-2", "p-3"])
    assert [json.loads(b) for b in stub.requests_to("POST", "/interrupt")] == [{"prompt_id": "p-1"}, {}]
    assert [json.loads(b) for b in stub.requests_to("POST", "/queue")] == [{"delete": ["p-2", "p-3"]}]


def test_download_streams_to_the_destination_with_the_right_query(stub, tmp_path: Path):
    payload = os.urandom(300_000)
    stub.on("GET", "/view", (200, payload, "video/mp4"))
    destination = tmp_path / "out" / "take.mp4"
    written = client_for(stub.url).download(
        {"filename": "blender_00001_.mp4", "subfolder": "video", "type": "output"}, str(destination)
    )
    assert written == len(payload)
    assert destination.read_bytes() == payload
    [(_, query, _)] = [r for r in stub.requests if r[0] == "GET"]
    assert query == "/view?filename=blender_00001_.mp4&subfolder=video&type=output"


def test_download_of_a_missing_file_is_a_protocol_error(stub, tmp_path: Path):
    with pytest.raises(ProtocolError, match=r"listed output file 'gone\.png' but cannot serve it \(HTTP 404\)"):
        client_for(stub.url).download(
            {"filename": "gone.png", "subfolder": "", "type": "output"}, str(tmp_path / "x.png")
        )
    assert os.listdir(tmp_path) == []


def test_download_cut_short_leaves_no_file(raw_server, tmp_path: Path):
    server = raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
    with pytest.raises(ProtocolError, match="after 5000 of 100000 bytes"):
        client_for(server.url).download({"filename": "a.png"}, str(tmp_path / "a.png"))
    assert os.listdir(tmp_path) == []  # neither the file nor a .partial left behind


def test_download_reset_mid_body_leaves_no_file(raw_server, tmp_path: Path):
    server = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000, reset=True
    )
    with pytest.raises((ProtocolError, BackendUnreachable)):
        client_for(server.url).download({"filename": "a.png"}, str(tmp_path / "a.png"))
    assert os.listdir(tmp_path) == []


def test_upload_image_is_multipart_and_returns_the_loadimage_name(stub, tmp_path: Path):
    received = {}

    async def upload(request: web.Request):
        form = await request.post()
        received.update({key: form[key] for key in ("subfolder", "type", "overwrite")})
        received["filename"] = form["image"].filename
        received["content"] = form["image"].file.read()
        return (200, {"name": "frame (1).png", "subfolder": "shotcaller", "type": "input"}, JSON)

    stub.on("POST", "/upload/image", upload)
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    assert client_for(stub.url).upload_image(str(image), "shotcaller") == "shotcaller/frame (1).png"
    assert received == {
        "subfolder": "shotcaller",
        "type": "input",
        "overwrite": "false",
        "filename": "frame.png",
        "content": PNG,
    }


def test_upload_of_an_unreadable_file_is_invalid_request(stub, tmp_path: Path):
    with pytest.raises(InvalidRequest, match="cannot read the init image"):
        client_for(stub.url).upload_image(str(tmp_path / "missing.png"))
    assert stub.requests == []


# --- execution errors (events and history) ------------------------------------------------


@pytest.mark.parametrize(
    ("exception_type", "message"),
    [
        ("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("RuntimeError", "Allocation on device 0 would exceed allowed memory. (out of memory)"),
        ("torch.cuda.OutOfMemoryError", "Allocation on device \nThis error means you ran out of memory"),
    ],
)
def test_out_of_memory_is_recognised(exception_type, message):
    error = execution_error(
        {"node_id": "3", "node_type": "KSampler", "exception_type": exception_type, "exception_message": message},
        "http://gpu:8188",
    )
    assert isinstance(error, OutOfMemory)
    assert "node 3 (KSampler)" in error.message and "http://gpu:8188" in error.message
    assert "resolution" in error.hint


def test_recorded_node_exception_is_invalid_request_naming_the_node():
    error = execution_error(REGEX_ERROR_RECORDED, "http://x")
    assert type(error) is InvalidRequest
    assert "node 1 (RegexReplace)" in error.message
    assert "missing ), unterminated subpattern" in error.message


def test_other_runtime_errors_are_protocol_errors_and_missing_files_missing_resources():
    runtime = execution_error(
        {
            "node_id": "8",
            "node_type": "VAEDecode",
            "exception_type": "RuntimeError",
            "exception_message": "CUDA error: an illegal memory access",
        },
        "http://x",
    )
    assert type(runtime) is ProtocolError
    missing = execution_error(
        {"node_id": "8", "node_type": "X", "exception_type": "FileNotFoundError", "exception_message": "No such file"},
        "http://x",
    )
    assert type(missing) is MissingResource


def test_interruption_and_history_errors():
    assert isinstance(interrupted_error({"node_type": "ImageInvert"}, "http://x"), Cancelled)
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [["execution_start", {"prompt_id": "p"}], ["execution_error", REGEX_ERROR_RECORDED]],
        },
    }
    assert type(error_from_history(entry, "http://x")) is InvalidRequest
    entry["status"]["messages"][-1] = ["execution_interrupted", {"node_id": "3", "node_type": "ImageInvert"}]
    assert isinstance(error_from_history(entry, "http://x"), Cancelled)


# --- every endpoint and error shape against the reference ComfyUI server ----------------------

reference_launch = pytest.importorskip("devservers.comfyui.launch")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    with reference_launch.start_server(
        tmp_path_factory.mktemp("comfyui-client"), step_seconds=0.01, preview_method="none"
    ) as server:
        yield server


def image_prompt(prefix: str = "client/img", color: int = 0x3366CC) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def wait_history(client: ComfyUIClient, prompt_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entry = client.history(prompt_id)
        if entry is not None:
            return entry
        time.sleep(0.02)
    raise AssertionError(f"{prompt_id} did not finish")


def test_reference_endpoints_through_the_client(reference, tmp_path: Path):
    client = client_for(reference.url, timeout=10)
    stats = client.system_stats()
    assert stats["system"]["comfyui_version"] and stats["devices"][0]["type"] == "cpu"
    assert "KSamplerAdvanced" in client.object_info()
    assert list(client.object_info("VAELoader")) == ["VAELoader"] and client.object_info("NoSuchNode") == {}
    assert client.queue() == {"queue_running": [], "queue_pending": []}

    with client.events("client-test") as stream:
        prompt_id = client.submit(image_prompt(), "client-test", "5f0c6a3e-0000-4000-8000-000000000001")
        assert prompt_id == "5f0c6a3e-0000-4000-8000-000000000001"
        seen: list[str] = []
        while not seen or seen[-1] != "executing-null":
            event = stream.receive(timeout=5)
            if event is None:
                continue
            done = event.type == "executing" and event.data.get("node") is None
            seen.append("executing-null" if done else event.type)
    assert seen[:2] == ["status", "feature_flags"]  # the stream announced preview metadata
    assert {"execution_start", "execution_cached", "progress_state", "executed", "execution_success"} <= set(seen)
    entry = wait_history(client, prompt_id)
    [ref] = entry["outputs"]["2"]["images"]
    assert client.download(ref, str(tmp_path / "still.png")) == (tmp_path / "still.png").stat().st_size > 0
    assert (tmp_path / "still.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.history("unknown-id") is None


def test_reference_upload_renames_and_the_returned_name_is_used(reference, tmp_path: Path):
    from PIL import Image

    client = client_for(reference.url)
    first, second = tmp_path / "a" / "frame.png", tmp_path / "b" / "frame.png"
    for path, colour in ((first, (255, 0, 0)), (second, (0, 255, 0))):
        path.parent.mkdir()
        Image.new("RGB", (8, 8), colour).save(path)
    assert client.upload_image(str(first), "uploads") == "uploads/frame.png"
    assert client.upload_image(str(first), "uploads") == "uploads/frame.png"  # same bytes: same file
    renamed = client.upload_image(str(second), "uploads")
    assert renamed == "uploads/frame (1).png"
    assert client.upload_image(str(second), "uploads", overwrite=True) == "uploads/frame.png"
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": renamed}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "client/up"}},
    }
    entry = wait_history(client, client.submit(prompt, "uploader"))
    assert entry["status"]["status_str"] == "success"


def test_reference_queue_delete_and_interrupt(tmp_path: Path):
    wan = json.loads((Path(__file__).parents[3] / "templates" / "comfyui" / "wan22_ti2v_5b_t2v.json").read_text())
    wan["55"]["inputs"].update(width=32, height=32, length=5)
    wan["3"]["inputs"]["steps"] = 500
    with reference_launch.start_server(tmp_path, step_seconds=0.01, preview_method="none") as server:
        client = client_for(server.url)
        running = client.submit(wan, "q")
        pending = client.submit(image_prompt("client/pending"), "q")
        deadline = time.monotonic() + 5
        while not client.queue()["queue_running"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [item[1] for item in client.queue()["queue_pending"]] == [pending]
        client.delete_from_queue([pending, "not-there"])
        assert client.queue()["queue_pending"] == []
        client.interrupt("someone-else")  # a targeted interrupt of another prompt does nothing
        time.sleep(0.1)
        assert client.history(running) is None
        client.interrupt(running)
        entry = wait_history(client, running)
        assert client.history(pending) is None  # deleted while pending: it never ran
    error = error_from_history(entry, server.url)
    assert isinstance(error, Cancelled) and "interrupted" in error.message
    steps_run = entry["status"]["messages"][-1]
    assert steps_run[0] == "execution_interrupted" and steps_run[1]["node_type"] == "KSampler"


MODEL_FREE = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}}}


@pytest.mark.parametrize(
    ("change", "error_type", "words"),
    [
        (lambda p: p["1"].update(class_type="NoSuchNode"), MissingResource, ["NoSuchNode"]),
        (lambda p: p.pop("2"), InvalidRequest, ["Prompt has no outputs"]),
        (
            lambda p: p["1"]["inputs"].pop("width"),
            InvalidRequest,
            ["node 1 (EmptyImage) input width", "Required input is missing"],
        ),
        (lambda p: p["1"]["inputs"].update(width=0), InvalidRequest, ["input width", "smaller than min of 1"]),
        (lambda p: p["1"]["inputs"].update(width="abc"), InvalidRequest, ["Failed to convert", "INT"]),
        (
            lambda p: p.update(
                {
                    "3": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "missing_model.safetensors"}},
                    "4": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["3", 2]}},
                    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
                    "2": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}},
                }
            ),
            MissingResource,
            ["model file 'missing_model.safetensors'", "node 3 CheckpointLoaderSimple"],
        ),
        (
            lambda p: p.update(
                {
                    "2": {
                        "class_type": "SaveAnimatedWEBP",
                        "inputs": {
                            "images": ["1", 0],
                            "filename_prefix": "x",
                            "fps": 6.0,
                            "lossless": False,
                            "quality": 80,
                            "method": "bogus",
                        },
                    }
                }
            ),
            InvalidRequest,
            ["node 2 (SaveAnimatedWEBP) input method", "bogus"],
        ),
        (
            lambda p: p.update({"1": {"class_type": "LoadImage", "inputs": {"image": "nope.png"}}}),
            MissingResource,
            ["cannot find the init image", "Invalid image file: nope.png"],
        ),
    ],
    ids=[
        "unknown_node",
        "no_output",
        "missing_input",
        "below_min",
        "wrong_type",
        "missing_model",
        "bad_combo",
        "missing_upload",
    ],
)
def test_reference_validation_errors_are_typed(reference, change, error_type, words):
    prompt = {
        **json.loads(json.dumps(MODEL_FREE)),
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    change(prompt)
    with pytest.raises(error_type) as caught:
        client_for(reference.url).submit(prompt, "validation")
    assert type(caught.value) is error_type
    for word in words:
        assert word in caught.value.message, caught.value.message
    assert reference.url in caught.value.message and caught.value.hint


def test_reference_500_and_404_shapes(reference, tmp_path: Path):
    client = client_for(reference.url)
    with pytest.raises(ProtocolError, match=r"internal error \(HTTP 500\).*Server got itself in trouble"):
        client.submit([1, 2], "bad")  # type: ignore[arg-type]  # the real server chokes on a list
    with pytest.raises(ProtocolError, match="cannot serve it \\(HTTP 404\\)"):
        client.download({"filename": "nope.png", "subfolder": "", "type": "output"}, str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
