"""The public API: ``compress(image, ...) -> bytes`` and ``decompress(bytes) -> PIL.Image``.

This module joins the parts; each step lives in its own module::

    image_io.load_image ─► saliency (optional) ─► quality_map.build_levels ─► codec.model (g_a, coding)
        ─► format.pack        and back:  format.unpack ─► codec.model (decoding, g_s) ─► crop ─► PIL
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import format as fmt
from .codec.model import LATENT_STRIDE, PAD_MULTIPLE, CodedLatents, SdpicModel, latent_size
from .codec.realism import check_realism, realism_map
from .errors import FormatError, ModelMismatchError, ParameterError
from .image_io import ImageLike, LoadedImage, check_dimensions, load_image, load_mask, to_pil
from .quality_map import DEFAULT_ROI_STRENGTH, build_levels, decode_levels, encode_levels, quality_to_level
from .threads import torch_threads
from .zoo import DEFAULT_MODEL, entry_by_id, entry_by_name, load_model, load_realism_decoder, weights_hash

SaliencySpec = str | ImageLike | None


def padded_tensor(rgb: np.ndarray) -> torch.Tensor:
    """An HxWx3 uint8 image as the codec's input: a 1x3xH'xW' float tensor in [0, 1], edge-padded to a multiple
    of ``PAD_MULTIPLE`` (decoders crop the padding away). Written into one tensor: ``float(v) / 255`` and
    replicated edges, the values ``F.pad(..., mode="replicate")`` of the converted image gives."""
    h, w = rgb.shape[:2]
    ph, pw = (-h) % PAD_MULTIPLE, (-w) % PAD_MULTIPLE
    x = torch.empty(1, 3, h + ph, w + pw)
    inner = x[0, :, :h, :w]
    with warnings.catch_warnings():  # a read-only array (np.asarray of a PIL image): only read here
        warnings.simplefilter("ignore", UserWarning)
        source = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.uint8))
    inner.copy_(source.permute(2, 0, 1))
    inner.div_(255.0)
    if pw:
        x[0, :, :h, w:] = x[0, :, :h, w - 1:w]
    if ph:
        x[0, :, h:, :] = x[0, :, h - 1:h, :]
    return x


def _load(image: ImageLike) -> LoadedImage:
    """:func:`load_image`, without its float64 round trip for the arrays it would return unchanged (uint8
    HxWx3, or HxW greyscale): 1.2 s of a 10 MP encode did nothing but copy and clip such an array."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and (
            image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        check_dimensions(image.shape[1], image.shape[0])
        if image.ndim == 2:
            return LoadedImage(np.repeat(image[..., None], 3, axis=2), True)
        return LoadedImage(np.ascontiguousarray(image), False)
    return load_image(image)


def _saliency_map(spec: SaliencySpec, rgb: np.ndarray) -> np.ndarray | None:
    """None / "none" -> no map; "auto" -> the learned saliency model; else a mask image (path, PIL, array)."""
    h, w = rgb.shape[:2]
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    if isinstance(spec, str) and spec == "auto":
        from .saliency import predict

        return np.clip(np.asarray(predict(rgb, method="learned"), dtype=np.float32), 0.0, 1.0)
    return load_mask(spec, w, h)


def _pad_map(sal: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = sal.shape
    return np.pad(sal, ((0, height - h), (0, width - w)), mode="edge")


@dataclass(frozen=True)
class EncodeResult:
    data: bytes
    levels: np.ndarray  # per-block quality levels actually used


def encode(image: ImageLike, quality: float = 50.0, saliency: SaliencySpec = None,
           roi_strength: float = DEFAULT_ROI_STRENGTH, model: str = DEFAULT_MODEL,
           threads: int | None = None) -> EncodeResult:
    """Compress and also return the quality levels used (for reports); see :func:`compress`."""
    loaded = _load(image)
    level = quality_to_level(quality)
    net = load_model(model)
    sal = _saliency_map(saliency, loaded.rgb)
    with torch_threads(threads), torch.inference_mode():
        x = padded_tensor(loaded.rgb)
        lh, lw = x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE
        padded_sal = None if sal is None else _pad_map(sal, x.shape[2], x.shape[3])
        levels = build_levels(level, lh, lw, padded_sal, roi_strength)
        q_levels = torch.from_numpy(levels)[None, None]
        y = net.analyse(x, q_levels)
        coded, _ = net.compress_latents(y, q_levels)
    data = pack_coded(model, coded, levels, level, loaded.width, loaded.height, loaded.greyscale, round(quality))
    return EncodeResult(data, levels)


def pack_coded(model: str, coded: CodedLatents, levels: np.ndarray, level: int, width: int, height: int,
               greyscale: bool, quality: int) -> bytes:
    """The ``.sdpic`` file of one coded image: header (model id, weights hash, size, colour, quality) and
    sections. Its length is what every reported bitrate counts."""
    entry = entry_by_name(model)
    container = fmt.Container(
        model_id=entry.model_id, weights_hash=weights_hash(entry.path), width=width, height=height,
        colour=fmt.Colour.GREYSCALE if greyscale else fmt.Colour.RGB, quality=quality,
        level=level, sections=stream_sections(coded, levels, level),
    )
    return fmt.pack(container)


def stream_sections(coded: CodedLatents, levels: np.ndarray, level: int) -> dict[fmt.Section, bytes]:
    """The container sections of one coded image; the quality map is stored only where it is not uniform."""
    sections = {fmt.Section.HYPER_LATENTS: coded.z_bytes, fmt.Section.LATENTS: coded.y_bytes,
                fmt.Section.ESCAPES: coded.escapes}
    if np.any(levels != level):
        sections[fmt.Section.QUALITY_MAP] = encode_levels(levels, level)
    return sections


def compress(image: ImageLike, quality: float = 50.0, saliency: SaliencySpec = None,
             roi_strength: float = DEFAULT_ROI_STRENGTH, model: str = DEFAULT_MODEL, threads: int | None = None,
             target_bpp: float | None = None) -> bytes:
    """Compress an image to .sdpic bytes.

    ``quality`` 0..100 sets the global rate; ``saliency`` is ``None``/``"none"`` (uniform), ``"auto"``
    (learned saliency model) or a mask (path, PIL image or array; bright = important), which moves
    bits toward salient regions by ``roi_strength`` (0..1). With ``target_bpp`` the quality is
    found by bisection on the real coded size (the largest quality whose file fits the target).
    """
    if target_bpp is not None:
        return _compress_to_bpp(image, target_bpp, saliency, roi_strength, model, threads)
    return encode(image, quality, saliency, roi_strength, model, threads).data


def _compress_to_bpp(image: ImageLike, target_bpp: float, saliency: SaliencySpec, roi_strength: float,
                     model: str, threads: int | None) -> bytes:
    if not target_bpp > 0:
        raise ParameterError(f"target bpp must be positive, got {target_bpp}")
    loaded = _load(image)  # decode once; the loop re-encodes pixels
    sal = _saliency_map(saliency, loaded.rgb)
    source = loaded.rgb if not loaded.greyscale else loaded.rgb[..., 0]
    pixels = loaded.width * loaded.height
    lo, hi = 0, 100
    best = compress(source, 0, sal, roi_strength, model, threads)
    while lo < hi:  # largest integer quality whose file fits the target (size grows with quality)
        mid = (lo + hi + 1) // 2
        data = compress(source, mid, sal, roi_strength, model, threads)
        if len(data) * 8 / pixels <= target_bpp:
            lo, best = mid, data
        else:
            hi = mid - 1
    return best


def decode_latents(
    container: fmt.Container, threads: int | None = None
) -> tuple[SdpicModel, torch.Tensor, torch.Tensor]:
    """Entropy-decode a parsed stream: (model, ŷ (1,M,h,w), quality levels (1,1,h,w)); g_s not yet run."""
    entry = entry_by_id(container.model_id)
    if weights_hash(entry.path) != container.weights_hash:
        raise ModelMismatchError(
            f"stream was made with other weights of model {entry.name!r} (hash {container.weights_hash.hex()}, "
            f"installed {weights_hash(entry.path).hex()}); install the sdpic version that wrote it")
    net = load_model(entry.name)
    lh, lw = latent_size(container.height, container.width)
    if fmt.Section.QUALITY_MAP in container.sections:
        levels = decode_levels(container.sections[fmt.Section.QUALITY_MAP], lh, lw, container.level)
    else:
        levels = np.full((lh, lw), container.level, dtype=np.int64)
    coded = CodedLatents(container.sections[fmt.Section.HYPER_LATENTS], container.sections[fmt.Section.LATENTS],
                         container.sections[fmt.Section.ESCAPES], lh, lw)
    q_levels = torch.from_numpy(levels)[None, None]
    with torch_threads(threads), torch.inference_mode():
        return net, net.decompress_latents(coded, q_levels), q_levels


def decompress(data: bytes, threads: int | None = None, realism: float | None = None) -> Image.Image:
    """Decode .sdpic bytes to a PIL image (``RGB``, or ``L`` for greyscale sources).

    ``realism`` in [0, 1]: 0 decodes faithfully (the model's own g_s: the same pixels as ever), higher
    values with the realism decoder, which synthesises texture instead of averaging it away, less so
    where the file's quality map lifted a region (the salient subject or a region of interest); None:
    the model's default (``sdpic.zoo.ModelEntry.default_realism``). See :mod:`sdpic.codec.realism`."""
    container = fmt.unpack(data)
    chosen = None if realism is None else check_realism(realism)
    net, y_hat, q_levels = decode_latents(container, threads)
    pixels = synthesise_pixels(container, net, y_hat, q_levels, chosen, threads)
    return to_pil(pixels, greyscale=container.colour == fmt.Colour.GREYSCALE)


def synthesise_pixels(container: fmt.Container, net: SdpicModel, y_hat: torch.Tensor, q_levels: torch.Tensor,
                      realism: float | None = None, threads: int | None = None,
                      decoder: torch.nn.Module | None = None) -> np.ndarray:
    """The decoded image (height, width, 3) uint8 of entropy-decoded latents (:func:`decode_latents`).

    ``realism`` None: the model's default; 0: the model's g_s. Above 0 the realism decoder runs on the
    realism map of the file's quality map (:func:`sdpic.codec.realism.realism_map`): the model's shipped
    one, or ``decoder`` (a training snapshot being measured)."""
    entry = entry_by_id(container.model_id)
    value = entry.default_realism if realism is None else check_realism(realism)
    if decoder is None and value > 0.0:
        if entry.realism_path is None:
            if realism is not None:
                raise ParameterError(f"model {entry.name!r} has no realism decoder: decode with realism 0")
            value = 0.0
        else:
            decoder = load_realism_decoder(entry.name)
    with torch_threads(threads), torch.inference_mode():
        plan = None if value == 0.0 else (decoder, realism_map(q_levels, container.level, value))
        return net.synthesise_pixels(y_hat, q_levels, container.height, container.width, plan)


def decoded_pixels(x_hat: torch.Tensor, height: int, width: int) -> np.ndarray:
    """g_s's padded (1, 3, H', W') output as the height x width x 3 uint8 image the decoder writes
    (:meth:`SdpicModel.synthesise_pixels` computes the same pixels strip by strip)."""
    return torch.round(x_hat[0, :, :height, :width].clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()


def info(data: bytes) -> dict:
    """Header fields of a stream plus its bits per pixel."""
    c = fmt.unpack(data)
    try:
        model_name = entry_by_id(c.model_id).name
    except ModelMismatchError:
        model_name = None
    return {
        "format_version": fmt.VERSION, "model_id": c.model_id, "model": model_name,
        "weights_hash": c.weights_hash.hex(), "width": c.width, "height": c.height, "colour": c.colour.name.lower(),
        "quality": c.quality, "level": c.level, "quality_map": fmt.Section.QUALITY_MAP in c.sections,
        "bytes": len(data), "bpp": len(data) * 8 / (c.width * c.height),
        "sections": {s.name.lower(): len(b) for s, b in sorted(c.sections.items())},
    }


__all__ = ["EncodeResult", "FormatError", "compress", "decompress", "encode", "info"]
