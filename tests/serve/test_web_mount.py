"""`sdpic serve --web DIR`: the web decoder's page at /web/, cross-origin isolated (its WebAssembly threads);
the viewer's own pages keep their headers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from sdpic.serve.app import create_app


def _get(app, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET through the ASGI app; the client disconnects once the response is complete."""
    messages: list[dict] = []
    requested = False

    async def call() -> None:
        done = asyncio.Event()

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await asyncio.wait_for(app(scope, receive, send), timeout=30)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "root_path": "", "http_version": "1.1"}
    asyncio.run(call())
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in messages[1:])


def test_web_page_is_served_cross_origin_isolated(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>decoder</title>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "x.wasm").write_bytes(b"\0asm")
    app = create_app(web_dir=tmp_path)
    status, headers, body = _get(app, "/web/")
    assert status == 200 and b"decoder" in body
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    assert _get(app, "/web/js/x.wasm")[1]["cross-origin-embedder-policy"] == "require-corp"
    assert _get(app, "/web/missing.js")[0] == 404
    assert "cross-origin-embedder-policy" not in _get(app, "/static/style.css")[1]
    assert _get(create_app(), "/web/")[0] == 404
