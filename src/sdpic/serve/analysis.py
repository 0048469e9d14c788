"""What the viewer shows for one uploaded photo: sdpic at a quality or a target size, AVIF and JPEG at the
same file size, the saliency map, and bpp / PSNR / LPIPS-Alex (:mod:`sdpic.metric`'s default human-calibrated
distance, lower is better) for each.

Kept apart from the web layer so it can be tested (and reused) without a server.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageTooLargeError, InputImageError, ParameterError

#: Baselines shown beside sdpic, matched to sdpic's file size by bisection on their quality setting.
BASELINE_CODECS = ("avif", "jpeg")


@dataclass(frozen=True)
class Limits:
    """Upload limits: the viewer is for looking at photos, the CLI is for big batches."""

    max_upload_bytes: int = 25 * 1000 * 1000
    max_pixels: int = 4_000_000


@dataclass(frozen=True)
class Request:
    quality: float | None = 50.0
    target_bytes: int | None = None  # instead of quality: the largest file that fits
    use_saliency: bool = True  # move bits toward salient regions (--saliency auto)
    realism: float | None = None  # decode at this realism (None: the model's default)

    def check(self) -> None:
        if self.realism is not None:
            from ..codec.realism import check_realism

            check_realism(self.realism)
        if (self.quality is None) == (self.target_bytes is None):
            raise ParameterError("give either a quality or a target size")
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise ParameterError(f"quality must be in 0..100, got {self.quality:g}")
        if self.target_bytes is not None and self.target_bytes < 64:
            raise ParameterError(f"target size must be at least 64 bytes, got {self.target_bytes}")


@dataclass
class CodecResult:
    name: str
    data: bytes
    decoded: np.ndarray  # uint8 RGB
    setting: str
    note: str = ""
    psnr: float | None = None
    lpips_alex: float | None = None

    def summary(self, pixels: int) -> dict:
        return {"name": self.name, "bytes": len(self.data), "bpp": len(self.data) * 8 / pixels,
                "psnr": self.psnr, "lpips_alex": self.lpips_alex, "setting": self.setting, "note": self.note}


@dataclass
class Analysis:
    width: int
    height: int
    original_bytes: int
    original_format: str
    rgb: np.ndarray
    saliency: np.ndarray  # float32 HxW in [0, 1]
    results: dict[str, CodecResult] = field(default_factory=dict)
    decoded_image: Image.Image | None = None  # sdpic's output in its own mode (L for greyscale), for download
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def summary(self) -> dict:
        return {
            "width": self.width, "height": self.height, "original_bytes": self.original_bytes,
            "original_format": self.original_format, "seconds": round(self.seconds, 3), "notes": self.notes,
            "codecs": {name: r.summary(self.pixels) for name, r in self.results.items()},
        }


def decode_upload(data: bytes, limits: Limits) -> tuple[np.ndarray, bool, str]:
    """Uploaded file bytes -> (uint8 RGB, was greyscale, format name); typed errors for anything unusable."""
    from ..image_io import check_dimensions, load_image

    if not data:
        raise InputImageError("the upload is empty")
    if len(data) > limits.max_upload_bytes:
        raise ImageTooLargeError(f"the file is {len(data) / 1e6:.1f} MB; the viewer takes up to "
                                 f"{limits.max_upload_bytes / 1e6:.0f} MB (use `sdpic compress` for big files)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or "image"
            width, height = img.size
            check_dimensions(width, height)
            if width * height > limits.max_pixels:
                raise ImageTooLargeError(
                    f"the photo is {width}x{height} ({width * height / 1e6:.2f} MP); the viewer takes up to "
                    f"{limits.max_pixels / 1e6:g} MP (start it with --max-megapixels, or use `sdpic compress`)")
            img.load()
            img = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise InputImageError("not an image file Pillow can read (try PNG, JPEG, WebP, AVIF or TIFF)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, InputImageError):
            raise
        raise InputImageError(f"the image file is damaged ({exc})") from None
    loaded = load_image(img)
    return loaded.rgb, loaded.greyscale, fmt


def _quality_metrics(result: CodecResult, reference: np.ndarray) -> None:
    from ..bench.metrics import psnr
    from ..metric import MIN_SIDE, distance

    result.psnr = psnr(reference, result.decoded)
    if min(reference.shape[:2]) >= MIN_SIDE:
        result.lpips_alex = float(distance(reference, result.decoded, metric="lpips-alex"))


def analyse(data: bytes, request: Request, limits: Limits = Limits()) -> Analysis:
    """Run everything the viewer shows for one upload."""
    from .. import api
    from ..bench.bisect import bisect_setting
    from ..bench.codecs import get_codec
    from ..metric import MIN_SIDE
    from ..saliency import predict_rgb

    request.check()
    start = time.perf_counter()
    rgb, greyscale, fmt = decode_upload(data, limits)
    height, width = rgb.shape[:2]
    analysis = Analysis(width, height, len(data), fmt, rgb, predict_rgb(rgb, "learned"))
    source = rgb[..., 0] if greyscale else rgb
    saliency = analysis.saliency if request.use_saliency else None
    if request.target_bytes is not None:
        target_bpp = request.target_bytes * 8 / analysis.pixels
        stream = api.compress(source, saliency=saliency, target_bpp=target_bpp)
        quality = api.info(stream)["quality"]
        setting = f"quality {quality} (largest that fits {request.target_bytes} bytes)"
        if len(stream) > request.target_bytes:
            analysis.notes.append("sdpic cannot make this photo as small as the target; its smallest file is shown")
    else:
        stream = api.compress(source, quality=request.quality, saliency=saliency)
        setting = f"quality {request.quality:g}"
    setting += ", saliency on" if saliency is not None else ", saliency off"
    analysis.decoded_image = api.decompress(stream, realism=request.realism)
    if request.realism is not None:
        setting += f", realism {request.realism:g}"
    decoded = np.asarray(analysis.decoded_image.convert("RGB"))
    analysis.results["sdpic"] = CodecResult("sdpic", stream, decoded, setting)
    sdpic_bpp = len(stream) * 8 / analysis.pixels
    for name in BASELINE_CODECS:
        codec = get_codec(name, threads=1)
        available = codec.is_available()
        if not available:
            analysis.notes.append(f"{name} not shown: {available.reason}")
            continue
        found = bisect_setting(codec, rgb, sdpic_bpp)
        note = "" if found.under_target else f"{name} cannot get this small; its smallest file is shown"
        analysis.results[name] = CodecResult(name, found.data, codec.decode(found.data), f"quality {found.setting}",
                                             note)
    for result in analysis.results.values():
        _quality_metrics(result, rgb)
    if min(width, height) < MIN_SIDE:
        analysis.notes.append(f"LPIPS-Alex needs at least {MIN_SIDE} px a side")
    analysis.seconds = time.perf_counter() - start
    return analysis


def realism_choice() -> dict:
    """What the page's realism slider offers: whether the default model has a realism decoder, and its
    default realism (:func:`sdpic.decompress`)."""
    from ..zoo import DEFAULT_MODEL, entry_by_name

    entry = entry_by_name(DEFAULT_MODEL)
    return {"available": entry.realism_path is not None,
            "default": entry.default_realism if entry.realism_path is not None else 0.0}


def redecode(analysis: Analysis, realism: float) -> None:
    """Decode the sdpic file of ``analysis`` again at ``realism`` (the same file: only the decoder's
    trade-off between fidelity and realistic texture changes) and re-measure it."""
    from .. import api
    from ..codec.realism import check_realism

    value = check_realism(realism)
    result = analysis.results["sdpic"]
    analysis.decoded_image = api.decompress(result.data, realism=value)
    result.decoded = np.asarray(analysis.decoded_image.convert("RGB"))
    result.setting = result.setting.split(", realism")[0] + f", realism {value:g}"
    _quality_metrics(result, analysis.rgb)


def saliency_overlay(saliency: np.ndarray) -> Image.Image:
    """A heat-map RGBA image: transparent where nothing is salient, warm and opaque where people look."""
    stops = np.array([[0, 0, 80], [120, 0, 160], [230, 40, 40], [255, 160, 0], [255, 255, 120]], dtype=np.float32)
    s = np.clip(saliency, 0.0, 1.0) * (len(stops) - 1)
    low = np.floor(s).astype(np.int64).clip(0, len(stops) - 2)
    frac = (s - low)[..., None]
    rgb = stops[low] * (1 - frac) + stops[low + 1] * frac
    alpha = (40 + 180 * np.clip(saliency, 0, 1))[..., None]
    return Image.fromarray(np.concatenate([rgb, alpha], axis=2).round().astype(np.uint8), mode="RGBA")


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """PNG for display and download (fast zlib level: these are shown once, not archived)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
