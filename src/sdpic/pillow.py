"""Pillow plugin: ``import sdpic.pillow`` and Pillow opens and saves ``.sdpic`` files.

::

    import sdpic.pillow  # registers the format (like pillow-heif's HeifImagePlugin)
    from PIL import Image

    with Image.open("photo.sdpic") as img:    # reads and checks the container; no decoding yet
        print(img.size, img.mode)             # known before load(): from the header
        img.load()                            # decodes with the shipped model
    Image.open("photo.png").save("photo.sdpic", quality=60, saliency="auto")

Opening parses the whole container (``sdpic.format.unpack``: magic, version, CRC-32, every field), which
is cheap; the neural decoding runs only when pixels are needed (``load()``, ``convert()``, ``save()``...).
A corrupt or unsupported file raises the same typed errors as :func:`sdpic.decompress`
(:class:`sdpic.FormatError` and its subclasses, :class:`sdpic.ModelMismatchError`), from ``open`` when
the container is bad and from ``load`` when the model is missing. ``img.info`` holds the header
fields (``quality``, ``model``, ``bpp`` ...) and, at open time already, what the file carries in
Pillow's own keys: ``icc_profile``, ``exif`` (with the ``Exif\0\0`` prefix, as Pillow's JPEG and PNG
readers give it) and ``xmp``. A file with an alpha plane opens as ``RGBA`` (``LA`` for greyscale).

Realism (:func:`sdpic.decompress`'s ``realism``): Pillow's ``open`` takes no format options, so it is
set on the opened image before its pixels are used, or for every image through ``options``::

    with Image.open("photo.sdpic") as img:
        img.realism = 0.0                     # faithful; None (the default): the model's default
    sdpic.pillow.options.realism = 0.0        # the same for every image opened afterwards

Save parameters (``img.save(path, **params)``): ``quality`` (0..100, default 50), ``target_bpp``,
``saliency`` (``"none"``, ``"auto"`` or a mask), ``roi_strength``, ``model``, ``threads``,
``strip_metadata`` and ``strip_icc``: the arguments of :func:`sdpic.compress`. The image's alpha and
its ``info`` metadata are stored; ``icc_profile=``, ``exif=`` (bytes or ``Image.Exif``) and ``xmp=``
replace those of ``info``, as for Pillow's own formats. Pillow has no plugin entry points (it only loads
its own plugins), so the import is what registers the format; :func:`register` does the same explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageFile

from . import format as fmt
from .errors import FormatError

FORMAT = "SDPIC"
EXTENSIONS = (".sdpic",)
MIME = "image/x-sdpic"
#: Largest stream the plugin reads at open time (a header announces at most 16384x16384 pixels; a real
#: file of that size is far below this). Bigger files are refused before being read into memory.
MAX_STREAM_BYTES = 1 << 30

_SAVE_PARAMS = ("quality", "target_bpp", "saliency", "roi_strength", "model", "threads", "strip_metadata",
                "strip_icc")
_METADATA_PARAMS = ("icc_profile", "exif", "xmp")


@dataclass
class OpenOptions:
    """Defaults for images opened from now on (each image's own attribute overrides them)."""

    realism: float | None = None  # None: the model's default


options = OpenOptions()


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == fmt.MAGIC


class SdpicImageFile(ImageFile.ImageFile):
    """An .sdpic image: header at open, neural decoding on first access to the pixels."""

    format = FORMAT
    format_description = "sdpic learned image codec"

    def _open(self) -> None:
        data = self.fp.read(MAX_STREAM_BYTES + 1)
        if len(data) > MAX_STREAM_BYTES:
            raise FormatError(f"stream is larger than {MAX_STREAM_BYTES} bytes; not a plausible .sdpic file")
        container = fmt.unpack(data)  # typed FormatError on anything malformed
        self._stream = data
        self.realism: float | None = options.realism
        self._size = (container.width, container.height)
        self._mode = ("L" if container.colour == fmt.Colour.GREYSCALE else "RGB") + (
            "A" if fmt.Section.ALPHA in container.sections else "")
        self.info.update(container.metadata.pil_info())
        self.info.update({
            "quality": container.quality,
            "level": container.level,
            "model_id": container.model_id,
            "quality_map": fmt.Section.QUALITY_MAP in container.sections,
            "bpp": len(data) * 8 / (container.width * container.height),
        })
        self.tile = []  # no Pillow decoder: load() below does the work

    def load(self):  # Pillow returns its PixelAccess (or None)
        stream = getattr(self, "_stream", None)
        if stream is not None:
            from .api import decompress

            decoded = decompress(stream, realism=self.realism)
            self._stream = None  # decode once; free the bytes
            self.im = decoded.im
            self._size = decoded.size
            self._mode = decoded.mode
            # the bytes are in memory: the file can go now, like a tile-decoded image's would
            if self.fp is not None and getattr(self, "_exclusive_fp", False):
                self.fp.close()
            self.fp = None
        return Image.Image.load(self)

    def verify(self) -> None:
        # _open already checked the CRC-32 and every field; nothing more to read
        pass


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from .api import compress

    params = {k: im.encoderinfo[k] for k in _SAVE_PARAMS if k in im.encoderinfo}
    overrides = {k: im.encoderinfo[k] for k in _METADATA_PARAMS if k in im.encoderinfo}
    if overrides:  # save(..., exif=...) replaces info's, on a copy: the caller's image stays as it was
        im = im.copy()
        for key, value in overrides.items():
            if isinstance(value, Image.Exif):
                value = value.tobytes()
            if value:
                im.info[key] = value
            else:
                im.info.pop(key, None)
    fp.write(compress(im, **params))


def register() -> None:
    """Register the format with Pillow (done on import; calling again is harmless)."""
    Image.register_open(FORMAT, SdpicImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extensions(FORMAT, list(EXTENSIONS))
    Image.register_mime(FORMAT, MIME)


register()

__all__ = ["EXTENSIONS", "FORMAT", "MIME", "OpenOptions", "SdpicImageFile", "options", "register"]
