"""The viewer's HTTP API against a real server: results, numbers, downloads, limits and clear errors."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

import sdpic
from sdpic.bench.metrics import psnr
from tests.conftest import smooth_image


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_page_and_static_files_are_served(server_url: str) -> None:
    status, page, headers = get(server_url)
    assert status == 200 and b"sdpic viewer" in page and headers["content-type"].startswith("text/html")
    assert "LPIPS-Alex ↓".encode() in page  # the column is named after the metric that fills it
    for name in ("app.js", "style.css"):
        status, body, _ = get(f"{server_url}static/{name}")
        assert status == 200 and len(body) > 1000
    status, body, _ = get(f"{server_url}api/info")
    assert json.loads(body)["max_upload_bytes"] == 1_000_000


def test_analysis_numbers_match_the_files_it_serves(server_url: str, photo_png: bytes) -> None:
    status, result = post(f"{server_url}api/analyse?quality=15&saliency=1", photo_png)
    assert status == 200, result
    assert (result["width"], result["height"]) == (128, 96)
    codecs = result["codecs"]
    assert set(codecs) == {"sdpic", "avif", "jpeg"}
    status, stream, headers = get(server_url.rstrip("/") + result["files"]["photo.sdpic"])
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert len(stream) == codecs["sdpic"]["bytes"]
    assert codecs["sdpic"]["bpp"] == pytest.approx(len(stream) * 8 / (128 * 96))
    decoded = np.asarray(sdpic.decompress(stream))
    _, png, _ = get(server_url.rstrip("/") + result["files"]["decoded.png"])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), decoded)
    original = np.asarray(Image.open(io.BytesIO(photo_png)).convert("RGB"))
    assert codecs["sdpic"]["psnr"] == pytest.approx(psnr(original, decoded))
    for name in ("avif", "jpeg"):  # at the same size: never more bytes than sdpic unless flagged
        assert codecs[name]["bytes"] <= codecs["sdpic"]["bytes"] or codecs[name]["note"]
        _, shown, _ = get(server_url.rstrip("/") + result["files"][f"{name}.png"])
        assert Image.open(io.BytesIO(shown)).size == (128, 96)
        assert codecs[name]["lpips_alex"] > 0 and "perceptual" not in codecs[name]
    _, overlay, _ = get(server_url.rstrip("/") + result["files"]["saliency.png"])
    assert Image.open(io.BytesIO(overlay)).mode == "RGBA"


def test_target_size_mode(server_url: str, photo_png: bytes) -> None:
    status, result = post(f"{server_url}api/analyse?target_bytes=700&saliency=0", photo_png)
    assert status == 200, result
    assert result["codecs"]["sdpic"]["bytes"] <= 700 or result["notes"]
    assert "saliency off" in result["codecs"]["sdpic"]["setting"]


@pytest.mark.parametrize(("query", "body", "status", "words"), [
    ("quality=20", b"this is not an image", 400, "not an image"),
    ("quality=20", b"", 400, "empty"),
    ("quality=20", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 400, "image"),
    ("quality=250", None, 400, "quality"),
    ("quality=abc", None, 400, "number"),
    ("target_bytes=10", None, 400, "target size"),
    ("quality=20", b"\0" * 1_000_001, 413, "upload limit"),
])
def test_bad_uploads_get_clear_errors(server_url: str, photo_png: bytes, query: str, body: bytes | None,
                                      status: int, words: str) -> None:
    got, answer = post(f"{server_url}api/analyse?{query}", photo_png if body is None else body)
    assert got == status and words in answer["error"]


def test_too_many_pixels_is_refused_with_the_limit(server_url: str) -> None:
    buf = io.BytesIO()
    Image.fromarray(smooth_image(256, 256)).save(buf, format="PNG")  # 0.066 MP > 0.05 MP limit
    status, answer = post(f"{server_url}api/analyse?quality=20", buf.getvalue())
    assert status == 413
    assert "0.07 MP" in answer["error"] and "0.05 MP" in answer["error"] and "max-megapixels" in answer["error"]


def test_unknown_results_are_404(server_url: str) -> None:
    status, body, _ = get(f"{server_url}api/result/nope/photo.sdpic")
    assert status == 404 and b"no such result" in body


def test_a_photo_too_small_for_lpips_gets_a_note_instead_of_a_number(server_url: str) -> None:
    buf = io.BytesIO()
    Image.fromarray(smooth_image(24, 40)).save(buf, format="PNG")
    status, result = post(f"{server_url}api/analyse?quality=50", buf.getvalue())
    assert status == 200, result
    assert all(c["lpips_alex"] is None for c in result["codecs"].values())
    assert "LPIPS-Alex needs at least 32 px a side" in result["notes"]


def test_the_same_file_decodes_again_at_another_realism(server_url: str, photo_png: bytes) -> None:
    status, result = post(f"{server_url}api/analyse?quality=15&realism=0", photo_png)
    assert status == 200, result
    _, stream, _ = get(server_url.rstrip("/") + result["files"]["photo.sdpic"])
    status, again = post(f"{server_url}api/realism/{result['id']}?realism=0", b"")
    assert status == 200, again
    assert again["codecs"]["sdpic"]["bytes"] == len(stream) and "realism 0" in again["codecs"]["sdpic"]["setting"]
    assert again["files"]["sdpic.png"].endswith("?realism=0")
    _, png, _ = get(server_url.rstrip("/") + again["files"]["sdpic.png"])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))),
                                  np.asarray(sdpic.decompress(stream, realism=0)))
    for bad in ("2", "x"):
        status, body = post(f"{server_url}api/realism/{result['id']}?realism={bad}", b"")
        assert status == 400 and "realism" in body["error"]
    status, body = post(f"{server_url}api/realism/nope?realism=0", b"")
    assert status == 404
