"""Writing outputs safely: atomically (temp file + rename), never over an input, never over a file unasked."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from .errors import OutputExistsError


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
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
