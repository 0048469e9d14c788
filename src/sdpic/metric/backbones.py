"""Frozen ImageNet feature extractors of the human-calibrated metrics: AlexNet and VGG16 (torchvision's).

torchvision is not a dependency (it does not import beside this torch), so both trunks are written out
here; their weights come from :mod:`sdpic.metric.pretrained`. Each returns the five layers the metrics tap:

* AlexNet (LPIPS-Alex): relu1 .. relu5, channels 64, 192, 384, 256, 256, strides 4, 8, 16, 16, 16;
* VGG16 (LPIPS-VGG, DISTS): relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, channels 64, 128, 256, 512, 512.
  DISTS replaces VGG's max pooling by an L2 pooling (a Hann-window low-pass of the squared activations,
  Ding et al. 2020) so that the features do not alias; LPIPS keeps the max pooling.

Input: RGB in [0, 1]; the ImageNet normalisation is applied inside. (LPIPS's own input convention, [-1, 1]
then ``(x - shift) / scale``, is the same affine map: ``(1 + shift) / 2`` and ``scale / 2`` are exactly
ImageNet's mean and std.) The networks are frozen: eval mode, ``requires_grad=False`` everywhere.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError, WeightsNotFoundError
from ..nets.mobilenet_v2 import IMAGENET_MEAN, IMAGENET_STD
from .pretrained import lpips_backbone_state

BACKBONES = ("alexnet", "vgg16")
#: Channels of the five tapped layers.
CHANNELS: dict[str, tuple[int, ...]] = {"alexnet": (64, 192, 384, 256, 256), "vgg16": (64, 128, 256, 512, 512)}

# VGG16's configuration "D": convolutions per stage; a pooling between stages, the tap at each stage's end.
_VGG16_STAGES = ((3, 64, 64), (64, 128, 128), (128, 256, 256, 256), (256, 512, 512, 512), (512, 512, 512, 512))


class _Trunk(nn.Module):
    """ImageNet input normalisation; subclasses return the five tapped activations."""

    channels: tuple[int, ...]

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class AlexNetFeatures(_Trunk):
    """torchvision's ``alexnet().features`` up to relu5 (the last max pooling is not needed)."""

    channels = CHANNELS["alexnet"]

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(3, 64, 11, stride=4, padding=2),
                nn.Conv2d(64, 192, 5, padding=2),
                nn.Conv2d(192, 384, 3, padding=1),
                nn.Conv2d(384, 256, 3, padding=1),
                nn.Conv2d(256, 256, 3, padding=1),
            ]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        h = self.normalise(x)
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                h = F.max_pool2d(h, 3, stride=2)
            h = torch.relu_(conv(h))
            taps.append(h)
        return taps


class L2Pooling(nn.Module):
    """DISTS's anti-aliased pooling: ``sqrt(hann3x3 * x**2 + 1e-12)`` with stride 2 (one filter per channel)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = np.hanning(5)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        self.register_buffer("filter", (g / g.sum()).expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class VGG16Features(_Trunk):
    """torchvision's ``vgg16().features`` up to relu5_3; ``pooling``: ``"max"`` (LPIPS) or ``"l2"`` (DISTS)."""

    channels = CHANNELS["vgg16"]

    def __init__(self, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in ("max", "l2"):
            raise ParameterError(f"VGG16 pooling is 'max' or 'l2', got {pooling!r}")
        self.stages = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(cin, cout, 3, padding=1) for cin, cout in itertools.pairwise(sizes))
            for sizes in _VGG16_STAGES
        )
        self.pools = nn.ModuleList(
            L2Pooling(sizes[0]) if pooling == "l2" else nn.MaxPool2d(2, 2) for sizes in _VGG16_STAGES[1:]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        h = self.normalise(x)
        for i, stage in enumerate(self.stages):
            if i:
                h = self.pools[i - 1](h)
            for conv in stage:
                h = torch.relu_(conv(h))
            taps.append(h)
        return taps

    def convs(self) -> list[nn.Conv2d]:
        return [conv for stage in self.stages for conv in stage]


_CACHE: dict[tuple[str, str], _Trunk] = {}
_LOCK = threading.Lock()


def _build(backbone: str, pooling: str) -> _Trunk:
    # Layer construction draws random initial weights; fork the RNG so that building the metric (lazily, on
    # first use) does not shift the caller's random stream -- the codec's training must stay reproducible.
    with torch.random.fork_rng():
        net = AlexNetFeatures() if backbone == "alexnet" else VGG16Features(pooling)
    convs = list(net.convs) if backbone == "alexnet" else net.convs()
    state = lpips_backbone_state(backbone)
    if [tuple(w.shape) for w, _ in state] != [tuple(c.weight.shape) for c in convs]:
        raise WeightsNotFoundError(f"the {backbone} weights do not have torchvision's {backbone} layer shapes")
    with torch.no_grad():
        for conv, (w, b) in zip(convs, state, strict=True):
            conv.weight.copy_(w)
            conv.bias.copy_(b)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def get_backbone(backbone: str, pooling: str = "max") -> _Trunk:
    """The frozen trunk, built once per process and shared by every metric: callers must not modify it."""
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    key = (backbone, pooling if backbone == "vgg16" else "max")
    with _LOCK:
        net = _CACHE.get(key)
        if net is None:
            # never build under a caller's inference_mode: its tensors could not be used by autograd later
            with torch.inference_mode(False):
                net = _build(*key)
            _CACHE[key] = net
    return net
