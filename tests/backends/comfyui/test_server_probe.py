"""What a server says of itself: system stats and queue summarised, from the stub and the reference."""

from __future__ import annotations

from pathlib import Path

from comfyui_doubles import JSON, stub_backend
from comfyui_reference import reference_backend, reference_launch


def test_probe_summarises_system_stats(stub):
    stub.on(
        "GET",
        "/system_stats",
        (
            200,
            {
                "system": {
                    "os": "posix",
                    "ram_total": 25276063744,
                    "ram_free": 23664689152,
                    "comfyui_version": "0.3.64",
                },
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 4090",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": 25757220864,
                        "vram_free": 24000000000,
                    },
                    {"name": "cuda:1", "type": "cuda", "index": 1, "vram_total": 1, "vram_free": 1},
                ],
            },
            JSON,
        ),
    )
    stub.on(
        "GET",
        "/queue",
        (
            200,
            {
                "queue_running": [[3, "a", {}, {}, ["9"]]],
                "queue_pending": [[4, "b", {}, {}, ["9"]], [-5, "c", {}, {}, ["9"]]],
            },
            JSON,
        ),
    )
    probe = stub_backend(stub).probe()
    assert (probe.version, probe.device_type, probe.vram_total, probe.vram_free) == (
        "0.3.64",
        "cuda",
        25757220864,
        24000000000,
    )  # the primary device is the first listed
    assert probe.url == stub.url and probe.ram_total == 25276063744
    assert (probe.queue_running, probe.queue_pending, probe.queue_length) == (1, 2, 3)


def test_probe_reports_the_reference_servers_device(tmp_path: Path):
    with reference_launch.start_server(tmp_path, vram_gb=8) as server:
        probe = reference_backend(server).probe()
    assert probe.device_type == "cuda" and probe.vram_total == 8 * 2**30
    assert probe.version and probe.url == server.url


def test_memory_sizes_of_1e999_are_no_number(stub):
    stub.on("GET", "/system_stats", (200, '{"system": {"ram_total": 1e999}, "devices": [{"vram_total": 1e999}]}', JSON))
    stub.on("GET", "/queue", (200, {"queue_running": [], "queue_pending": []}, JSON))
    probe = stub_backend(stub).probe()
    assert (probe.vram_total, probe.ram_total) == (0, 0)
