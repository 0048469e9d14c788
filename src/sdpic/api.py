"""The public API: ``compress(image, ...) -> bytes`` and ``decompress(bytes) -> PIL.Image``.

This module joins the parts; each step lives in its own module::

    image_io.load_image ─► alpha.fill_transparent ─► saliency (optional) ─► quality_map.build_levels
        ─► codec.model (g_a, coding) ─► format.pack (+ alpha.encode_plane, metadata sections)
    and back:  format.unpack ─► codec.model (decoding, g_s) ─► crop ─► alpha.decode_plane ─► PIL (+ info)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import alpha as alpha_plane
from . import format as fmt
from .codec.model import LATENT_STRIDE, PAD_MULTIPLE, CodedLatents, SdpicModel, latent_size
from .codec.realism import check_realism, realism_map
from .errors import FormatError, InputImageError, ModelMismatchError, ParameterError
from .image_io import ImageLike, LoadedImage, check_dimensions, load_image, load_mask, to_pil
from .metadata import icc_colour_space, icc_description
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


def _saliency_map(spec: SaliencySpec, loaded: LoadedImage) -> np.ndarray | None:
    """None / "none" -> no map; "auto" -> the learned saliency model on what is shown (the colour composited
    over white); else a mask image (path, PIL, array)."""
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    if isinstance(spec, str) and spec == "auto":
        from .saliency import predict

        return np.clip(np.asarray(predict(loaded.rgb, method="learned"), dtype=np.float32), 0.0, 1.0)
    return load_mask(spec, loaded.width, loaded.height)


def _pad_map(sal: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = sal.shape
    return np.pad(sal, ((0, height - h), (0, width - w)), mode="edge")


@dataclass(frozen=True)
class EncodeResult:
    data: bytes
    levels: np.ndarray  # per-block quality levels actually used


@dataclass(frozen=True)
class _Prepared:
    """An image ready for g_a: the colour it codes, and the sections that do not depend on the quality."""

    rgb: np.ndarray  # uint8 HxWx3, transparent pixels filled (alpha.fill_transparent)
    greyscale: bool
    saliency: np.ndarray | None
    extra_sections: dict[fmt.Section, bytes]


def _prepare(image: ImageLike, saliency: SaliencySpec, strip_metadata: bool, strip_icc: bool) -> _Prepared:
    """Load ``image``; fill under transparent pixels; code the alpha plane; check and keep the metadata."""
    loaded = _load(image)
    meta = loaded.metadata.stripped(strip_metadata, strip_icc).checked(InputImageError)
    if meta.icc_profile is not None:
        space, expected = icc_colour_space(meta.icc_profile), "GRAY" if loaded.greyscale else "RGB"
        if space != expected:
            raise InputImageError(f"the ICC profile is for {space} data but the image is {expected} "
                                  "(drop it with --strip-icc / strip_icc=True)")
    sections = {s: v for s, v in ((fmt.Section.ICC_PROFILE, meta.icc_profile), (fmt.Section.EXIF, meta.exif),
                                  (fmt.Section.XMP, meta.xmp)) if v is not None}
    rgb = loaded.colour
    if loaded.alpha is not None:
        sections[fmt.Section.ALPHA] = alpha_plane.encode_plane(loaded.alpha)
        rgb = alpha_plane.fill_transparent(rgb, loaded.alpha)
    return _Prepared(rgb, loaded.greyscale, _saliency_map(saliency, loaded), sections)


def encode(image: ImageLike, quality: float = 50.0, saliency: SaliencySpec = None,
           roi_strength: float = DEFAULT_ROI_STRENGTH, model: str = DEFAULT_MODEL,
           threads: int | None = None, strip_metadata: bool = False, strip_icc: bool = False) -> EncodeResult:
    """Compress and also return the quality levels used (for reports); see :func:`compress`."""
    return _encode_prepared(_prepare(image, saliency, strip_metadata, strip_icc), quality, roi_strength, model,
                            threads)


def _encode_prepared(prepared: _Prepared, quality: float, roi_strength: float, model: str,
                     threads: int | None) -> EncodeResult:
    level = quality_to_level(quality)
    net = load_model(model)
    rgb, sal = prepared.rgb, prepared.saliency
    height, width = rgb.shape[:2]
    with torch_threads(threads), torch.inference_mode():
        x = padded_tensor(rgb)
        lh, lw = x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE
        padded_sal = None if sal is None else _pad_map(sal, x.shape[2], x.shape[3])
        levels = build_levels(level, lh, lw, padded_sal, roi_strength)
        q_levels = torch.from_numpy(levels)[None, None]
        y = net.analyse(x, q_levels)
        coded, _ = net.compress_latents(y, q_levels)
    data = pack_coded(model, coded, levels, level, width, height, prepared.greyscale, round(quality),
                      prepared.extra_sections)
    return EncodeResult(data, levels)


def pack_coded(model: str, coded: CodedLatents, levels: np.ndarray, level: int, width: int, height: int,
               greyscale: bool, quality: int, extra_sections: dict[fmt.Section, bytes] | None = None) -> bytes:
    """The ``.sdpic`` file of one coded image: header (model id, weights hash, size, colour, quality) and
    sections, plus ``extra_sections`` (alpha, ICC, EXIF, XMP). Its length is what every reported bitrate
    counts."""
    entry = entry_by_name(model)
    container = fmt.Container(
        model_id=entry.model_id, weights_hash=weights_hash(entry.path), width=width, height=height,
        colour=fmt.Colour.GREYSCALE if greyscale else fmt.Colour.RGB, quality=quality,
        level=level, sections={**stream_sections(coded, levels, level), **(extra_sections or {})},
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
             target_bpp: float | None = None, strip_metadata: bool = False, strip_icc: bool = False) -> bytes:
    """Compress an image to .sdpic bytes.

    ``quality`` 0..100 sets the global rate; ``saliency`` is ``None``/``"none"`` (uniform), ``"auto"``
    (learned saliency model) or a mask (path, PIL image or array; bright = important), which moves
    bits toward salient regions by ``roi_strength`` (0..1). With ``target_bpp`` the quality is
    found by bisection on the real coded size (the largest quality whose file fits the target; every
    byte counts, alpha and metadata included).

    An alpha channel is kept losslessly (decoded ``RGBA`` / ``LA``; one that is opaque everywhere is not
    stored); the colour under fully transparent pixels is not kept (sdpic.alpha). The source's ICC profile,
    EXIF and XMP are stored verbatim (EXIF / XMP orientation set to 1, since it is applied to the pixels);
    ``strip_metadata`` drops EXIF and XMP, ``strip_icc`` the profile. Metadata that cannot be stored (too
    large, malformed, a profile for other data) raises :class:`InputImageError`, never goes missing.
    """
    if target_bpp is not None:
        return _compress_to_bpp(image, target_bpp, saliency, roi_strength, model, threads, strip_metadata,
                                strip_icc)
    return encode(image, quality, saliency, roi_strength, model, threads, strip_metadata, strip_icc).data


def _compress_to_bpp(image: ImageLike, target_bpp: float, saliency: SaliencySpec, roi_strength: float,
                     model: str, threads: int | None, strip_metadata: bool, strip_icc: bool) -> bytes:
    if not target_bpp > 0:
        raise ParameterError(f"target bpp must be positive, got {target_bpp}")
    prepared = _prepare(image, saliency, strip_metadata, strip_icc)  # decode once; the loop re-encodes pixels
    pixels = prepared.rgb.shape[0] * prepared.rgb.shape[1]
    lo, hi = 0, 100
    best = _encode_prepared(prepared, 0, roi_strength, model, threads).data
    while lo < hi:  # largest integer quality whose file fits the target (size grows with quality)
        mid = (lo + hi + 1) // 2
        data = _encode_prepared(prepared, mid, roi_strength, model, threads).data
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
    """Decode .sdpic bytes to a PIL image: ``RGB``, or ``L`` for greyscale sources; ``RGBA`` / ``LA`` where
    the file has an alpha plane (restored bit-exactly). ``img.info`` holds what the file carries, in
    Pillow's conventions: ``icc_profile``, ``exif`` (with its ``Exif\0\0`` prefix) and ``xmp`` (bytes).

    ``realism`` in [0, 1]: 0 decodes faithfully (the model's own g_s: the same pixels as ever), higher
    values with the realism decoder, which synthesises texture instead of averaging it away, less so
    where the file's quality map lifted a region (the salient subject or a region of interest); None:
    the model's default (``sdpic.zoo.ModelEntry.default_realism``). See :mod:`sdpic.codec.realism`."""
    container = fmt.unpack(data)
    chosen = None if realism is None else check_realism(realism)
    net, y_hat, q_levels = decode_latents(container, threads)
    pixels = synthesise_pixels(container, net, y_hat, q_levels, chosen, threads)
    alpha = None
    if fmt.Section.ALPHA in container.sections:
        alpha = alpha_plane.decode_plane(container.sections[fmt.Section.ALPHA], container.width, container.height)
    img = to_pil(pixels, greyscale=container.colour == fmt.Colour.GREYSCALE, alpha=alpha)
    img.info.update(container.metadata.pil_info())
    return img


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
    """Header fields of a stream, what it carries (alpha, ICC profile, EXIF, XMP: sizes in bytes, None where
    absent; the profile's description) and its bits per pixel (every byte of the file counted)."""
    c = fmt.unpack(data)
    try:
        model_name = entry_by_id(c.model_id).name
    except ModelMismatchError:
        model_name = None
    has_alpha = fmt.Section.ALPHA in c.sections
    mode = ("L" if c.colour == fmt.Colour.GREYSCALE else "RGB") + ("A" if has_alpha else "")
    sizes = {s: len(c.sections[s]) if s in c.sections else None
             for s in (fmt.Section.ALPHA, fmt.Section.ICC_PROFILE, fmt.Section.EXIF, fmt.Section.XMP)}
    icc = c.sections.get(fmt.Section.ICC_PROFILE)
    return {
        "format_version": c.version, "model_id": c.model_id, "model": model_name,
        "weights_hash": c.weights_hash.hex(), "width": c.width, "height": c.height, "colour": c.colour.name.lower(),
        "mode": mode, "quality": c.quality, "level": c.level, "quality_map": fmt.Section.QUALITY_MAP in c.sections,
        "alpha": sizes[fmt.Section.ALPHA], "icc_profile": sizes[fmt.Section.ICC_PROFILE],
        "icc_description": None if icc is None else icc_description(icc),
        "exif": sizes[fmt.Section.EXIF], "xmp": sizes[fmt.Section.XMP],
        "bytes": len(data), "bpp": len(data) * 8 / (c.width * c.height),
        "sections": {s.name.lower(): len(b) for s, b in sorted(c.sections.items())},
    }


__all__ = ["EncodeResult", "FormatError", "compress", "decompress", "encode", "info"]
