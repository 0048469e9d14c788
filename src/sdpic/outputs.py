"""Writing outputs safely: atomically (temp file + rename), never over an input, never over a file unasked."""

from __future__ import annotations

import io
import os
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .errors import OutputExistsError

#: Temporary files are ``.{final name}.{random}.part`` beside the output: hidden, never mistaken for an
#: output or an input by a later run, and removable by name when a killed run (kill -9) left one behind.
TEMP_SUFFIX = ".part"


def check_output_path(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), force: bool = False) -> Path:
    """Return ``out`` as a Path after refusing inputs (always) and existing files (unless ``force``)."""
    out_path = Path(out)
    resolved = out_path.resolve()
    for inp in inputs:
        if Path(inp).resolve() == resolved:
            raise OutputExistsError(f"{out_path}: refusing to overwrite an input file")
    if out_path.exists() and not force:
        raise OutputExistsError(f"{out_path}: exists (use --force to overwrite)")
    if out_path.is_dir():
        raise OutputExistsError(f"{out_path}: is a directory")
    return out_path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get ordinary permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave a half-written file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def temp_file_target(name: str) -> str | None:
    """The output name a temporary file of :func:`atomic_write_bytes` was for, or None if ``name`` is not one."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    stem = name[1 : -len(TEMP_SUFFIX)]
    target, dot, _random = stem.rpartition(".")
    return target if dot and target else None


def remove_stale_temp_files(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Delete temporary files that a killed run left for any of ``outputs``; return what was removed.

    Only temp files whose target is in ``outputs`` are touched, so runs that share an output folder
    (shards of one batch) never remove each other's files in progress.
    """
    wanted: dict[Path, set[str]] = {}
    for out in outputs:
        out = Path(out)
        wanted.setdefault(out.parent, set()).add(out.name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:  # folder not made yet: nothing to clean
            continue
        for entry in entries:
            if temp_file_target(entry.name) in names and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                except FileNotFoundError:
                    pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def encode_image(img: Image.Image, format: str = "PNG", **params: object) -> bytes:
    """Encode a PIL image to bytes in ``format``."""
    buf = io.BytesIO()
    img.save(buf, format=format, **params)
    return buf.getvalue()


def atomic_save_image(img: Image.Image, path: str | os.PathLike, format: str | None = None, **params: object) -> None:
    """Save a PIL image atomically; the format follows the suffix unless given."""
    path = Path(path)
    fmt = format or Image.registered_extensions().get(path.suffix.lower(), "PNG")
    atomic_write_bytes(path, encode_image(img, fmt, **params))


@dataclass(frozen=True)
class LosslessFormat:
    """A lossless image file format Pillow writes: how ``sdpic decompress --format`` saves decoded images."""

    name: str
    pillow: str
    suffix: str
    params: dict = field(default_factory=dict)
    max_side: int | None = None
    note: str = ""
    alpha: bool = True  # holds RGBA / LA (and ICC profile, EXIF, XMP)


#: Decoded images are smooth, so after PNG's per-row filters Huffman coding does nearly all the work:
#: zlib level 1 with run-length matches only (Z_RLE) writes files as small as level 6 (within ~2%, often
#: smaller) in a fifth of the time, and keeps flat areas cheap (runs), unlike Huffman-only coding
#: (measured: results/codec/decode_profile.md).
DECODED_PNG_PARAMS = {"compress_level": 1, "compress_type": zlib.Z_RLE}

LOSSLESS_FORMATS = {
    f.name: f for f in (
        LosslessFormat("png", "PNG", ".png", DECODED_PNG_PARAMS, note="zlib level 1, run-length matches"),
        LosslessFormat("pnm", "PPM", ".pnm", note="binary PPM (RGB) or PGM (greyscale), uncompressed, no alpha "
                       "or metadata", alpha=False),
        LosslessFormat("tiff", "TIFF", ".tiff", note="uncompressed"),
        # exact: keep the colour under transparent pixels as decoded (libwebp would otherwise change it)
        LosslessFormat("webp", "WEBP", ".webp", {"lossless": True, "quality": 0, "method": 0, "exact": True},
                       max_side=16383, note="lossless, fastest effort; greyscale as RGB"),
    )
}


def lossless_format_for(path: str | os.PathLike) -> LosslessFormat | None:
    """The lossless format a file name's suffix names (``.ppm``/``.pgm`` count as pnm), or None."""
    suffix = Path(path).suffix.lower()
    for f in LOSSLESS_FORMATS.values():
        if suffix == f.suffix or (f.name == "pnm" and suffix in (".ppm", ".pgm")) or (
                f.name == "tiff" and suffix == ".tif"):
            return f
    return None


def encode_lossless(img: Image.Image, fmt: LosslessFormat) -> bytes:
    """Encode a decoded image losslessly in ``fmt``, with the ICC profile, EXIF and XMP its ``info`` holds (as
    :func:`sdpic.decompress` sets them; :func:`sdpic.metadata.save_params` says where each goes). Raises
    ValueError where the format cannot hold the image, its alpha or its metadata: nothing is dropped."""
    from .metadata import from_pil_info, save_params

    if fmt.max_side is not None and max(img.size) > fmt.max_side:
        raise ValueError(f"{fmt.name} holds at most {fmt.max_side} pixels a side; the image is "
                         f"{img.width}x{img.height} (use --format png)")
    if img.mode in ("RGBA", "LA") and not fmt.alpha:
        raise ValueError(f"{fmt.name} cannot hold the alpha channel of this {img.mode} image "
                         "(use --format png, tiff or webp)")
    try:
        params = save_params(from_pil_info(img.info), fmt.pillow)
    except ValueError as exc:
        raise ValueError(f"{exc} (use --format png, tiff or webp, or drop them with --strip-metadata / "
                         "--strip-icc)") from None
    return encode_image(img, fmt.pillow, **fmt.params, **params)
