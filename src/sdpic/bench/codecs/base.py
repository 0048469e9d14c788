"""The one interface every benchmarked codec implements, so the RD runner and the task bench never special-case one.

A wrapper knows how to turn 8-bit RGB pixels into bytes and back at one *setting* (a quality, a QP, a
distance ...), which direction of that setting costs more bits, and which library version did the work.
Everything else (timing, caching, metrics, bisection to a target bpp) lives outside the wrappers, so a new
codec is one small module.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Threads a codec may use per encode/decode; the bench reports wall time at this many threads.
DEFAULT_THREADS = 2


@dataclass(frozen=True)
class Availability:
    """Whether a codec can run here and, if not, the reason shown in the report (never silently dropped)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class Codec(abc.ABC):
    """A lossy image codec as the bench sees it.

    Subclasses set the class attributes and implement :meth:`encode`, :meth:`decode`, :meth:`version`
    and (when a dependency may be missing) :meth:`is_available`.
    """

    #: Name used on the command line and as the JSON key.
    name: str = ""
    #: The RD sweep (about 6-8 settings covering ~0.05-1.5 bpp on Kodak), ordered from fewest to most bits.
    settings: tuple[float, ...] = ()
    #: Smallest and largest legal setting, for bisection to a target bpp.
    setting_range: tuple[float, float] = (0.0, 100.0)
    #: True when a larger setting spends more bits (quality); False for QP / distance-like settings.
    higher_is_more_bits: bool = True
    #: True when only integer settings exist (bisection then works on integers).
    integer: bool = True
    #: Fixed encoder options, part of the cache key so a change invalidates cached streams.
    config: str = ""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self.threads = max(1, int(threads))

    def is_available(self) -> Availability:
        """Say whether the codec's library is importable/runnable here (cheap; called before every run)."""
        return Availability(True)

    @abc.abstractmethod
    def version(self) -> str:
        """Library name and version that ran the codec, as printed in the results."""

    @abc.abstractmethod
    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        """Encode uint8 RGB ``(H, W, 3)`` at ``setting``; the returned bytes are everything a decoder needs."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Decode bytes from :meth:`encode` back to uint8 RGB ``(H, W, 3)``."""

    def normalise_setting(self, setting: float) -> float | int:
        """Clamp a setting into range (and to an int for integer codecs), so cache keys are canonical."""
        lo, hi = self.setting_range
        value = min(max(float(setting), lo), hi)
        if self.integer:
            return round(value)
        return float(round(value, 6))

    def record(self) -> dict[str, Any]:
        """Encoder options worth keeping in the results JSON as fields (empty: none beyond ``config``)."""
        return {}

    def key(self) -> str:
        """Cache namespace: a change of library version or encoder options must not reuse old streams."""
        return f"{self.name}|{self.version()}|{self.config}"


def as_rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    """Return a C-contiguous uint8 (H, W, 3) view, rejecting anything else early (wrappers rely on it)."""
    from ...errors import InputImageError

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InputImageError(f"codec input must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)
