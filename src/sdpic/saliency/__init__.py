"""Saliency: where people look in a photo, as a float map in [0, 1] at the image's size.

The codec spends more bits where this map is high. One entry point, :func:`predict`, serves the learned
model (default: MobileNetV2 + multi-scale decoder trained on ECSSD, shipped weights) and the classical
baselines (HC, RC, spectral residual, fine-grained), so callers can swap methods without code changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..image_io import ImageLike, load_image

#: Method names accepted by :func:`predict` (``learned`` is the default and the most accurate).
METHODS = ("learned", "rc", "hc", "spectral", "finegrained")

__all__ = ["METHODS", "predict", "predict_rgb"]


def predict_rgb(rgb: np.ndarray, method: str = "learned", *, weights: str | os.PathLike | None = None) -> np.ndarray:
    """Saliency of an already-loaded 8-bit RGB array (HxWx3 ``uint8``); float32 in [0, 1], HxW."""
    if method not in METHODS:
        raise ParameterError(f"unknown saliency method {method!r} (choose from {', '.join(METHODS)})")
    if weights is not None and method != "learned":
        raise ParameterError("weights only apply to the learned method")
    if method == "learned":
        from .learned import predict_learned

        sal = predict_learned(rgb, Path(weights) if weights is not None else None)
    else:
        from . import classical

        fn = {
            "rc": classical.rc_saliency,
            "hc": classical.hc_saliency,
            "spectral": classical.spectral_saliency,
            "finegrained": classical.finegrained_saliency,
        }[method]
        sal = fn(rgb)
    return np.ascontiguousarray(np.clip(sal, 0.0, 1.0), dtype=np.float32)


def predict(image: ImageLike, method: str = "learned", *, weights: str | os.PathLike | None = None) -> np.ndarray:
    """Saliency map of ``image`` (path, PIL image or array; any size and mode) as float32 in [0, 1].

    The map has the image's height and width. Greyscale is treated as R=G=B and alpha is composited over
    white (see :mod:`sdpic.image_io`). Unreadable input raises :class:`sdpic.errors.InputImageError`, an
    unknown ``method`` raises :class:`sdpic.errors.ParameterError`. The result is deterministic: the
    same input and method give the same map.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown saliency method {method!r} (choose from {', '.join(METHODS)})")
    return predict_rgb(load_image(image).rgb, method, weights=weights)
