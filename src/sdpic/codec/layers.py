"""Building blocks: GDN, quality-map modulation (spatial feature transform) and up/down-sampling convs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GDN(nn.Module):
    """Simplified generalised divisive normalisation (Johnston et al. 2019): ``x / (beta + gamma @ |x|)``.

    Cheaper than Ballé's square/sqrt form and as good for compression; the inverse multiplies.
    ``beta`` and ``gamma`` are reparameterised through squares so they stay non-negative.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.eye(channels).mul(0.1 ** 0.5).add(1e-3)[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt.square() + 1e-6
        gamma = self.gamma_sqrt.square()
        norm = F.conv2d(x.abs(), gamma.to(x.dtype), beta.to(x.dtype))
        return x * norm if self.inverse else x / norm


class QualityModulation(nn.Module):
    """Spatial feature transform (Song et al. 2021): ``x * (1 + scale(q)) + shift(q)``.

    ``q_features`` are computed once per image from the quality map at latent resolution; this layer
    maps them to a per-channel scale and shift and upsamples those to ``x``'s resolution.
    """

    def __init__(self, cond_channels: int, channels: int) -> None:
        super().__init__()
        self.to_affine = nn.Conv2d(cond_channels, 2 * channels, 1)
        nn.init.zeros_(self.to_affine.weight)
        nn.init.zeros_(self.to_affine.bias)

    def forward(self, x: torch.Tensor, q_features: torch.Tensor) -> torch.Tensor:
        scale, shift = self.to_affine(q_features).to(x.dtype).chunk(2, dim=1)
        b, c, h, w = scale.shape
        factor = x.shape[-2] // h
        if factor == 1:
            return x * (1.0 + scale) + shift
        # Broadcast over factor x factor blocks through a view: no upsampled copy of scale/shift.
        xv = x.reshape(b, c, h, factor, w, factor)
        out = xv * (1.0 + scale[:, :, :, None, :, None]) + shift[:, :, :, None, :, None]
        return out.reshape(x.shape)


class QualityEncoder(nn.Module):
    """Quality map (B, 1, h, w) in [0, 1] at latent resolution -> conditioning features."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.net(q)


def down_conv(cin: int, cout: int, kernel: int = 5) -> nn.Conv2d:
    """Strided convolution halving the resolution."""
    return nn.Conv2d(cin, cout, kernel, stride=2, padding=kernel // 2)


class UpConv(nn.Module):
    """Sub-pixel convolution doubling the resolution (conv then pixel shuffle).

    Measured 1.5-2x faster than ``ConvTranspose2d`` on this 2-core CPU for the same receptive field.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)
