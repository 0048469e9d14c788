"""A real `sdpic serve` process for the viewer tests (module-scoped: starting torch costs seconds)."""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import smooth_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Base URL of a viewer started on a free port with small limits (1 MB upload, 0.05 MP)."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdpic.cli", "serve", "--port", "0", "--max-upload-mb", "1", "--max-megapixels", "0.05",
         "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        try:
            first = lines.get(timeout=90)
        except queue.Empty:
            pytest.fail("sdpic serve printed no address within 90 s")
        match = re.search(r"http://\S+/", first)
        assert match, f"unexpected first line from sdpic serve: {first!r} {proc.stderr.read() if proc.poll() else ''}"
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def photo_png() -> bytes:
    """A small photo-like PNG (96x128): quick to compress at low quality."""
    buf = io.BytesIO()
    Image.fromarray(smooth_image(96, 128, seed=3)).save(buf, format="PNG")
    return buf.getvalue()
