"""The reference Wan2GP server's tools, gallery transfers and jobs, against the captured exchanges (04-80)."""

from __future__ import annotations

import io
import json
import os
import re
import time

import av
import pytest
from PIL import Image

from devservers.wan2gp import ReferenceWan2GP
from devservers.wan2gp.launch import start_server
from devservers.wan2gp.testing import McpClient

TOOLS = [
    "wangp_list_models", "wangp_search_models", "wangp_list_model_defs", "wangp_get_model",
    "wangp_get_model_metadata", "wangp_get_model_availability", "wangp_list_model_availability",
    "wangp_get_default_settings", "wangp_list_loras", "wangp_get_model_schema", "wangp_list_gallery",
    "wangp_get_gallery_item", "wangp_get_gallery_selection", "wangp_create_gallery_upload",
    "wangp_create_gallery_download", "wangp_list_deepy_templates", "wangp_get_deepy_template_settings",
    "wangp_postprocess", "wangp_toolbox", "wangp_generate", "wangp_get_job", "wangp_cancel_job",
]  # fmt: skip
SMALL = {"model_type": "t2v_1.3B", "prompt": "A red ball bouncing on a wooden floor", "resolution": "448x256",
         "video_length": 17, "num_inference_steps": 3, "seed": 42}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("wan2gp-tools"), step_seconds=0.01)
    yield handle
    handle.stop()


@pytest.fixture
def client(server):
    server.wait_idle()
    server.fail_next("none")
    yield McpClient(server.url)
    server.wait_idle()


def png(color=(255, 0, 0), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client, name, data):
    ticket = client.value("wangp_create_gallery_upload", filename=name)
    return ticket, client.request("PUT", ticket["upload_url"], data, {"Content-Type": "application/octet-stream"})


# --- discovery ------------------------------------------------------------------------------------


def test_tools_list_is_the_captured_one(client):
    tools = client.rpc("tools/list").json["result"]["tools"]
    assert [t["name"] for t in tools] == TOOLS
    generate = next(t for t in tools if t["name"] == "wangp_generate")
    assert generate["inputSchema"]["required"] == ["source"]
    assert generate["outputSchema"] == {"title": "wangp_generateDictOutput", "type": "object"}


def test_envelopes_for_dicts_lists_and_none(client):
    result = client.tool("wangp_get_default_settings", model_type="ti2v_2_2")
    assert set(result) == {"content", "structuredContent", "isError"} and result["isError"] is False
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert result["content"][0]["text"] == json.dumps(result["structuredContent"], indent=2)
    defaults = result["structuredContent"]
    assert (defaults["resolution"], defaults["video_length"], defaults["num_inference_steps"]) == ("1280x720", 121, 50)
    listed = client.tool("wangp_list_models", model_type="ti2v*")
    assert [json.loads(c["text"])["model_type"] for c in listed["content"]] == ["ti2v_2_2", "ti2v_2_2_fastwan"]
    assert [r["model_type"] for r in listed["structuredContent"]["result"]] == ["ti2v_2_2", "ti2v_2_2_fastwan"]
    assert client.tool("wangp_list_models", offset=100000) == {
        "content": [], "structuredContent": {"result": []}, "isError": False}  # fmt: skip
    assert client.tool("wangp_get_model_schema", model_type="no_such_model") == {
        "content": [], "structuredContent": {"result": None}, "isError": False}  # fmt: skip


def test_model_discovery_answers(client):
    first = client.value("wangp_list_models")
    assert len(first) == 10 and first[0]["model_type"] == "ace_step_v1" and "setting_values" not in first[0]
    record = client.value("wangp_list_models", model_type="t2v_2_2", include_availability=True)[0]
    assert record["name"] == "Wan2.2 Text2video 14B" and record["capabilities"]["text_to_video"] is True
    assert record["availability"] == {"model_type": "t2v_2_2", "status": "available", "status_code": 2,
                                      "indicator": "blue_square", "available": True}  # fmt: skip
    assert [m["model_type"] for m in client.value("wangp_list_models", query="wan", limit=3)] == [
        "alpha", "alpha2", "alpha2_sf"]  # fmt: skip
    found = client.value("wangp_search_models", query="2.2", limit=3)
    assert found["returned"] == 3 and found["has_more"] and found["total_matches"] > 3
    schema = client.value("wangp_get_model_schema", model_type="ti2v_2_2")["metadata"]
    assert (schema["fps"], schema["frames_minimum"], schema["frames_steps"], schema["frames_maximum"]) == (
        24,
        5,
        4,
        121,
    )
    metadata = client.value("wangp_get_model_metadata", model_type="t2v_1.3B", include_availability=True)
    assert list(metadata)[-3:] == ["setting_values", "name", "availability"]
    assert client.value("wangp_get_model", model_type="t2v_1.3B")["vae_block_size"] == 16
    assert client.value("wangp_list_loras", model_type="t2v_1.3B") == {
        "model_type": "t2v_1.3B", "supported": True, "loras": [], "count": 0}  # fmt: skip
    templates = client.value("wangp_list_deepy_templates")
    assert templates[0]["tool_id"] == "gen_image"
    settings = client.value("wangp_get_deepy_template_settings", tool_id="gen_video", template="default")
    assert settings["template"] == "LTX-2 2.5 Distilled"


def availability(client, model_type):
    return client.value("wangp_get_model_availability", model_type=model_type)


def test_a_normal_install_has_its_wan_models_and_fetches_the_others_on_first_use(client):
    # As the real server's get_model_download_status answers: status 2 when the model's files are there.
    downloaded = {"status": "available", "status_code": 2, "indicator": "blue_square", "available": True}
    for model_type in ("t2v_2_2", "i2v_2_2", "ti2v_2_2", "t2v_1.3B"):
        assert availability(client, model_type) == {"model_type": model_type, **downloaded}
    assert availability(client, "alpha2")["available"] is False
    listed = client.value("wangp_list_model_availability", model_type="ti2v*")
    assert {a["model_type"]: a["status"] for a in listed} == {"ti2v_2_2": "available", "ti2v_2_2_fastwan": "missing"}


def test_weights_missing_mode_answers_as_the_capture_machine(tmp_path):
    # The structuredContent of protocols/wan2gp-captures/15_get_model_availability_t2v_1.3B.json.
    captured = {"model_type": "t2v_1.3B", "status": "missing", "status_code": 0, "indicator": "black_square",
                "available": False}  # fmt: skip
    handle = start_server(tmp_path, weights="missing", extra_args=["--available-model", "alpha2"])
    try:
        client = McpClient(handle.url)
        assert availability(client, "t2v_1.3B") == captured
        record = client.value("wangp_get_model_metadata", model_type="ti2v_2_2", include_availability=True)
        assert record["availability"]["status"] == "missing"
        assert availability(client, "alpha2")["available"] is True  # --available-model still adds one
    finally:
        handle.stop()
    with pytest.raises(ValueError, match="unknown weights mode 'some'"):
        ReferenceWan2GP(weights="some")


@pytest.mark.parametrize(
    ("tool", "arguments", "text"),
    [
        ("wangp_no_such_tool", {}, "Unknown tool: wangp_no_such_tool"),
        ("wangp_search_models", {"query": ""}, "Error executing tool wangp_search_models: query is required"),
        ("wangp_get_default_settings", {"model_type": "no_such_model"},
         "Error executing tool wangp_get_default_settings: Unknown model_type: no_such_model"),
        ("wangp_list_gallery", {"media_type": "pdf"},
         "Error executing tool wangp_list_gallery: media_type must be all, image, video, or audio"),
        ("wangp_get_gallery_item", {"gallery_id": "visual:000000000000"},
         "Error executing tool wangp_get_gallery_item: 'Unknown WanGP gallery_id: visual:000000000000'"),
        ("wangp_create_gallery_download", {"gallery_id": "visual:000000000000"},
         "Error executing tool wangp_create_gallery_download: 'Unknown WanGP gallery_id: visual:000000000000'"),
        ("wangp_create_gallery_upload", {"filename": "notes.txt"}, "Error executing tool wangp_create_gallery_upload:"
         " filename must have a supported image, video, or audio extension"),
        ("wangp_get_job", {"job_id": "0000"}, "Error executing tool wangp_get_job: 'Unknown WanGP job_id: 0000'"),
        ("wangp_cancel_job", {"job_id": "0000"},
         "Error executing tool wangp_cancel_job: 'Unknown WanGP job_id: 0000'"),
        ("wangp_generate", {"source": {**SMALL, "model_type": "ti2v_2_2", "image_start": "/etc/hostname"}},
         "Error executing tool wangp_generate: Direct filesystem paths are disabled for this MCP server. Use a"
         " Gallery id for image_start, or restart with filesystem reads enabled."),
    ],
)  # fmt: skip
def test_tool_error_texts(client, tool, arguments, text):
    assert client.error_text(tool, **arguments) == text


def test_argument_validation_texts(client):
    text = client.error_text("wangp_get_default_settings")
    assert text.startswith(
        "Error executing tool wangp_get_default_settings: 1 validation error for wangp_get_default_settingsArguments"
        "\nmodel_type\n  Field required [type=missing, input_value={}, input_type=dict]"
    )
    text = client.error_text("wangp_list_models", limit="ten")
    assert "1 validation error for wangp_list_modelsArguments\nlimit\n  Input should be a valid integer" in text
    text = client.error_text("wangp_generate", source="settings.json")
    assert "2 validation errors for wangp_generateArguments\nsource.dict[str,any]\n" in text
    assert "\nsource.list[dict[str,any]]\n" in text


# --- gallery --------------------------------------------------------------------------------------


def test_upload_and_download_are_one_time(client, server):
    ticket, reply = upload(client, "../../etc/test.png", png())
    assert ticket["filename"] == "test.png" and ticket["method"] == "PUT"
    assert ticket["expires_in_seconds"] == 600 and ticket["max_bytes"] == 8589934592
    assert re.fullmatch(r"/wangp_api/gallery/upload/[0-9a-f]{32}", ticket["upload_url"])
    assert reply.status == 200
    record = reply.json
    assert list(record) == ["status", "size", "gallery_id", "gallery", "index", "path", "media_type", "selected",
                            "in_gallery", "settings"]  # fmt: skip
    assert (record["status"], record["size"], record["media_type"], record["selected"]) == (
        "uploaded", len(png()), "image", True)  # fmt: skip
    assert re.fullmatch(r"visual:[0-9a-f]{12}", record["gallery_id"])
    assert record["path"].startswith(str(server.output_dir / "mcp_uploads"))
    again = client.request("PUT", ticket["upload_url"], png())
    assert (again.status, again.json) == (404, {"error": "Upload expired or not found."})
    assert client.request("PUT", "/wangp_api/gallery/upload/" + "f" * 32, b"x").status == 404
    download = client.value("wangp_create_gallery_download", gallery_id=record["gallery_id"])
    assert (download["filename"], download["media_type"], download["size"]) == ("test.png", "image", len(png()))
    got = client.request("GET", download["download_url"])
    assert (got.status, got.body, got.header("content-type")) == (200, png(), "image/png")
    assert got.header("content-disposition") == 'attachment; filename="test.png"'
    gone = client.request("GET", download["download_url"])
    assert (gone.status, gone.json) == (404, {"error": "Download expired or not found."})
    assert client.value("wangp_get_gallery_item", gallery_id=record["gallery_id"])["path"] == record["path"]


def test_upload_rejections_and_gallery_listing(client):
    ticket, reply = upload(client, "garbage.png", b"not an image at all")
    assert reply.status == 400 and reply.json["error"].startswith("cannot identify image file '")
    assert reply.json["error"].endswith("/garbage.png'")
    not_put = client.request("GET", ticket["upload_url"])
    assert (not_put.status, not_put.body, not_put.header("allow")) == (405, b"Method Not Allowed", "PUT")
    _, image = upload(client, "still.png", png((0, 0, 255)))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        frame.sample_rate = 8000
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    _, tone = upload(client, "tone.wav", buffer.getvalue())
    assert tone.status == 200 and tone.json["gallery"] == "audio" and tone.json["gallery_id"].startswith("audio:")
    listed = client.value("wangp_list_gallery")
    assert [r["gallery"] for r in listed] == sorted((r["gallery"] for r in listed), key=lambda g: g != "visual")
    images = client.value("wangp_list_gallery", media_type="image")
    assert images and all(r["media_type"] == "image" for r in images)
    selection = client.value("wangp_get_gallery_selection")
    assert {r["gallery_id"] for r in selection} == {image.json["gallery_id"], tone.json["gallery_id"]}


# --- jobs -----------------------------------------------------------------------------------------


def test_generate_poll_and_a_real_video(client, server):
    snapshot = client.value("wangp_generate", source=SMALL)
    assert list(snapshot) == ["job_id", "done", "cancel_requested", "webui_submission_ready",
                              "webui_load_queue_token", "created_at", "updated_at", "events", "result"]  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{32}", snapshot["job_id"]) and snapshot["done"] is False
    assert snapshot["events"][0]["kind"] == "started" and snapshot["events"][0]["data"] == {"tasks": 1}
    assert snapshot["result"] is None
    busy = client.error_text("wangp_generate", source=SMALL)
    assert busy == "Error executing tool wangp_generate: WanGP session already has a generation in progress"
    final = client.wait_job(snapshot["job_id"], event_limit=500)
    kinds = [e["kind"] for e in final["events"]]
    assert kinds[0] == "started" and kinds[-1] == "completed" and "status" in kinds and "stream" in kinds
    steps = [e["data"] for e in final["events"] if e["kind"] == "progress" and e["data"]["phase"] == "inference"]
    assert [s["current_step"] for s in steps] == [1, 2, 3] and steps[-1]["progress"] == 100
    result = final["result"]
    assert (result["success"], result["errors"], result["total_tasks"], result["successful_tasks"]) == (
        True, [], 1, 1)  # fmt: skip
    (path,) = result["generated_files"]
    assert os.path.dirname(path) == str(server.output_dir) and path.endswith(
        "_seed42_A red ball bouncing on a wooden floor.mp4"
    )
    (item,) = result["gallery_items"]
    assert item["path"] == path and item["media_type"] == "video" and item["settings"]["prompt"] == SMALL["prompt"]
    completed = final["events"][-1]["data"]
    assert "gallery_items" not in completed and completed["generated_files"] == [path]
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, float(stream.average_rate)) == (448, 256, 16.0)
        assert sum(1 for _ in container.decode(stream)) == 17
    assert client.value("wangp_get_job", job_id=snapshot["job_id"], event_limit=0)["events"] == []
    assert len(client.value("wangp_get_job", job_id=snapshot["job_id"])["events"]) == 20  # the server default
    cancelled = client.value("wangp_cancel_job", job_id=snapshot["job_id"])
    assert cancelled["cancel_requested"] is True and cancelled["done"] is True  # a finished job: no error


def test_sizes_and_lengths_snap_like_wan2gp(client):
    job = client.value("wangp_generate", source={**SMALL, "model_type": "ti2v_2_2", "resolution": "460x270",
                                                 "video_length": 19, "num_inference_steps": 1}, wait=True)  # fmt: skip
    (path,) = job["result"]["generated_files"]
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, float(stream.average_rate)) == (448, 256, 24.0)  # 32-pixel blocks
        assert sum(1 for _ in container.decode(stream)) == 17  # 5 + 4k, rounded down


def test_cancel_is_cooperative(client):
    job = client.value("wangp_generate", source={**SMALL, "num_inference_steps": 500})
    time.sleep(0.05)
    cancelled = client.value("wangp_cancel_job", job_id=job["job_id"])
    assert cancelled["cancel_requested"] is True and cancelled["done"] is False
    final = client.wait_job(job["job_id"])
    result = final["result"]
    assert (result["success"], result["cancelled"], result["generated_files"], result["failed_tasks"]) == (
        False, True, [], 1)  # fmt: skip
    assert result["errors"] == [{"message": "Generation was cancelled", "task_index": 1, "task_id": 1,
                                 "stage": "cancelled", "cancelled": True}]  # fmt: skip
    assert [e["kind"] for e in final["events"]][-2:] == ["error", "completed"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("oom", "The generation of the video has encountered an error: it is likely that you have unsufficient"
                " VRAM and you should therefore reduce the video resolution or its number of frames."),
        ("error", "The generation of the video has encountered an error, please check your terminal for more"
                  " information. 'reference server: simulated failure (fail-next error)'"),
    ],
)  # fmt: skip
def test_failure_simulation(client, server, mode, message):
    assert server.fail_next(mode) == [mode]
    job = client.value("wangp_generate", source=SMALL, wait=True, timeout_s=30)
    result = job["result"]
    assert (result["success"], result["failed_tasks"], result["generated_files"]) == (False, 1, [])
    assert result["errors"] == [{"message": message, "task_index": 1, "task_id": 1, "stage": "generation",
                                 "cancelled": False}]  # fmt: skip
    assert server.state()["fail_next"] == []
    assert client.value("wangp_generate", source=SMALL, wait=True)["result"]["success"] is True  # only once


def test_unknown_model_and_manifests(client, server):
    job = client.value("wangp_generate", source={"model_type": "no_such_model", "prompt": "x"})
    assert job["done"] is True and [e["kind"] for e in job["events"]] == ["started"]
    assert job["result"]["errors"] == [{"message": "'NoneType' object has no attribute 'get'", "task_index": None,
                                        "task_id": None, "stage": "runtime", "cancelled": False}]  # fmt: skip
    assert (job["result"]["failed_tasks"], job["result"]["total_tasks"]) == (0, 1)
    two = {"tasks": [{**SMALL, "num_inference_steps": 1}, {"settings": {**SMALL, "num_inference_steps": 1}}]}
    job = client.value("wangp_generate", source=two, wait=True, event_limit=0)
    assert job["events"] == [] and job["result"]["total_tasks"] == 2 and len(job["result"]["generated_files"]) == 2
    text = client.error_text("wangp_generate", source={**SMALL, "num_inference_steps": 40}, wait=True, timeout_s=0.05)
    assert text == "Error executing tool wangp_generate: WanGP session job timed out"
    assert server.state()["busy"]  # the job keeps running; its id was never returned


def test_start_image_from_the_gallery(client):
    _, image = upload(client, "start.png", png((0, 255, 0)))
    source = {**SMALL, "model_type": "ti2v_2_2", "image_start": image.json["gallery_id"], "num_inference_steps": 1}
    job = client.value("wangp_generate", source=source, wait=True)
    (path,) = job["result"]["generated_files"]
    with av.open(path) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert abs(int(first[30, 370, 1]) - 255) < 50 and int(first[30, 370, 0]) < 60  # the thumbnail, top right


def test_in_thread_server_and_loopback_guard(tmp_path):
    with pytest.raises(ValueError, match="non-loopback"):
        ReferenceWan2GP(host="0.0.0.0")
    with ReferenceWan2GP(port=0, output_dir=str(tmp_path), step_seconds=0.0, fail_next="oom") as server:
        client = McpClient(server.url)
        assert server.mcp_url == server.url + "/mcp/"
        job = client.value("wangp_generate", source={**SMALL, "num_inference_steps": 1}, wait=True)
        assert "unsufficient VRAM" in job["result"]["errors"][0]["message"]
