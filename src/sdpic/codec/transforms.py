"""Analysis / synthesis transforms (g_a, g_s), hyper-transforms (h_a, h_s), checkerboard context and
parameter fusion.

Widths shrink toward full resolution because on a 2-core CPU the high-resolution layers dominate the
run time: a uniform 128-channel Ballé g_s with transposed convolutions took ~1.0 s at 768x512 here,
the sub-pixel pyramid below about a quarter of that. The networks on the entropy-parameter path
(h_s, context, fusion) use only layers :mod:`sdpic.codec.exact` can evaluate exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .exact import LEAKY_SLOPE
from .layers import GDN, QualityEncoder, QualityModulation, UpConv, down_conv

ANALYSIS_WIDTHS = (64, 96, 128)   # at 1/2, 1/4, 1/8 of the image resolution
SYNTHESIS_WIDTHS = (128, 96, 48)  # at 1/8, 1/4, 1/2: the decoder is lighter, decode speed matters most


def _leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE)


class AnalysisTransform(nn.Module):
    """g_a: image (B,3,H,W) in [0,1] and quality features -> latents y (B,M,H/16,W/16)."""

    def __init__(self, latent_channels: int, cond_channels: int) -> None:
        super().__init__()
        c1, c2, c3 = ANALYSIS_WIDTHS
        self.convs = nn.ModuleList(
            [down_conv(4, c1), down_conv(c1, c2), down_conv(c2, c3), down_conv(c3, latent_channels)])
        self.gdns = nn.ModuleList([GDN(c1), GDN(c2), GDN(c3)])
        self.mods = nn.ModuleList([QualityModulation(cond_channels, c) for c in (c1, c2, c3)])

    def forward(self, x: torch.Tensor, q_pixels: torch.Tensor, q_features: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, q_pixels.to(x.dtype)], dim=1)
        for conv, gdn, mod in zip(self.convs[:-1], self.gdns, self.mods, strict=True):
            h = mod(gdn(conv(h)), q_features)
        return self.convs[-1](h)


class SynthesisTransform(nn.Module):
    """g_s: dequantised latents (B,M,h,w) and quality features -> image (B,3,16h,16w)."""

    def __init__(self, latent_channels: int, cond_channels: int) -> None:
        super().__init__()
        c3, c2, c1 = SYNTHESIS_WIDTHS
        self.in_mod = QualityModulation(cond_channels, latent_channels)
        self.ups = nn.ModuleList([UpConv(latent_channels, c3), UpConv(c3, c2), UpConv(c2, c1), UpConv(c1, 3)])
        self.igdns = nn.ModuleList([GDN(c3, inverse=True), GDN(c2, inverse=True), GDN(c1, inverse=True)])
        self.mods = nn.ModuleList([QualityModulation(cond_channels, c) for c in (c3, c2, c1)])

    def forward(self, y_hat: torch.Tensor, q_features: torch.Tensor) -> torch.Tensor:
        h = self.in_mod(y_hat, q_features)
        for up, igdn, mod in zip(self.ups[:-1], self.igdns, self.mods, strict=True):
            h = mod(igdn(up(h)), q_features)
        return self.ups[-1](h)


def hyper_analysis(latent_channels: int, hyper_channels: int) -> nn.Sequential:
    """h_a: y -> z at 1/4 of y's resolution (encoder only, so plain float)."""
    return nn.Sequential(
        nn.Conv2d(latent_channels, 128, 3, padding=1), _leaky(),
        nn.Conv2d(128, 128, 5, stride=2, padding=2), _leaky(),
        nn.Conv2d(128, hyper_channels, 5, stride=2, padding=2),
    )


def hyper_synthesis(hyper_channels: int, out_channels: int) -> nn.Sequential:
    """h_s: z_hat -> hyper features at y's resolution. Exact-path layers only."""
    return nn.Sequential(
        nn.Conv2d(hyper_channels, 128, 3, padding=1), _leaky(),
        nn.Conv2d(128, 4 * 128, 3, padding=1), nn.PixelShuffle(2), _leaky(),
        nn.Conv2d(128, 4 * out_channels, 1), nn.PixelShuffle(2),
    )


def context_fusion(latent_channels: int, context_channels: int) -> nn.Sequential:
    """Checkerboard context: the four anchor neighbours of a non-anchor position -> context features."""
    return nn.Sequential(nn.Conv2d(4 * latent_channels, context_channels, 1))


def parameter_fusion(in_channels: int, latent_channels: int) -> nn.Sequential:
    """(hyper features, context features, quality) -> (means, log-scales) per latent. 1x1 convs only."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 160, 1), _leaky(),
        nn.Conv2d(160, 160, 1), _leaky(),
        nn.Conv2d(160, 2 * latent_channels, 1),
    )


def four_neighbours(y: torch.Tensor) -> torch.Tensor:
    """Stack the up/down/left/right neighbours of every position along channels (zeros outside)."""
    p = F.pad(y, (1, 1, 1, 1))
    return torch.cat([p[:, :, :-2, 1:-1], p[:, :, 2:, 1:-1], p[:, :, 1:-1, :-2], p[:, :, 1:-1, 2:]], dim=1)


def anchor_mask(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(1,1,h,w) float mask of checkerboard anchors: positions with (row + col) even, decoded first."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return ((rows + cols) % 2 == 0).float()[None, None]


__all__ = [
    "AnalysisTransform",
    "QualityEncoder",
    "SynthesisTransform",
    "anchor_mask",
    "context_fusion",
    "four_neighbours",
    "hyper_analysis",
    "hyper_synthesis",
    "parameter_fusion",
]
