"""Discriminators for the realism decoder's adversarial training (train-time only; nothing here ships).

Both are conditional patch discriminators (HiFiC, Mentzer et al. 2020): they see an image together with
the latents it was decoded from (stop-gradient), so "realistic" means "a plausible original for these
latents", not merely "some natural-looking texture". Both return a list of logit maps (real > 0).

* :class:`FeatureDiscriminator` (the default): small heads on the frozen AlexNet activations that the
  LPIPS-Alex term of the loss computes anyway (projected discriminators, Sauer et al. 2021). The
  pretrained features make it learn in hundreds of steps instead of tens of thousands, and it costs
  only its heads: the activations and their backward pass are shared with the perceptual term.
* :class:`PixelDiscriminator`: HiFiC's, slimmed for a CPU: ŷ through a 3x3 convolution to 12 channels,
  nearest-upsampled to the image and concatenated with RGB, then spectral-normalised 4x4 convolutions
  (stride 2, 2, 2, 1) with LeakyReLU 0.2 and a 1x1 convolution to one logit per 8x8 patch.

LPIPS-VGG and DISTS, which judge the decoder, use VGG16: neither discriminator sees VGG features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ParameterError
from ..metric.backbones import CHANNELS

_SLOPE = 0.2


def _sn_conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int | None = None) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride=stride,
                                   padding=kernel // 2 if padding is None else padding))


class FeatureDiscriminator(nn.Module):
    """Heads on AlexNet's five ReLU taps (channels 64, 192, 384, 256, 256 at strides 4, 8, 16, 16, 16).

    ``forward(taps, y)``: the taps of a batch (``LPIPS.net(x)``) and ŷ / gain (B,M,h,w) -> one logit map
    per tap. Each head: 1x1 (tap + latent features -> width), 3x3, 1x1 -> 1, LeakyReLU 0.2 between,
    spectral-normalised; the latents are projected once to ``cond`` channels and resized to each tap.
    """

    def __init__(self, latent_channels: int = 160, width: int = 64, cond: int = 32) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(latent_channels, cond, 1), nn.LeakyReLU(_SLOPE))
        self.heads = nn.ModuleList(
            nn.Sequential(_sn_conv(c + cond, width, 1), nn.LeakyReLU(_SLOPE), _sn_conv(width, width, 3),
                          nn.LeakyReLU(_SLOPE), _sn_conv(width, 1, 1))
            for c in CHANNELS["alexnet"]
        )

    def forward(self, taps: list[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        if len(taps) != len(self.heads):
            raise ParameterError(f"expected {len(self.heads)} feature taps, got {len(taps)}")
        c = self.project(y.to(taps[0].dtype))
        return [head(torch.cat([t, F.interpolate(c, size=t.shape[2:], mode="nearest")], dim=1))
                for head, t in zip(self.heads, taps, strict=True)]


class PixelDiscriminator(nn.Module):
    """HiFiC's conditional discriminator, slimmed: ``forward(image, y)`` -> [logits (B,1,H/8,W/8)]."""

    def __init__(self, latent_channels: int = 160, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        self.project = nn.Conv2d(latent_channels, 12, 3, padding=1)
        layers: list[nn.Module] = []
        cin = 3 + 12
        for i, w in enumerate(widths):
            stride = 2 if i < len(widths) - 1 else 1
            layers += [_sn_conv(cin, w, 4, stride, padding=1 if stride == 2 else "same"), nn.LeakyReLU(_SLOPE)]
            cin = w
        layers.append(_sn_conv(cin, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        c = F.interpolate(self.project(y.to(image.dtype)), size=image.shape[2:], mode="nearest")
        return [self.net(torch.cat([image * 2.0 - 1.0, c], dim=1))]


DISCRIMINATORS = {"features": FeatureDiscriminator, "pixels": PixelDiscriminator}


def build_discriminator(kind: str, latent_channels: int) -> nn.Module:
    if kind not in DISCRIMINATORS:
        raise ParameterError(f"unknown discriminator {kind!r} (choose from {', '.join(DISCRIMINATORS)})")
    return DISCRIMINATORS[kind](latent_channels)


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Non-saturating GAN loss of the discriminator, averaged over its logit maps."""
    return sum(F.softplus(-r).mean() + F.softplus(f).mean() for r, f in zip(real, fake, strict=True)) / len(real)


def generator_loss(fake: list[torch.Tensor], weight: torch.Tensor | None = None) -> torch.Tensor:
    """Non-saturating GAN loss of the generator, ``mean_p w(p) · softplus(−D(x̂)(p))`` per logit map, averaged
    over maps; ``weight`` (B,1,h,w) is resized to each map (the realism map: no push where realism is 0)."""
    total = fake[0].new_zeros(())
    for f in fake:
        term = F.softplus(-f.float())
        if weight is not None:
            term = term * F.interpolate(weight, size=f.shape[2:], mode="bilinear", align_corners=False)
        total = total + term.mean()
    return total / len(fake)


__all__ = ["DISCRIMINATORS", "FeatureDiscriminator", "PixelDiscriminator", "build_discriminator",
           "discriminator_loss", "generator_loss"]
