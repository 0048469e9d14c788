"""The viewer's web app (Starlette): static page + a small JSON API.

Routes::

    GET  /                          the page (static/index.html, app.js, style.css)
    GET  /api/info                  limits and model, for the page
    POST /api/analyse?quality=Q[&saliency=1][&realism=R]  or  ?target_bytes=N   body: the photo file, raw
    POST /api/realism/{id}?realism=R   decode the same sdpic file again at realism R (0..1)
    GET  /api/result/{id}/{file}    original.png, sdpic.png, avif.png, jpeg.png, saliency.png,
                                    photo.sdpic (download), decoded.png (download)
    GET  /web/                      with ``--web DIR``: the web decoder's page (web/dist), which decodes
                                    .sdpic files in the browser; served cross-origin isolated (COOP/COEP)
                                    so that its WebAssembly may use threads

The upload is sent raw (``fetch(url, {body: file})``), not as a multipart form: one file, no parser
dependency, and the size limit is enforced while reading. Results live in memory (the last few only).
Analyses run one at a time: each already uses every thread torch is given.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ImageTooLargeError, ParameterError, SdpicError
from .analysis import Analysis, Limits, Request, analyse, png_bytes, realism_choice, redecode, saliency_overlay

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Results kept for the page's images and downloads (each holds a few decoded copies of one photo).
KEEP_RESULTS = 6
#: How far past the upload limit a body is still read (and dropped) so the client gets a clean 413.
DRAIN_BYTES = 64 * 1000 * 1000
_log = logging.getLogger("sdpic.serve")


class ResultStore:
    """The last ``size`` analyses, with their files encoded on first request."""

    def __init__(self, size: int = KEEP_RESULTS) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[Analysis, dict[str, bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, analysis: Analysis) -> str:
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._items[key] = (analysis, {})
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Analysis | None:
        with self._lock:
            item = self._items.get(key)
        return None if item is None else item[0]

    def forget_files(self, key: str, names: tuple[str, ...]) -> None:
        """Drop encoded files that changed (a new decode of the sdpic file)."""
        with self._lock:
            item = self._items.get(key)
            for name in names if item is not None else ():
                item[1].pop(name, None)

    def file(self, key: str, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
        if item is None:
            return None
        analysis, files = item
        if name not in files:
            made = _make_file(analysis, name)
            if made is None:
                return None
            files[name] = made
        media = "application/octet-stream" if name.endswith(".sdpic") else "image/png"
        return files[name], media


def _make_file(analysis: Analysis, name: str) -> bytes | None:
    if name == "photo.sdpic":
        return analysis.results["sdpic"].data
    if name == "decoded.png":
        return png_bytes(analysis.decoded_image)
    if name == "original.png":
        return png_bytes(analysis.rgb)
    if name == "saliency.png":
        return png_bytes(saliency_overlay(analysis.saliency))
    stem = name.removesuffix(".png")
    if name.endswith(".png") and stem in analysis.results:
        return png_bytes(analysis.results[stem].decoded)
    return None


def _body(key: str, analysis: Analysis, version: str = "") -> dict:
    """An analysis as the page reads it; ``version`` is appended to the sdpic images' addresses so the
    browser fetches a new decode instead of its cached one."""
    body = analysis.summary()
    body["id"] = key
    names = ["original.png", "saliency.png", "photo.sdpic", "decoded.png", *(f"{c}.png" for c in analysis.results)]
    body["files"] = {name: f"/api/result/{key}/{name}" + (version if name in ("sdpic.png", "decoded.png") else "")
                     for name in names}
    return body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse_request(params) -> Request:
    def number(key: str, kind: type) -> float | int | None:
        raw = params.get(key)
        if raw in (None, ""):
            return None
        try:
            return kind(raw)
        except ValueError:
            raise ParameterError(f"{key} must be a number, got {raw!r}") from None

    target = number("target_bytes", int)
    quality = number("quality", float)
    if target is not None:
        quality = None
    elif quality is None:
        quality = 50.0
    return Request(quality=quality, target_bytes=target, use_saliency=params.get("saliency", "1") not in ("0", "false"),
                   realism=number("realism", float))


class CrossOriginIsolated:
    """An ASGI app's responses with the headers that make a page cross-origin isolated (SharedArrayBuffer,
    hence WebAssembly threads, in the web decoder's page)."""

    HEADERS = ((b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"))

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def send_isolated(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, send_isolated)


def create_app(limits: Limits = Limits(), threads: int | None = None, web_dir: Path | None = None) -> Starlette:
    """The ASGI app; ``threads`` sets torch's thread count for the analyses; ``web_dir`` (the web decoder's
    built page, web/dist) is served at /web/."""
    store = ResultStore()
    busy = threading.Lock()

    async def index(request: HttpRequest) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def info(request: HttpRequest) -> Response:
        from ..zoo import DEFAULT_MODEL

        return JSONResponse({"model": DEFAULT_MODEL, "max_upload_bytes": limits.max_upload_bytes,
                             "max_pixels": limits.max_pixels, "realism": realism_choice()})

    async def read_body(request: HttpRequest) -> bytes:
        too_big = ImageTooLargeError(f"the file is larger than {limits.max_upload_bytes / 1e6:g} MB, the viewer's "
                                     "upload limit (use `sdpic compress` for big files)")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_upload_bytes + DRAIN_BYTES:
            raise too_big
        # Past the limit the rest is read and dropped, so that the client, still sending, gets the 413
        # instead of a reset connection; a body far past the limit is cut off.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limits.max_upload_bytes:
                chunks.append(chunk)
            elif size > limits.max_upload_bytes + DRAIN_BYTES:
                break
        if size > limits.max_upload_bytes:
            raise too_big
        return b"".join(chunks)

    def run(data: bytes, req: Request) -> Analysis:
        with busy:
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
            return analyse(data, req, limits)

    async def analyse_route(request: HttpRequest) -> Response:
        try:
            req = _parse_request(request.query_params)
            req.check()
            data = await read_body(request)
            analysis = await run_in_threadpool(run, data, req)
        except ImageTooLargeError as exc:
            return _error(413, str(exc))
        except SdpicError as exc:
            return _error(400, str(exc))
        except Exception:  # a bug: say so plainly, keep the details in the server log
            _log.exception("analysis failed")
            return _error(500, "internal error while processing this photo (see the server log)")
        return JSONResponse(_body(store.add(analysis), analysis))

    def run_redecode(analysis: Analysis, realism: float) -> None:
        with busy:
            redecode(analysis, realism)

    async def realism_route(request: HttpRequest) -> Response:
        key = request.path_params["key"]
        analysis = store.get(key)
        if analysis is None:
            return _error(404, "no such result (results are kept for the last few photos only)")
        try:
            raw = request.query_params.get("realism", "")
            try:
                realism = float(raw)
            except ValueError:
                raise ParameterError(f"realism must be a number in [0, 1], got {raw!r}") from None
            await run_in_threadpool(run_redecode, analysis, realism)
        except SdpicError as exc:
            return _error(400, str(exc))
        store.forget_files(key, ("sdpic.png", "decoded.png"))
        return JSONResponse(_body(key, analysis, version=f"?realism={realism:g}"))

    async def result_file(request: HttpRequest) -> Response:
        key, name = request.path_params["key"], request.path_params["name"]
        found = await run_in_threadpool(store.file, key, name)
        if found is None:
            return _error(404, "no such result (results are kept for the last few photos only)")
        content, media = found
        headers = {"Cache-Control": "private, max-age=3600"}
        if name in ("photo.sdpic", "decoded.png"):
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(content, media_type=media, headers=headers)

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/analyse", analyse_route, methods=["POST"]),
        Route("/api/realism/{key}", realism_route, methods=["POST"]),
        Route("/api/result/{key}/{name}", result_file),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if web_dir is not None:
        routes.append(Mount("/web", app=CrossOriginIsolated(StaticFiles(directory=web_dir, html=True)), name="web"))
    return Starlette(routes=routes)
