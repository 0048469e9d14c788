"""The Python decoder's record of a stream, which another decoder of the format must reproduce.

A record is the outcome (``"image"`` or the :class:`sdpic.SdpicError` subclass raised) and, for an image,
three SHA-256 hashes:

- ``symbols``: the quality levels (latent grid, row-major), the hyper-latents ẑ (channel, row, column) and
  the two context passes' latent residuals (channel, then the pass's positions in coding order), each as
  little-endian int32, concatenated in that order: everything the entropy decoder produced;
- ``latents``: ŷ as the synthesis transform receives it, float32 little-endian (channel, row, column):
  equal only if the exact networks' means agree bit for bit too;
- ``pixels``: the decoded image, row-major, RGB interleaved (``L``: one byte a pixel), at realism 0 (the
  model's own g_s);
- ``alpha``: the alpha plane (one byte a pixel, row-major) where the file has one, else None; and
  ``icc_profile``, ``exif``, ``xmp``: the hashes of those sections' bytes (None where absent).

The pixels are decoded before the alpha plane, as :func:`sdpic.decompress` does, so a file with a bad
entropy stream and a bad alpha plane records the error of the former.

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
    from ..alpha import decode_plane
    from ..codec.model import LATENT_STRIDE

    try:
        container = fmt.unpack(data)
        with _recorded_symbols() as calls:
            net, y_hat, q_levels = api.decode_latents(container, threads=1)
        with torch.inference_mode():
            pixels = net.synthesise_pixels(y_hat, q_levels, container.height, container.width)
        alpha = container.sections.get(fmt.Section.ALPHA)
        plane = None if alpha is None else decode_plane(alpha, container.width, container.height)
    except SdpicError as exc:
        return {"outcome": type(exc).__name__, "message": str(exc)}
    greyscale = container.colour == fmt.Colour.GREYSCALE
    if greyscale:
        pixels = pixels[..., 0]
    levels = q_levels[0, 0].numpy().astype("<i4")
    z, *passes = (c.astype("<i4") for c in calls)
    colour = "L" if greyscale else "RGB"
    sections = {key: None if (b := container.sections.get(s)) is None else _sha256(np.frombuffer(b, np.uint8))
                for key, s in (("icc_profile", fmt.Section.ICC_PROFILE), ("exif", fmt.Section.EXIF),
                               ("xmp", fmt.Section.XMP))}
    return {
        "outcome": "image", "width": container.width, "height": container.height,
        "colour": colour, "mode": colour + ("A" if plane is not None else ""), "format_version": container.version,
        "model_id": container.model_id, "level": container.level,
        "latent_size": [int(levels.shape[0]), int(levels.shape[1])], "strip_scale": LATENT_STRIDE,
        "symbols": _sha256(levels, z, *passes), "latents": _sha256(y_hat.numpy().astype("<f4")),
        "pixels": _sha256(pixels), "alpha": None if plane is None else _sha256(plane), **sections,
        "bytes": len(data),
    }


def decoded_pixels(data: bytes) -> np.ndarray:
    """The Python decoder's colour pixels of a stream at realism 0: (h, w, 3) uint8, or (h, w) for greyscale
    (without the alpha plane, which the record hashes)."""
    from .. import api

    img = api.decompress(data, threads=1, realism=0)
    if img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    return np.asarray(img)


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


def _sections(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, payload) of each section of a well-formed stream, in file order."""
    pos, out = 28, []
    for _ in range(data[27]):
        tag, length = struct.unpack_from(">BI", data, pos)
        out.append((tag, data[pos + 5: pos + 5 + length]))
        pos += 5 + length
    return out


def _rebuilt(data: bytes, sections: list[tuple[int, bytes]], version: int | None = None) -> bytes:
    """``data``'s header with these sections (count, framing and CRC rebuilt), optionally another version."""
    head = bytearray(data[:28])
    head[27] = len(sections)
    if version is not None:
        head[4] = version
    payload = bytes(head) + b"".join(struct.pack(">BI", tag, len(p)) + p for tag, p in sections)
    return payload + struct.pack(">I", zlib.crc32(payload))


def _webp(pixels: np.ndarray, **params: object) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="WEBP", **params)
    return buf.getvalue()


def _alpha_edits(payload: bytes, width: int, height: int, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """The ALPHA section's header fields one by one, a bitstream cut short (framing kept consistent), bit
    flips inside it, and other WebP files in its place."""
    def patched(offset: int, new: bytes) -> bytes:
        return payload[:offset] + new + payload[offset + len(new):]

    def le32(offset: int, delta: int) -> bytes:
        return patched(offset, struct.pack("<I", (struct.unpack_from("<I", payload, offset)[0] + delta) & 0xFFFFFFFF))

    (bits,) = struct.unpack_from("<I", payload, 21)
    yield "riff-magic", patched(0, b"RIFX")
    yield "riff-size+1", le32(4, 1)
    yield "riff-size-1", le32(4, -1)
    yield "webp-tag", patched(8, b"WEBQ")
    yield "vp8l-tag", patched(12, b"VP8 ")
    yield "chunk-size+2", le32(16, 2)
    yield "signature", patched(20, b"\x2e")
    for label, value in (("width+1", bits + 1), ("height+1", bits + (1 << 14)), ("version", bits | (1 << 29)),
                         ("alpha-bit", bits ^ (1 << 28))):
        yield f"vp8l-{label}", patched(21, struct.pack("<I", value & 0xFFFFFFFF))
    body = payload[20:]
    for cut in sorted({1, 2, 4, len(body) // 2, len(body) - 6}):
        if 0 < cut < len(body) - 5:
            short = body[:len(body) - cut]
            pad = b"\0" if len(short) % 2 else b""
            yield f"cut{cut}", b"RIFF" + struct.pack("<I", 12 + len(short) + len(pad)) + b"WEBPVP8L" + \
                struct.pack("<I", len(short)) + short + pad
    for k in range(12):
        buf = bytearray(payload)
        for _ in range((1, 3, 16)[k % 3]):
            i = rng.randrange(25, len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        yield f"bitstream-flip{k}", bytes(buf)
    noise = np.random.default_rng(rng.randrange(1 << 30))
    plane = noise.integers(0, 256, (height, width), dtype=np.uint8)
    yield "other-plane", _webp(plane, lossless=True)
    # a colour WebP: the alpha plane is its green channel, whatever red and blue hold
    rgb = np.dstack([255 - plane, plane, noise.integers(0, 256, (height, width), dtype=np.uint8)])
    yield "green-channel", _webp(rgb, lossless=True, exact=True)
    yield "lossy", _webp(np.dstack([plane] * 3), quality=80)


def version_2_variants(name: str, data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Edits of a version-2 stream's sections (alpha plane, ICC profile, EXIF, XMP) and of the version rules,
    each with its framing and CRC rebuilt so that it reaches the section checks (docs/format.md)."""
    parts = _sections(data)
    width, height = struct.unpack_from(">II", data, 15)
    extra = [(t, p) for t, p in parts if t >= 5]

    def replaced(tag: int, payload: bytes) -> bytes:
        return _rebuilt(data, [(t, payload if t == tag else p) for t, p in parts])

    yield f"{name}/as-version-1", _rebuilt(data, parts, version=1)
    yield f"{name}/without-version-2-sections", _rebuilt(data, [(t, p) for t, p in parts if t < 5])
    yield f"{name}/v2-section-as-tag-9", _rebuilt(data, [(9 if t == extra[0][0] else t, p) for t, p in parts])
    for tag, payload in extra:
        yield f"{name}/empty-{tag}", replaced(tag, b"")
        yield f"{name}/twice-{tag}", _rebuilt(data, [*parts, (tag, payload)])
    sections = dict(parts)
    if 5 in sections:
        for label, payload in _alpha_edits(sections[5], width, height, rng):
            yield f"{name}/alpha-{label}", replaced(5, payload)
    icc = sections.get(6)
    grey = data[23] == 1
    if icc is not None:
        yield f"{name}/icc-acsp", replaced(6, icc[:36] + b"acsq" + icc[40:])
        yield f"{name}/icc-127-bytes", replaced(6, icc[:127])
        yield f"{name}/icc-cmyk", replaced(6, icc[:16] + b"CMYK" + icc[20:])
        yield f"{name}/icc-other-space", replaced(6, icc[:16] + (b"RGB " if grey else b"GRAY") + icc[20:])
        yield f"{name}/icc-space-with-blanks", replaced(6, icc[:16] + (b"GRAY" if grey else b"\tRGB") + icc[20:])
    else:  # a profile where there was none (a grey one for a grey image)
        profile = bytearray(128)
        profile[16:20], profile[36:40] = (b"GRAY" if grey else b"RGB "), b"acsp"
        yield f"{name}/icc-added", _rebuilt(data, sorted([*parts, (6, bytes(profile))]))
    exif = sections.get(7)
    if exif is not None:
        yield f"{name}/exif-header", replaced(7, b"II+\0" + exif[4:])
        yield f"{name}/exif-7-bytes", replaced(7, exif[:7])
        yield f"{name}/exif-big-endian-garbage", replaced(7, b"MM\0*" + bytes(rng.randrange(256) for _ in range(20)))
    xmp = sections.get(8)
    if xmp is not None:
        for label, bad in (("ff", b"\xff"), ("surrogate", b"\xed\xa0\x80"), ("overlong", b"\xc0\xaf"),
                           ("above-u10ffff", b"\xf4\x90\x80\x80"), ("cut-sequence", "ü".encode()[:1])):
            yield f"{name}/xmp-{label}", replaced(8, xmp + bad)
        yield f"{name}/xmp-non-ascii", replaced(8, xmp + "Zürich ✓ 𝄞".encode())


#: Streams whose mutations the fixtures carry (the version-2 golden files get version_2_variants too).
CORRUPTED_STREAMS = ("rgb-q50", "grey-q80", "mask-q30", "escapes-q40")
#: The realism fixtures: a test realism decoder for the default model (sdpic), its bundle, pixels at these.
REALISM_STREAMS = ("rgb-q50", "auto-q10", "tall-q60")
REALISM_VALUES = (0.5, 1.0)
REALISM_MAP_VALUES = (0.3, 0.5, 1.0)
FIXTURE_DEFAULT_REALISM = 0.5


def fixture_realism_decoder(model: torch.nn.Module) -> torch.nn.Module:
    """A realism decoder for ``model``'s latents that differs from its g_s: the base g_s with the realism
    encoder's last layer (zero in a fresh one) drawn at random (seeded), as tests/test_api.py makes one."""
    from ..codec.realism import RealismDecoder

    decoder = RealismDecoder.from_base(model)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        weight = decoder.realism_encoder.net[-1].weight
        weight.copy_(torch.randn(weight.shape, generator=generator) * 0.5)
    return decoder.eval()


def _realism_fixtures(out_dir: Path, streams: dict[str, bytes]) -> dict:
    """A bundle folder ``realism-models/`` for the default model with :func:`fixture_realism_decoder` (fp32,
    default realism 0.5), and the Python decoder's pixels of some streams at some realisms, with the hashes
    of their realism maps."""
    from .. import api
    from .. import format as fmt
    from ..codec.realism import realism_map
    from ..outputs import atomic_write_bytes
    from ..zoo import DEFAULT_MODEL, entry_by_name, load_model, load_realism_file, save_realism_file
    from .web import INDEX_FILE, index_json, zoo_bundle

    models = out_dir / "realism-models"
    models.mkdir(exist_ok=True)
    entry = entry_by_name(DEFAULT_MODEL)
    weights = models / "fixture-realism.safetensors"
    save_realism_file(fixture_realism_decoder(load_model(DEFAULT_MODEL)), weights, entry.path)
    bundle = zoo_bundle(DEFAULT_MODEL, fp16=False, realism_weights=weights, default_realism=FIXTURE_DEFAULT_REALISM)
    for file, data in bundle.files.items():
        atomic_write_bytes(models / file, data)
    atomic_write_bytes(models / INDEX_FILE, index_json([bundle.manifest]))
    decoder = load_realism_file(weights, entry.path)
    cases, maps = [], []
    for name in REALISM_STREAMS:
        container = fmt.unpack(streams[name])
        net, y_hat, q_levels = api.decode_latents(container, threads=1)
        for value in REALISM_MAP_VALUES:
            r = realism_map(q_levels, container.level, value)
            maps.append({"name": name, "realism": value, "map": _sha256(r.numpy().astype("<f4"))})
        for value in REALISM_VALUES:
            pixels = api.synthesise_pixels(container, net, y_hat, q_levels, value, threads=1, decoder=decoder)
            file = f"{name}.realism{value}.raw"
            atomic_write_bytes(out_dir / file, pixels.tobytes())
            cases.append({"name": name, "realism": value, "pixels_file": file, "pixels": _sha256(pixels)})
    return {"models": models.name, "default": FIXTURE_DEFAULT_REALISM, "cases": cases, "maps": maps}


def write_fixtures(out_dir: Path, force: bool = False, golden_dir: Path | None = None,
                   realism: bool = True) -> dict:
    """The web package's test fixtures: each stream (``NAME.sdpic``), the Python decoder's pixels
    (``NAME.raw``: rows of RGB or L bytes; the alpha plane is in the record, hashed) and records, and corrupt
    variants with the Python outcome (``index.json``; each variant's bytes in base64). ``golden_dir``: a
    folder of golden files (tests/golden/shipped) to add as ``golden-NAME`` streams, the version-2 ones
    with :func:`version_2_variants`. ``realism``: the realism fixtures (:func:`_realism_fixtures`)."""
    from ..outputs import atomic_write_bytes, check_output_path

    out_dir.mkdir(parents=True, exist_ok=True)
    check_output_path(out_dir / "index.json", force=force)
    streams, corrupt = [], []
    rng = random.Random(36)
    sources = fixture_streams()
    if golden_dir is not None:
        sources += [(f"golden-{p.stem}", p.read_bytes()) for p in sorted(Path(golden_dir).glob("*.sdpic"))]
    for name, data in sources:
        record = decode_record(data)
        if record["outcome"] != "image":
            raise AssertionError(f"fixture {name} does not decode: {record}")
        atomic_write_bytes(out_dir / f"{name}.sdpic", data)
        atomic_write_bytes(out_dir / f"{name}.raw", decoded_pixels(data).tobytes())
        streams.append({"name": name, "file": f"{name}.sdpic", "pixels_file": f"{name}.raw", **record})
        variants = []
        if name in CORRUPTED_STREAMS or record["format_version"] == 2:
            variants += corrupt_variants(name, data, rng)
        if record["format_version"] == 2:
            variants += version_2_variants(name, data, rng)
        for variant, mutated in variants:
            corrupt.append({"name": variant, "data": base64.b64encode(mutated).decode(), **decode_record(mutated)})
    index = {"streams": streams, "corrupt": corrupt}
    if realism:
        index["realism"] = _realism_fixtures(out_dir, dict(sources))
    atomic_write_bytes(out_dir / "index.json", (json.dumps(index, indent=1) + "\n").encode())
    return index
