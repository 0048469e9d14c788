"""The input convention every deep metric shares: RGB tensors ``(N, 3, H, W)`` in [0, 1], H and W >= 32."""

from __future__ import annotations

import torch

from ..errors import InputImageError

#: Smallest accepted image side: below it AlexNet's third pooling has nothing left to pool.
MIN_SIDE = 32


def check_pair(ref: torch.Tensor, img: torch.Tensor, min_side: int = MIN_SIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an image pair against the input convention; returns both as 4-D tensors.

    Raises :class:`InputImageError` (a clear message, not a shape error deep inside a convolution) for
    non-tensors, wrong rank or channel count, size mismatch, images below ``min_side`` or non-finite values,
    and for values far outside [0, 1] (the usual mistake: 0..255 or -1..1 inputs). A batch of 1 broadcasts
    against a batch of N (its features are computed once).
    """
    for name, t in (("reference", ref), ("image", img)):
        if not isinstance(t, torch.Tensor):
            raise InputImageError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise InputImageError(f"{name} must be a float tensor in [0, 1], got dtype {t.dtype}")
    if ref.dim() == 3:
        ref = ref.unsqueeze(0)
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if ref.dim() != 4 or ref.shape[1] != 3 or img.dim() != 4 or img.shape[1] != 3:
        raise InputImageError(f"expected RGB tensors (N, 3, H, W); got {tuple(ref.shape)} and {tuple(img.shape)}")
    if ref.shape[2:] != img.shape[2:]:
        raise InputImageError(
            f"size mismatch: reference is {ref.shape[3]}x{ref.shape[2]}, image is {img.shape[3]}x{img.shape[2]}"
        )
    if ref.shape[0] != img.shape[0] and ref.shape[0] != 1 and img.shape[0] != 1:
        raise InputImageError(f"batch sizes differ: {ref.shape[0]} and {img.shape[0]}")
    h, w = ref.shape[2:]
    if min(h, w) < min_side:
        raise InputImageError(f"image is {w}x{h}; the metric needs at least {min_side} pixels a side")
    with torch.no_grad():
        for name, t in (("reference", ref), ("image", img)):
            lo, hi = torch.aminmax(t.detach())
            if not (torch.isfinite(lo) and torch.isfinite(hi)):
                raise InputImageError(f"{name} contains NaN or infinity")
            if lo < -0.5 or hi > 1.5:
                raise InputImageError(
                    f"{name} values span [{lo.item():.3g}, {hi.item():.3g}]; "
                    "expected RGB in [0, 1] (divide 8-bit by 255)"
                )
    return ref, img
