"""The Python decoder's record of a stream, which another decoder of the format must reproduce.

A record is the outcome (``"image"`` or the :class:`sdpic.SdpicError` subclass raised) and, for an image,
three SHA-256 hashes:

- ``symbols``: the quality levels (latent grid, row-major), the hyper-latents ẑ (channel, row, column) and
  the two context passes' latent residuals (channel, then the pass's positions in coding order), each as
  little-endian int32, concatenated in that order: everything the entropy decoder produced;
- ``latents``: ŷ as the synthesis transform receives it, float32 little-endian (channel, row, column):
  equal only if the exact networks' means agree bit for bit too;
- ``pixels``: the decoded image, row-major, RGB interleaved (``L``: one byte a pixel).

The web package's tests compare its decoder with these (fixtures from :func:`write_fixtures`), and
``benchmarks/web_decoder.py`` does so on Kodak and on the fuzz corpus.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..codec.coder import TableCoder
from ..errors import SdpicError

_lock = threading.Lock()


@contextmanager
def _recorded_symbols() -> Iterator[list[np.ndarray]]:
    """Collect the value arrays the table coders decode (ẑ, then each latent pass), in decoding order. The
    decoder fills their escapes in place afterwards, so once it returns they hold the final values."""
    calls: list[np.ndarray] = []
    original = TableCoder.decode_values

    def recording(self: TableCoder, data: bytes, table_ids: np.ndarray, offsets: np.ndarray):
        values, escaped = original(self, data, table_ids, offsets)
        calls.append(values)
        return values, escaped

    with _lock:
        TableCoder.decode_values = recording
        try:
            yield calls
        finally:
            TableCoder.decode_values = original


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def decode_record(data: bytes) -> dict:
    """Decode ``data`` with the Python decoder (one thread) and return its record (module docstring)."""
    from .. import api
    from .. import format as fmt
    from ..codec.model import LATENT_STRIDE

    try:
        container = fmt.unpack(data)
        with _recorded_symbols() as calls:
            net, y_hat, q_levels = api.decode_latents(container, threads=1)
        with torch.inference_mode():
            pixels = net.synthesise_pixels(y_hat, q_levels, container.height, container.width)
    except SdpicError as exc:
        return {"outcome": type(exc).__name__, "message": str(exc)}
    greyscale = container.colour == fmt.Colour.GREYSCALE
    if greyscale:
        pixels = pixels[..., 0]
    levels = q_levels[0, 0].numpy().astype("<i4")
    z, *passes = (c.astype("<i4") for c in calls)
    return {
        "outcome": "image", "width": container.width, "height": container.height,
        "colour": "L" if greyscale else "RGB", "model_id": container.model_id,
        "latent_size": [int(levels.shape[0]), int(levels.shape[1])], "strip_scale": LATENT_STRIDE,
        "symbols": _sha256(levels, z, *passes), "latents": _sha256(y_hat.numpy().astype("<f4")),
        "pixels": _sha256(pixels), "bytes": len(data),
    }


def decoded_pixels(data: bytes) -> np.ndarray:
    """The Python decoder's pixels of a stream: (h, w, 3) uint8, or (h, w) for greyscale."""
    from .. import api

    return np.asarray(api.decompress(data, threads=1))


# ------------------------------------------------------------------------------------------ fixtures
def _sample(height: int, width: int, top: int = 0, left: int = 0) -> np.ndarray:
    from PIL import Image

    from ..demo import SAMPLE

    with Image.open(SAMPLE) as img:
        rgb = np.asarray(img.convert("RGB"))
    return np.ascontiguousarray(rgb[top:top + height, left:left + width])


def _with_escapes(image: np.ndarray, quality: float) -> bytes:
    """A valid stream whose latents (and hyper-latents) leave their tables' support: a few latents scaled
    far beyond what images give, coded through the real coder, so the escape section is not empty."""
    from .. import api
    from ..codec.model import LATENT_STRIDE
    from ..quality_map import build_levels, quality_to_level
    from ..zoo import DEFAULT_MODEL, load_model

    net = load_model(DEFAULT_MODEL)
    level = quality_to_level(quality)
    with torch.inference_mode():
        x = api.padded_tensor(image)
        levels = build_levels(level, x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE)
        q = torch.from_numpy(levels)[None, None]
        y = net.analyse(x, q)
        y[0, :8, 1, 1] *= 400.0
        y[0, 3, 2, 2] = -3000.0
        coded, _ = net.compress_latents(y, q)
    h, w = image.shape[:2]
    return api.pack_coded(DEFAULT_MODEL, coded, levels, level, w, h, False, round(quality))


def fixture_streams() -> list[tuple[str, bytes]]:
    """Small real streams covering the format: RGB, greyscale, a quality-map section (a mask and the
    learned saliency), the second model, a tall image (several strips), escapes."""
    from .. import api

    roi = _sample(80, 96, 60, 200)
    mask = np.zeros(roi.shape[:2], np.float32)
    mask[20:60, 30:70] = 1.0
    grey = _sample(29, 37, 100, 100).mean(axis=2).astype(np.uint8)
    rng = np.random.default_rng(5)
    return [
        ("rgb-q50", api.compress(_sample(48, 64, 200, 220), quality=50, threads=1)),
        ("grey-q80", api.compress(grey, quality=80, threads=1)),
        ("mask-q30", api.compress(roi, quality=30, saliency=mask, threads=1)),
        ("auto-q10", api.compress(_sample(160, 192, 40, 160), quality=10, saliency="auto", threads=1)),
        ("mse-q90", api.compress(_sample(96, 128, 300, 10), quality=90, model="sdpic-mse", threads=1)),
        ("tall-q60", api.compress(_sample(300, 70, 100, 300), quality=60, threads=1)),
        ("noise-q100", api.compress(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), quality=100, threads=1)),
        ("escapes-q40", _with_escapes(_sample(64, 64, 250, 250), quality=40)),
    ]


def _recrc(data: bytes) -> bytes:
    body = data[:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def corrupt_variants(name: str, data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Truncations, header fields at boundary values, bit flips, section edits and random bytes, with the
    CRC kept and recomputed (a sample of benchmarks/fuzz_decoder.py's mutations)."""
    for cut in sorted({0, 1, 3, 4, 5, 27, 28, 31, 32, 33, len(data) // 2, len(data) - 5, len(data) - 1}):
        if cut < len(data):
            yield f"{name}/truncate@{cut}", data[:cut]
    fields = [(0, ">I", 0x53445043 ^ 1), (4, ">B", 2), (5, ">H", 3), (5, ">H", 1), (7, ">Q", 0), (15, ">I", 0),
              (15, ">I", 1), (15, ">I", 16385), (19, ">I", 16384), (19, ">I", 63), (23, ">B", 2), (24, ">B", 101),
              (25, ">B", 65), (26, ">B", 1), (26, ">B", 2), (27, ">B", 0), (27, ">B", 5), (27, ">B", 255)]
    for offset, code, value in fields:
        mutated = data[:offset] + struct.pack(code, value) + data[offset + struct.calcsize(code):]
        yield f"{name}/@{offset}={value}", mutated
        yield f"{name}/@{offset}={value}+crc", _recrc(mutated)
    for k in range(6):
        buf = bytearray(data)
        for _ in range((1, 8, 64)[k % 3]):
            bit = rng.randrange(8 * len(buf))
            buf[bit // 8] ^= 1 << (bit % 8)
        yield f"{name}/flip{k}", bytes(buf)
        yield f"{name}/flip{k}+crc", _recrc(bytes(buf))
    yield f"{name}/random", bytes(rng.randrange(256) for _ in range(len(data)))
    noise = bytes(rng.randrange(256) for _ in range(len(data)))
    yield f"{name}/header+random+crc", _recrc(data[:28] + noise + b"\0" * 4)
    yield f"{name}/tail-words+crc", _recrc(data[:-12] + b"\0\0\0\0" + data[-8:])


def write_fixtures(out_dir: Path, force: bool = False) -> dict:
    """The web package's test fixtures: each stream (``NAME.sdpic``), the Python decoder's pixels
    (``NAME.raw``: rows of RGB or L bytes) and records, and corrupt variants with the Python outcome
    (``index.json``; each variant's bytes in base64)."""
    from ..outputs import atomic_write_bytes, check_output_path

    out_dir.mkdir(parents=True, exist_ok=True)
    check_output_path(out_dir / "index.json", force=force)
    streams, corrupt = [], []
    rng = random.Random(36)
    for name, data in fixture_streams():
        record = decode_record(data)
        if record["outcome"] != "image":
            raise AssertionError(f"fixture {name} does not decode: {record}")
        atomic_write_bytes(out_dir / f"{name}.sdpic", data)
        atomic_write_bytes(out_dir / f"{name}.raw", decoded_pixels(data).tobytes())
        streams.append({"name": name, "file": f"{name}.sdpic", "pixels_file": f"{name}.raw", **record})
        if name in ("rgb-q50", "grey-q80", "mask-q30", "escapes-q40"):
            for variant, mutated in corrupt_variants(name, data, rng):
                corrupt.append({"name": variant, "data": base64.b64encode(mutated).decode(), **decode_record(mutated)})
    index = {"streams": streams, "corrupt": corrupt}
    atomic_write_bytes(out_dir / "index.json", (json.dumps(index, indent=1) + "\n").encode())
    return index
