"""Decoding is bit-exact across processes and thread counts (see docs/determinism.md)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import smooth_image

SCRIPT = """
import sys, hashlib, numpy as np, sdpic
mode, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "encode":
    img = np.load(path + ".npy")
    open(path, "wb").write(sdpic.compress(img, quality=55, saliency=img[..., 0] / 255.0, threads=threads))
else:
    out = np.asarray(sdpic.decompress(open(path, "rb").read(), threads=threads))
    print(hashlib.sha256(out.tobytes()).hexdigest())
"""


def _run(*args: str) -> str:
    result = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_encode_and_decode_agree_across_processes_and_threads(tmp_path: Path) -> None:
    img = smooth_image(150, 200, seed=11)
    np.save(tmp_path / "img.sdpic.npy", img)
    stream = str(tmp_path / "img.sdpic")
    _run("encode", stream, "2")
    first = Path(stream).read_bytes()
    _run("encode", stream, "1")
    assert Path(stream).read_bytes() == first  # the encoder's bytes do not depend on threads either
    assert _run("decode", stream, "1") == _run("decode", stream, "2")


def test_in_process_decode_matches_subprocess(tmp_path: Path) -> None:
    import sdpic

    img = smooth_image(64, 64, seed=12)
    data = sdpic.compress(img)
    (tmp_path / "a.sdpic").write_bytes(data)
    here = hashlib.sha256(np.asarray(sdpic.decompress(data)).tobytes()).hexdigest()
    assert _run("decode", str(tmp_path / "a.sdpic"), "2") == here
