"""The learned salient-object model: MobileNetV2 features + a light multi-scale decoder with deep supervision.

Why this shape: DSS (Hou et al. 2017) showed that fusing side outputs from several backbone depths,
with short connections that pass the coarse, semantic predictions down to the fine ones, gives sharp
object maps. Here the same idea runs on a MobileNetV2 trunk with a top-down (FPN-like) path: each scale
gets a side prediction (deep supervision during training), deeper side predictions are fed into shallower
ones (short connections), and a 1x1 conv fuses all of them into the final map at 1/4 resolution, which is
upsampled to the image size. The decoder is small so that a 768x512 photo runs in well under 0.15 s on two
CPU threads: the image is resized to a moderate fixed resolution first (the model is fully convolutional,
so other sizes work too).
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .mobilenet import TAP_CHANNELS, MobileNetV2Features

#: File name of the shipped weights inside this package.
WEIGHTS_NAME = "saliency_mnv2.safetensors"
#: Side of the square the image is resized to before the network (training used crops of this size).
DEFAULT_INPUT_SIZE = 320
#: Decoder width.
DECODER_CHANNELS = 48

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBNAct(nn.Sequential):
    """3x3 (or 1x1) conv + BN + ReLU: the decoder's only building block."""

    def __init__(self, inp: int, oup: int, kernel: int = 3) -> None:
        super().__init__(
            nn.Conv2d(inp, oup, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True)
        )


class SaliencyDecoder(nn.Module):
    """Top-down fusion of the four backbone scales with side outputs and DSS-style short connections."""

    def __init__(self, in_channels: tuple[int, ...] = TAP_CHANNELS, width: int = DECODER_CHANNELS) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(ConvBNAct(c, width, 1) for c in in_channels)
        self.context = ConvBNAct(in_channels[-1], width, 1)  # global pooled context for the deepest scale
        # refine block i takes lateral + upsampled deeper feature + all deeper side logits (short connections)
        n = len(in_channels)
        self.refine = nn.ModuleList(ConvBNAct(width + (n - 1 - i), width) for i in range(n))
        self.side = nn.ModuleList(nn.Conv2d(width, 1, 1) for _ in range(n))
        self.fuse = nn.Conv2d(n, 1, 1)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Return ``[fused, side_0 (finest), ..., side_3 (coarsest)]`` logits, all at the finest scale."""
        n = len(feats)
        top = feats[-1]
        ctx = self.context(F.adaptive_avg_pool2d(top, 1))
        x: torch.Tensor | None = None
        sides: list[torch.Tensor] = [torch.empty(0)] * n
        for i in range(n - 1, -1, -1):
            lat = self.lateral[i](feats[i])
            size = lat.shape[-2:]
            if x is None:
                x = lat + ctx
            else:
                x = lat + F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            deeper = [F.interpolate(sides[j], size=size, mode="bilinear", align_corners=False) for j in range(i + 1, n)]
            x = self.refine[i](torch.cat([x, *deeper], dim=1) if deeper else x)
            sides[i] = self.side[i](x)
        size = sides[0].shape[-2:]
        ups = [sides[0]] + [F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in sides[1:]]
        fused = self.fuse(torch.cat(ups, dim=1)) + ups[0]  # residual on the finest side keeps training stable
        return [fused, *ups]


class SaliencyNet(nn.Module):
    """MobileNetV2 trunk + :class:`SaliencyDecoder`; input normalised RGB, output logits at 1/4 resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = MobileNetV2Features()
        self.decoder = SaliencyDecoder()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decoder(self.backbone(x))

    def forward_from(self, start: int, taps: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
        """Run the trunk from ``features[start]`` given the taps already computed (training with a frozen prefix)."""
        return self.decoder(self.backbone.forward_from(start, taps, x))


def default_weights_path() -> Path:
    """Path of the weights shipped with the package."""
    return Path(str(resources.files(__package__).joinpath(WEIGHTS_NAME)))


def load_model(weights: str | Path | None = None) -> SaliencyNet:
    """Build the network and load ``weights`` (default: the shipped file), in eval mode and float32."""
    from safetensors.torch import load_file

    path = Path(weights) if weights is not None else default_weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: saliency weights not found (train them with `sdpic saliency train`)")
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model = SaliencyNet()
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


_CACHE: dict[str, SaliencyNet] = {}
_LOCK = threading.Lock()


def get_model(weights: str | Path | None = None) -> SaliencyNet:
    """Load once per process: building the model costs more than running it on one image."""
    key = str(Path(weights).resolve()) if weights is not None else ""
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_model(weights)
        return _CACHE[key]


def preprocess(rgb: np.ndarray, size: int = DEFAULT_INPUT_SIZE) -> torch.Tensor:
    """uint8 HxWx3 -> normalised 1x3xSxS tensor (area filter when shrinking, bilinear when enlarging)."""
    img = Image.fromarray(rgb)
    if img.size != (size, size):
        shrinking = img.width >= size and img.height >= size
        img = img.resize((size, size), Image.BOX if shrinking else Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN, dtype=np.float32)) / np.asarray(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


@torch.inference_mode()
def predict_learned(rgb: np.ndarray, weights: str | Path | None = None, size: int = DEFAULT_INPUT_SIZE) -> np.ndarray:
    """Saliency map (float32 in [0, 1], image size) of an 8-bit RGB array with the learned model."""
    model = get_model(weights)
    h, w = rgb.shape[:2]
    logits = model(preprocess(rgb, size))[0]
    logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    out = torch.sigmoid(logits)[0, 0].numpy().astype(np.float32)
    return np.clip(out, 0.0, 1.0)
