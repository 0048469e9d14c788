"""sdpic.metric: an LPIPS-style deep-feature distance for compression artefacts, plus PSNR / SSIM / MS-SSIM.

Why: PSNR and MS-SSIM disagree with people about compression artefacts, so the codec is trained and judged
with a learned perceptual distance. Two frozen ImageNet backbones are offered:

* ``"mobilenet_v2"`` -- the default (the codec's training loss; the benchmark's ``percep`` column);
* ``"efficientnet_lite0"`` -- the alternative (the benchmark's ``percep_eval`` column: a metric the codec
  was not trained on, so training cannot simply game it).

The shipped linear weights (version ``v0``) are uniform: the metric is **not yet calibrated on human
judgments** (see ``MODEL_CARD.md`` and ``sdpic metric calibrate``).

    >>> from sdpic.metric import distance
    >>> d = distance(ref_pil, img_pil)                    # float, 0 for identical images
    >>> d = distance(ref_t, img_t)                        # tensors (N, 3, H, W) in [0, 1] -> tensor (N,)
    >>> m = distance(ref_t, img_t, spatial=True)          # (N, 1, H, W) map whose mean is the distance
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ..errors import InputImageError
from ..image_io import load_image
from .backbones import BACKBONES, DEFAULT_BACKBONE, EVAL_BACKBONE
from .classic import ms_ssim, psnr, ssim
from .distance import DEFAULT_VERSION, MIN_SIDE, PerceptualDistance, available_versions, get_metric

__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "DEFAULT_VERSION",
    "EVAL_BACKBONE",
    "MIN_SIDE",
    "PerceptualDistance",
    "available_versions",
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
    backbone: str | None = None,
    spatial: bool = False,
    version: str = DEFAULT_VERSION,
) -> float | torch.Tensor | np.ndarray:
    """Perceptual distance between a reference and a test image (0 = identical, larger = more different).

    ``ref`` / ``img``: PIL images, arrays or paths (then the result is a ``float``, or with ``spatial=True``
    an ``(H, W)`` float32 numpy map), or tensors ``(N, 3, H, W)`` / ``(3, H, W)`` RGB in [0, 1] (then the
    result is a differentiable tensor ``(N,)``, or ``(N, 1, H, W)`` with ``spatial=True``). ``backbone``:
    ``None`` / ``"mobilenet_v2"`` (default) or ``"efficientnet_lite0"``. ``version``: shipped linear weights
    (``"v0"``, uniform) or a path to a calibrated ``.safetensors`` file. Both images must have the same
    size, at least 32 px a side. The backbone is built once per process.
    """
    metric = get_metric(backbone or DEFAULT_BACKBONE, version)
    tensors = isinstance(ref, torch.Tensor) and isinstance(img, torch.Tensor)
    if not tensors:
        if isinstance(ref, torch.Tensor) or isinstance(img, torch.Tensor):
            raise InputImageError("pass both images as tensors, or both as PIL images / arrays / paths")
        ref_t, img_t = to_tensor(ref), to_tensor(img)
        with torch.no_grad():
            out = metric(ref_t, img_t, spatial=spatial)
        return out[0, 0].numpy() if spatial else float(out[0])
    return metric(ref, img, spatial=spatial)
