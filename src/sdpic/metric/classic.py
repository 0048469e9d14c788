"""PSNR, SSIM and MS-SSIM in torch: differentiable, batch-aware, per-image results.

Why here: the codec's training loss and the benchmark harness import MS-SSIM and PSNR from this module, so
there is one implementation (and one set of conventions) in the project. Conventions:

* inputs are RGB float tensors ``(N, 3, H, W)`` (or ``(3, H, W)``) in [0, ``data_range``]; one value per image;
* SSIM uses the Gaussian window of Wang et al. (11 taps, sigma 1.5), K1 = 0.01, K2 = 0.03, "valid"
  filtering, computed per colour channel and averaged over channels (the convention of the common
  ``pytorch_msssim`` package, so numbers are comparable with the learned-compression literature);
* MS-SSIM uses the five scale weights of Wang et al. (2003) with 2x2 average-pool downsampling. Images too
  small for five scales (below 176 px a side with the 11-tap window) use as many scales as fit, with the
  leading weights renormalised to sum to 1 -- so MS-SSIM is defined down to 11 px and equals SSIM at one scale.
  Negative contrast-structure terms are clamped to a small positive value before the fractional powers,
  which keeps the gradient finite;
* PSNR is capped at 100 dB (MSE floor 1e-10 for data_range 1) so identical images give a finite value and gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputImageError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_CLAMP = 1e-6


def _check(x: torch.Tensor, y: torch.Tensor, min_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise InputImageError(f"{name} must be a float tensor, got {type(t).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if y.dim() == 3:
        y = y.unsqueeze(0)
    if x.dim() != 4 or x.shape != y.shape:
        raise InputImageError(
            f"expected two (N, C, H, W) tensors of the same shape; got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if min(x.shape[2:]) < min_side:
        raise InputImageError(
            f"image is {x.shape[3]}x{x.shape[2]}; this measure needs at least {min_side} pixels a side"
        )
    return x, y


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, shape ``(N,)``."""
    x, y = _check(x, y, 1)
    return ((x - y) ** 2).flatten(1).mean(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, shape ``(N,)``; differentiable, capped at 100 dB."""
    return psnr_from_mse(mse(x, y), data_range)


def psnr_from_mse(err: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of mean squared errors ``err``, capped at 100 dB (for callers that also need the MSE)."""
    floor = 1e-10 * data_range**2
    return 10.0 * torch.log10(data_range**2 / torch.clamp(err, min=floor))


def _gaussian(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(WINDOW, dtype=dtype, device=device) - (WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' borders."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel SSIM and contrast-structure terms, each ``(N, C)``."""
    g = _gaussian(x.dtype, x.device)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    sxx = _filter(x * x, g) - mu_x**2
    syy = _filter(y * y, g) - mu_y**2
    sxy = _filter(x * y, g) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (mean over channels), shape ``(N,)``; needs at least 11 px a side."""
    x, y = _check(x, y, WINDOW)
    s, _ = _ssim_cs(x, y, data_range)
    return s.mean(dim=1)


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales used for an image of this size (5 when at least 176 px a side)."""
    side = min(height, width)
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side // 2**scales >= WINDOW:
        scales += 1
    return scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image, shape ``(N,)``: differentiable, batch-aware, fewer scales for small images."""
    x, y = _check(x, y, WINDOW)
    scales = ms_ssim_scales(x.shape[2], x.shape[3])
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    factors = []
    for i in range(scales):
        s, cs = _ssim_cs(x, y, data_range)
        if i == scales - 1:
            factors.append(torch.clamp(s, min=_CLAMP) ** weights[i])
        else:
            factors.append(torch.clamp(cs, min=_CLAMP) ** weights[i])
            pad = (0, x.shape[3] % 2, 0, x.shape[2] % 2)
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
    return torch.stack(factors, dim=0).prod(dim=0).mean(dim=1)
