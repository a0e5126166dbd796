"""HTTP routes of the reference server (each is also served under /api/...).

Status codes and bodies follow the recorded ComfyUI 0.3.64 server: empty 200 bodies for the
control endpoints, empty 400/404 bodies for /view and /upload errors, and aiohttp's plain-text
500 ("Server got itself in trouble") for bodies the real server chokes on.

Dev-only, not in ComfyUI: `POST /reference/fail-next {"mode": "oom" | "error" | "drop-ws" | "slow" | "pass"}`
queues a mode for the next executed prompt without one ("pass": it runs normally); "none" clears
the list (see executor.FAIL_MODES);
`GET /reference/fail-next` shows the list.
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import sys
import uuid
from typing import TYPE_CHECKING

from aiohttp import web
from PIL import Image

from ..common.cut import cut_off
from .catalogue import MODEL_FOLDERS
from .validation import split_annotation

if TYPE_CHECKING:
    from .server import ReferenceComfyUI

COMFYUI_VERSION = "0.3.64"
UNSAFE_CONTENT_TYPES = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}


def _memory() -> tuple[int, int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in handle}
        return info["MemTotal"], info.get("MemAvailable", info.get("MemFree", 0))
    except (OSError, KeyError, ValueError, IndexError):
        return 16 * 2**30, 12 * 2**30


async def _json_or_empty(request: web.Request) -> dict:
    try:
        data = await request.json()
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def register(server: ReferenceComfyUI, routes: web.RouteTableDef) -> None:
    queue, worker, validator, catalogue = server.queue, server.worker, server.validator, server.catalogue

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        data = await request.json()  # not JSON -> 500, as the real server
        if not isinstance(data, (dict, list, str)):
            raise TypeError("prompt request body must be a JSON object")
        if isinstance(data, dict) and "number" in data:
            number: float = float(data["number"])
        else:
            number = server.number
            if isinstance(data, dict) and data.get("front"):
                number = -number
            server.number += 1
        if not isinstance(data, dict) or "prompt" not in data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = data["prompt"]
        prompt_id = str(data.get("prompt_id", uuid.uuid4()))
        if queue.known_id(prompt_id):
            return web.json_response({"error": "prompt_id already exists"}, status=409)
        result = validator.validate(prompt, data.get("partial_execution_targets"))
        if not result.ok:
            return web.json_response({"error": result.error, "node_errors": result.node_errors}, status=400)
        extra = dict(data.get("extra_data") or {})
        if "client_id" in data:
            extra["client_id"] = data["client_id"]
        queue.put((number, prompt_id, prompt, extra, result.outputs))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response(server.queue_info())

    @routes.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running, pending = queue.snapshot()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    @routes.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("clear"):
            queue.clear()
        for prompt_id in data.get("delete", []) if "delete" in data else []:
            queue.delete(prompt_id)
        return web.Response(status=200)

    @routes.post("/interrupt")
    async def post_interrupt(request: web.Request) -> web.Response:
        data = await _json_or_empty(request)
        worker.interrupt(data.get("prompt_id") or None)
        return web.Response(status=200)

    @routes.post("/free")
    async def post_free(request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("free_memory", False):
            worker.free_memory()
        return web.Response(status=200)

    @routes.get("/history")
    async def get_history(request: web.Request) -> web.Response:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query.get("offset", -1))
        return web.json_response(queue.get_history(max_items=max_items, offset=offset))

    @routes.get("/history/{prompt_id}")
    async def get_history_item(request: web.Request) -> web.Response:
        return web.json_response(queue.get_history(prompt_id=request.match_info["prompt_id"]))

    @routes.post("/history")
    async def post_history(request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("clear"):
            queue.delete_history()
        for prompt_id in data.get("delete", []) if "delete" in data else []:
            queue.delete_history(prompt_id)
        return web.Response(status=200)

    @routes.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        ram_total, ram_free = _memory()
        if server.vram_gb is not None:
            vram = int(server.vram_gb * 2**30)
            device = {
                "name": "reference",
                "type": "cuda",
                "index": 0,
                "vram_total": vram,
                "vram_free": vram,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        else:
            device = {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": ram_total,
                "vram_free": ram_free,
                "torch_vram_total": ram_total,
                "torch_vram_free": ram_free,
            }
        system = {
            "os": os.name,
            "ram_total": ram_total,
            "ram_free": ram_free,
            "comfyui_version": COMFYUI_VERSION,
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.95",
            "required_templates_version": "0.1.95",
            "python_version": sys.version,
            "pytorch_version": "2.9.1+cu128",
            "embedded_python": False,
            "argv": server.argv,
        }
        return web.json_response({"system": system, "devices": [device]})

    @routes.get("/features")
    async def features(request: web.Request) -> web.Response:
        from .server import SERVER_FEATURES

        return web.json_response(dict(SERVER_FEATURES))

    @routes.get("/object_info")
    async def object_info(request: web.Request) -> web.Response:
        return web.json_response(catalogue.all_nodes())

    @routes.get("/object_info/{node_class}")
    async def object_info_one(request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        entry = catalogue.node(name)
        return web.json_response({name: entry} if entry is not None else {})

    @routes.get("/models")
    async def models(request: web.Request) -> web.Response:
        return web.json_response(MODEL_FOLDERS)

    @routes.get("/models/{folder}")
    async def models_folder(request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(catalogue.model_files(folder))

    @routes.get("/embeddings")
    async def embeddings(request: web.Request) -> web.Response:
        return web.json_response([os.path.splitext(n)[0] for n in catalogue.model_files("embeddings")])

    @routes.get("/extensions")
    async def extensions(request: web.Request) -> web.Response:
        return web.json_response([])

    @routes.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, kind = split_annotation(query["filename"])
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        base = server.directories.get(kind or query.get("type", "output") or "")
        if base is None:
            return web.Response(status=400)
        if "subfolder" in query:
            folder = os.path.abspath(os.path.join(base, query["subfolder"]))
            if os.path.commonpath((folder, base)) != base:
                return web.Response(status=403)
            base = folder
        filename = os.path.basename(filename)
        path = os.path.join(base, filename)
        if not os.path.isfile(path):
            return web.Response(status=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        channel = query.get("channel", "rgba")
        if "preview" in query or channel in ("rgb", "a"):
            return _reencoded(path, query.get("preview", ""), channel, disposition)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type in UNSAFE_CONTENT_TYPES:
            content_type = "application/octet-stream"
        if (kind or query.get("type", "output")) == "output" and server.cut_downloads.take():  # dev-only mode
            return await cut_off(request, path, {**disposition, "Content-Type": content_type})
        return web.FileResponse(path, headers={**disposition, "Content-Type": content_type})

    @routes.post("/upload/image")
    async def upload_image(request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        kind = str(post.get("type") or "input")
        if kind not in server.directories:
            raise ValueError(f"unknown upload type {kind!r}")
        upload_dir = server.directories[kind]
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        filename = image.filename
        subfolder = str(post.get("subfolder", ""))
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((upload_dir, path)) != upload_dir:
            return web.Response(status=400)
        os.makedirs(folder, exist_ok=True)
        content = image.file.read()
        duplicate = False
        if str(post.get("overwrite", "")) not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            counter = 1
            while os.path.exists(path):
                with open(path, "rb") as handle:
                    if handle.read() == content:
                        duplicate = True
                        break
                filename = f"{stem} ({counter}){ext}"
                path = os.path.join(folder, filename)
                counter += 1
        if not duplicate:
            with open(path, "wb") as handle:
                handle.write(content)
        return web.json_response({"name": filename, "subfolder": subfolder, "type": kind})

    @routes.get("/reference/fail-next")
    async def get_fail_next(request: web.Request) -> web.Response:
        return web.json_response({"fail_next": list(worker.fail_next)})

    @routes.post("/reference/fail-next")
    async def post_fail_next(request: web.Request) -> web.Response:
        data = await _json_or_empty(request)
        mode = data.get("mode")
        if mode in ("none", None):
            worker.fail_next.clear()
        else:
            try:
                server.add_fail_next(str(mode))
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"fail_next": list(worker.fail_next)})


def _reencoded(path: str, preview: str, channel: str, headers: dict) -> web.Response:
    """/view with `preview=webp;90` / `jpeg;85` or `channel=rgb|a`: re-encode the image."""
    with Image.open(path) as image:
        if channel == "rgb":
            picture = image.convert("RGB")
        elif channel == "a":
            rgba = image.convert("RGBA")
            picture = Image.new("RGBA", rgba.size)
            picture.putalpha(rgba.getchannel("A"))
        else:
            picture = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
        fmt, quality = "png", 90
        if preview:
            parts = preview.split(";")
            fmt = parts[0] if parts[0] in ("webp", "jpeg") else "webp"
            if len(parts) > 1 and parts[1].isdigit():
                quality = int(parts[1])
        if fmt == "jpeg":
            picture = picture.convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt.upper(), quality=quality)
    return web.Response(body=buffer.getvalue(), content_type=f"image/{fmt}", headers=headers)
