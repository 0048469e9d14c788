"""VVC / H.266 intra through the FFmpeg bundled with ``imageio-ffmpeg`` (libvvenc encoder, native decoder).

libvvenc only accepts ``yuv420p10le``. FFmpeg's own RGB->YUV path would use limited range (and its own
chroma filter), which costs PSNR that is not the codec's fault, so we do the colour conversion ourselves:
RGB -> full-range BT.709 Y'CbCr at 10 bits, 2x2 box-filtered chroma, piped as raw ``yuv420p10le``; on the
way back, bilinear chroma upsampling and the exact inverse matrix. The stream is the raw Annex-B bitstream
preceded by a 4-byte header (width, height as big-endian uint16) because we pad to a multiple of 8; those
4 bytes are counted in the bpp like everything else.
"""

from __future__ import annotations

import functools
import re
import struct
import subprocess

import numpy as np
from PIL import Image

from ...errors import SdpicError
from .base import Availability, Codec, as_rgb_uint8

_KR, _KB = 0.2126, 0.0722  # BT.709
_KG = 1.0 - _KR - _KB
_PAD = 8
_MAX10 = 1023.0


@functools.lru_cache(maxsize=1)
def _ffmpeg() -> tuple[str | None, str]:
    """Return (path to ffmpeg, reason if unusable); cached because probing runs a subprocess."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        return None, f"imageio-ffmpeg is not installed ({exc})"
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        return None, f"imageio-ffmpeg has no ffmpeg binary ({exc})"
    try:
        enc = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
        dec = subprocess.run([exe, "-hide_banner", "-decoders"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot run {exe} ({exc})"
    if "libvvenc" not in enc:
        return None, "the bundled ffmpeg has no libvvenc encoder"
    if not re.search(r"^\s*V\S*\s+(vvc|libvvdec)\s", dec, re.MULTILINE):
        return None, "the bundled ffmpeg has no VVC decoder"
    return exe, ""


def rgb_to_yuv420_10bit(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-range BT.709 Y'CbCr at 10 bits with 2x2-averaged chroma; ``rgb`` dims must be even."""
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2.0 * (1.0 - _KB))
    cr = (r - y) / (2.0 * (1.0 - _KR))
    h, w = y.shape

    def down(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def q(v: np.ndarray, offset: float) -> np.ndarray:
        return np.clip(np.rint(v * _MAX10 + offset), 0, _MAX10).astype("<u2")

    return q(y, 0.0), q(down(cb), 512.0), q(down(cr), 512.0)


def yuv420_10bit_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_yuv420_10bit` with bilinear (centre-sited) chroma upsampling."""
    h, w = y.shape

    def up(c: np.ndarray) -> np.ndarray:
        img = Image.fromarray(((c.astype(np.float32) - 512.0) / _MAX10), mode="F")
        return np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float64)

    yf = y.astype(np.float64) / _MAX10
    cbf, crf = up(cb), up(cr)
    r = yf + 2.0 * (1.0 - _KR) * crf
    b = yf + 2.0 * (1.0 - _KB) * cbf
    g = (yf - _KR * r - _KB * b) / _KG
    rgb = np.stack([r, g, b], axis=-1) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


class VvcCodec(Codec):
    """VVC intra (libvvenc, preset ``fast``, perceptual QPA off so it optimises PSNR), QP 0-63."""

    name = "vvc"
    settings = (50, 46, 42, 38, 34, 31, 28, 25)
    setting_range = (1, 63)  # libvvenc rejects QP 0 ("generic error")
    higher_is_more_bits = False
    config = "preset=fast,qpa=0,yuv420p10le-fullrange-bt709-own-conversion"
    preset = "fast"

    def is_available(self) -> Availability:
        exe, reason = _ffmpeg()
        return Availability(exe is not None, reason)

    def version(self) -> str:
        exe, reason = _ffmpeg()
        if exe is None:
            return f"unavailable: {reason}"
        return _version_string(exe)

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        exe = self._exe()
        rgb = as_rgb_uint8(rgb)
        h, w = rgb.shape[:2]
        ph, pw = -h % _PAD, -w % _PAD
        padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge") if (ph or pw) else rgb
        y, cb, cr = rgb_to_yuv420_10bit(padded)
        raw = y.tobytes() + cb.tobytes() + cr.tobytes()
        H, W = padded.shape[:2]
        cmd = [
            exe, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{W}x{H}", "-color_range", "pc", "-i", "-",
            "-frames:v", "1", "-c:v", "libvvenc", "-preset", self.preset, "-qp", str(int(setting)), "-qpa", "0",
            "-threads", str(self.threads), "-f", "vvc", "-",
        ]  # fmt: skip
        stream = _run(cmd, raw)
        return struct.pack(">HH", w, h) + stream

    def decode(self, data: bytes) -> np.ndarray:
        exe = self._exe()
        if len(data) < 5:
            raise SdpicError("vvc stream is too short")
        w, h = struct.unpack(">HH", data[:4])
        H, W = h + (-h % _PAD), w + (-w % _PAD)
        cmd = [
            exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", str(self.threads),
            "-f", "vvc", "-i", "-", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-",
        ]  # fmt: skip
        raw = _run(cmd, data[4:])
        n_y, n_c = H * W, (H // 2) * (W // 2)
        if len(raw) < 2 * (n_y + 2 * n_c):
            raise SdpicError(f"vvc decoder returned {len(raw)} bytes, expected {2 * (n_y + 2 * n_c)}")
        planes = np.frombuffer(raw[: 2 * (n_y + 2 * n_c)], dtype="<u2")
        y = planes[:n_y].reshape(H, W)
        cb = planes[n_y : n_y + n_c].reshape(H // 2, W // 2)
        cr = planes[n_y + n_c :].reshape(H // 2, W // 2)
        return np.ascontiguousarray(yuv420_10bit_to_rgb(y, cb, cr)[:h, :w])

    def _exe(self) -> str:
        exe, reason = _ffmpeg()
        if exe is None:
            raise SdpicError(f"vvc is unavailable: {reason}")
        return exe


@functools.lru_cache(maxsize=4)
def _version_string(exe: str) -> str:
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30).stdout
    ff = out.split("\n", 1)[0].replace("ffmpeg version ", "").split(" ")[0]
    vv = "libvvenc"
    probe = subprocess.run(
        [exe, "-hide_banner", "-f", "lavfi", "-i", "color=c=black:s=16x16:d=0.04", "-frames:v", "1",
         "-c:v", "libvvenc", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    m = re.search(r"vvenc(?:c)?\s*(?:version)?\s*:?\s*v?(\d+\.\d+(?:\.\d+)?)", probe.stderr, re.IGNORECASE)
    if m:
        vv = f"libvvenc {m.group(1)}"
    try:
        import imageio_ffmpeg

        return f"imageio-ffmpeg {imageio_ffmpeg.__version__} / ffmpeg {ff} / {vv} + native vvc decoder"
    except ImportError:
        return f"ffmpeg {ff} / {vv}"


def _run(cmd: list[str], data: bytes) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=600)
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SdpicError(f"ffmpeg failed ({proc.returncode}): {msg[-1] if msg else 'no output'}")
    return proc.stdout
