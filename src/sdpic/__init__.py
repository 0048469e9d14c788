"""sdpic: saliency-driven perceptual image compression.

Public surface::

    data = sdpic.compress(image, quality=50, saliency="auto")   # -> bytes (.sdpic)
    img = sdpic.decompress(data)                                 # -> PIL.Image.Image
"""

from __future__ import annotations

from PIL import Image

from .errors import (
    ChecksumError,
    FormatError,
    ImageTooLargeError,
    InputImageError,
    ModelMismatchError,
    OutputExistsError,
    ParameterError,
    SdpicError,
    TruncatedFileError,
    UnknownModelError,
    UnsupportedVersionError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "FormatError",
    "ImageTooLargeError",
    "InputImageError",
    "ModelMismatchError",
    "OutputExistsError",
    "ParameterError",
    "SdpicError",
    "TruncatedFileError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "__version__",
    "compress",
    "decompress",
]


def compress(image: object, quality: float = 50.0, saliency: object = "none", **kwargs: object) -> bytes:
    """Compress an image (path, PIL image or array) to .sdpic bytes. See :func:`sdpic.api.compress`."""
    from .api import compress as _compress

    return _compress(image, quality=quality, saliency=saliency, **kwargs)


def decompress(data: bytes, **kwargs: object) -> Image.Image:
    """Decode .sdpic bytes to a PIL image. See :func:`sdpic.api.decompress`."""
    from .api import decompress as _decompress

    return _decompress(data, **kwargs)
