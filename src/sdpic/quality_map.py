"""The spatial quality map: global quality + saliency / region of interest -> per-block levels, and its
compact coding.

One level per 16x16 pixel block (one latent position), integers 0..64 (q = level / 64), which
condition both transforms and set the rate-distortion trade-off locally. Coding: a uniform map is
just the header's global level (flag off, no section). Otherwise each level is predicted from its
causal neighbours with the median edge detector of JPEG-LS (LOCO-I) and the residual is entropy
coded with one fixed integer table, so the map costs a few bits along region borders only.
"""

from __future__ import annotations

import numpy as np

from .codec.entropy import quantize_pmf
from .codec.model import QUALITY_LEVELS
from .errors import FormatError, ParameterError

BLOCK = 16
DEFAULT_ROI_STRENGTH = 0.25


def quality_to_level(quality: float) -> int:
    """User quality 0..100 -> global level 0..64."""
    if not 0.0 <= float(quality) <= 100.0:
        raise ParameterError(f"quality must be within 0..100, got {quality}")
    return round(float(quality) * QUALITY_LEVELS / 100.0)


def level_to_quality(level: int) -> int:
    """Global level 0..64 -> the integer user quality that `quality_to_level` maps back to it."""
    if not 0 <= int(level) <= QUALITY_LEVELS:
        raise ParameterError(f"level must be within 0..{QUALITY_LEVELS}, got {level}")
    return round(int(level) * 100 / QUALITY_LEVELS)


def build_levels(level: int, latent_height: int, latent_width: int, saliency: np.ndarray | None = None,
                 strength: float = DEFAULT_ROI_STRENGTH) -> np.ndarray:
    """Per-block levels (int64, latent_height x latent_width) from a global level and an optional map.

    ``saliency`` is a float map in [0, 1] covering the padded image (latent size x 16); blocks get
    ``level + 64 * strength * (s_block - mean s_block)``, so salient blocks gain what others lose, except
    near the ends of the range: levels are clipped to 0..64, so at low global levels the salient blocks
    gain while the background cannot go below 0 (the map adds bits; at level 0 the file grows by the
    salient blocks' share), and at high levels the reverse. This keeps a region of interest visible
    at the lowest qualities; a budget is met with ``--target-bpp``, which searches the coded size.
    """
    levels = np.full((latent_height, latent_width), int(level), dtype=np.int64)
    if saliency is None or strength == 0.0:
        return levels
    if not 0.0 <= strength <= 1.0:
        raise ParameterError(f"ROI strength must be within 0..1, got {strength}")
    s = np.asarray(saliency, dtype=np.float64)
    blocks = s.reshape(latent_height, BLOCK, latent_width, BLOCK).mean(axis=(1, 3))
    offset = QUALITY_LEVELS * strength * (blocks - blocks.mean())
    return np.clip(np.rint(level + offset), 0, QUALITY_LEVELS).astype(np.int64)


def _residual_table() -> np.ndarray:
    """Fixed table over residuals -64..64 (+ an escape that never occurs): mass concentrated at 0."""
    r = np.arange(-QUALITY_LEVELS, QUALITY_LEVELS + 1)
    pmf = np.where(r == 0, 0.0, np.exp(-np.abs(r) / 4.0))
    pmf = 0.05 * pmf / pmf.sum()
    pmf[QUALITY_LEVELS] = 0.95
    return quantize_pmf(np.append(pmf, 0.0))


_TABLE = _residual_table()


def _med_predict(levels: np.ndarray, i: int, j: int, base: int) -> int:
    a = levels[i, j - 1] if j > 0 else None
    b = levels[i - 1, j] if i > 0 else None
    if a is None and b is None:
        return base
    if a is None:
        return int(b)
    if b is None:
        return int(a)
    c = levels[i - 1, j - 1]
    if c >= max(a, b):
        return int(min(a, b))
    if c <= min(a, b):
        return int(max(a, b))
    return int(a + b - c)


def encode_levels(levels: np.ndarray, base: int) -> bytes:
    """Entropy-code a level map (raster order, MED prediction) -> bytes."""
    from .codec.coder import TableCoder

    h, w = levels.shape
    residuals = np.empty(h * w, dtype=np.int64)
    for i in range(h):
        for j in range(w):
            residuals[i * w + j] = levels[i, j] - _med_predict(levels, i, j, base)
    coder = TableCoder(_TABLE[None, :], np.array([len(_TABLE)]))
    return coder.encode(residuals + QUALITY_LEVELS, np.zeros(h * w, dtype=np.int64))


def decode_levels(data: bytes, height: int, width: int, base: int) -> np.ndarray:
    """Inverse of :func:`encode_levels`; raises FormatError if the data decode to levels out of range."""
    from .codec.coder import TableCoder, check_stream_length, min_symbol_bits

    # A forged header must not buy a long decode: the map's symbols cost at least this much.
    check_stream_length(data, height * width * float(min_symbol_bits(_TABLE[None, :])[0]), "quality map")
    coder = TableCoder(_TABLE[None, :], np.array([len(_TABLE)]))
    residuals = coder.decode(data, np.zeros(height * width, dtype=np.int64)) - QUALITY_LEVELS
    if np.any(residuals > QUALITY_LEVELS):  # the escape symbol is never written
        raise FormatError("quality map holds an escape symbol")
    levels = np.empty((height, width), dtype=np.int64)
    for i in range(height):
        for j in range(width):
            value = residuals[i * width + j] + _med_predict(levels, i, j, base)
            if not 0 <= value <= QUALITY_LEVELS:
                raise FormatError("quality map decodes to a level outside 0..64")
            levels[i, j] = value
    return levels

