"""DISTS (Ding, Ma, Wang, Simoncelli 2020, "Image quality assessment: unifying structure and texture
similarity"), as an ``nn.Module``.

For the input image and the five stages of an L2-pooled VGG16 (:mod:`.backbones`), DISTS compares per
channel the global mean (a luminance-like "texture" term) and the covariance with the reference (a
"structure" term), SSIM-style, and weighs the 1475 channel terms with alpha / beta learned on human quality
judgments (the KADID-10k data set; weights from the ``DISTS_pytorch`` package, :mod:`.pretrained`)::

    D = 1 - sum_k sum_c [alpha_kc * (2 mx my + c1) / (mx^2 + my^2 + c1) + beta_kc * (2 sxy + c2) / (sx^2 + sy^2 + c2)]

with alpha and beta normalised to sum to 1. Being made of global statistics it is tolerant of resampled
textures (which LPIPS penalises) and has no spatial map. Same input convention as LPIPS (:mod:`.inputs`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputImageError, ParameterError
from .backbones import CHANNELS, get_backbone
from .inputs import check_pair
from .pretrained import dists_alpha_beta

_C1 = 1e-6
_C2 = 1e-6


class DISTS(nn.Module):
    """DISTS distance per image pair, ``(N,)`` (0 for identical images; differentiable in both images)."""

    version = "DISTS_pytorch-0.1"
    calibrated = True

    def __init__(self) -> None:
        super().__init__()
        self.net = get_backbone("vgg16", pooling="l2")
        alpha, beta = dists_alpha_beta()
        self.chns = (3, *CHANNELS["vgg16"])
        if alpha.numel() != sum(self.chns) or beta.numel() != sum(self.chns):
            raise ParameterError(f"DISTS weights have {alpha.numel()} channels, expected {sum(self.chns)}")
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", (alpha / total).view(1, -1), persistent=False)
        self.register_buffer("beta", (beta / total).view(1, -1), persistent=False)

    def train(self, mode: bool = True) -> DISTS:
        """Keep the backbone in eval mode whatever the parent does."""
        super().train(mode)
        self.net.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input itself (in [0, 1], not normalised) and the five VGG16 stages."""
        return [x, *self.net(x)]

    def reference_features(self, ref: torch.Tensor) -> list[torch.Tensor]:
        """Features of a constant reference (no autograd record), to reuse against many test images."""
        ref, _ = check_pair(ref, ref)
        with torch.no_grad():
            return self.features(ref)

    def _distance(self, f_ref: list[torch.Tensor], f_img: list[torch.Tensor]) -> torch.Tensor:
        s1, s2 = [], []
        for a, b in zip(f_ref, f_img, strict=True):
            ma, mb = a.mean(dim=(2, 3)), b.mean(dim=(2, 3))
            va = ((a - ma[..., None, None]) ** 2).mean(dim=(2, 3))
            vb = ((b - mb[..., None, None]) ** 2).mean(dim=(2, 3))
            cov = (a * b).mean(dim=(2, 3)) - ma * mb
            s1.append((2 * ma * mb + _C1) / (ma * ma + mb * mb + _C1))
            s2.append((2 * cov + _C2) / (va + vb + _C2))
        return 1.0 - (torch.cat(s1, dim=1) * self.alpha).sum(dim=1) - (torch.cat(s2, dim=1) * self.beta).sum(dim=1)

    def from_reference_features(
        self, ref_features: list[torch.Tensor], img: torch.Tensor, spatial: bool = False
    ) -> torch.Tensor:
        """Same as ``forward(ref, img)`` with the reference given by its :meth:`reference_features`."""
        _no_map(spatial)
        _, img = check_pair(img, img)
        if ref_features[0].shape[2:] != img.shape[2:]:
            raise InputImageError("the reference features come from an image of another size")
        return self._distance(ref_features, self.features(img))

    def forward(self, ref: torch.Tensor, img: torch.Tensor, spatial: bool = False) -> torch.Tensor:
        _no_map(spatial)
        ref, img = check_pair(ref, img)
        if ref.requires_grad:
            f_ref = self.features(ref)
        else:
            with torch.no_grad():
                f_ref = self.features(ref)
        return self._distance(f_ref, self.features(img))


def _no_map(spatial: bool) -> None:
    if spatial:
        raise ParameterError("DISTS compares global feature statistics: it has no spatial map (use an LPIPS metric)")
