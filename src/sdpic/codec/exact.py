"""Exact fixed-point evaluation of the entropy-parameter networks (the decoder's determinism).

The networks that turn decoded symbols into entropy-model parameters (hyper-synthesis, checkerboard
context, parameter fusion) are trained in floating point. For coding they run as *integer* networks
(in the spirit of Ballé, Johnston & Minnen 2019, "Integer networks for data compression"):

* weights are rounded to multiples of 2^-WEIGHT_BITS and activations to multiples of 2^-ACT_BITS;
* a convolution multiplies integers and adds them up in float64; every partial sum is an integer of
  magnitude < 2^53 (guaranteed by clamping activations to ACT_LIMIT and weights to WEIGHT_LIMIT),
  so the result is *exact*, whatever order the BLAS kernel, the thread count or the CPU adds in;
* the rescale after each layer is a division by a power of two and a floor: exact as well.

Hence encoder and decoder compute bit-identical parameters on any IEEE-754 machine, and the
table indices derived from them agree. Only these layer types are allowed on the exact path:
Conv2d, PixelShuffle, LeakyReLU with a power-of-two slope, ReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_BITS = 16
ACT_BITS = 12
ACT_SCALE = float(1 << ACT_BITS)
ACT_LIMIT = float(1 << 22)      # |activation| <= 1024.0 in real units
WEIGHT_LIMIT = float(1 << 18)   # |weight| <= 4.0 in real units
MAX_TERMS = 1 << 12             # kernel_h * kernel_w * in_channels per output; checked at build time

LEAKY_SLOPE = 0.125  # a power of two, so the negative branch is exact


def to_fixed(x: torch.Tensor) -> torch.Tensor:
    """Real values -> integer-valued float64 activations (scale 2^ACT_BITS), clamped to the safe range."""
    return torch.clamp(torch.floor(x.double() * ACT_SCALE + 0.5), -ACT_LIMIT, ACT_LIMIT)


def from_fixed(a: torch.Tensor) -> torch.Tensor:
    """Integer-valued activations -> real values (exact division by a power of two)."""
    return a / ACT_SCALE


class ExactSequential:
    """A frozen copy of an ``nn.Sequential`` evaluated in exact fixed point (see module docstring)."""

    def __init__(self, net: nn.Sequential) -> None:
        self.layers: list[tuple[str, object]] = []
        for layer in net:
            if isinstance(layer, nn.Conv2d):
                if layer.groups != 1 or layer.dilation != (1, 1):
                    raise ValueError("exact path supports plain convolutions only")
                terms = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
                if terms > MAX_TERMS:
                    raise ValueError(f"convolution with {terms} terms per output breaks the exactness bound")
                w = torch.clamp(torch.round(layer.weight.detach().double() * (1 << WEIGHT_BITS)), -WEIGHT_LIMIT,
                                WEIGHT_LIMIT)
                b = None
                if layer.bias is not None:
                    b = torch.round(layer.bias.detach().double() * float(1 << (WEIGHT_BITS + ACT_BITS)))
                self.layers.append(("conv", (w, b, layer.stride, layer.padding)))
            elif isinstance(layer, nn.PixelShuffle):
                self.layers.append(("shuffle", layer.upscale_factor))
            elif isinstance(layer, nn.LeakyReLU):
                if layer.negative_slope != LEAKY_SLOPE:
                    raise ValueError("exact path needs LeakyReLU(negative_slope=0.125)")
                self.layers.append(("leaky", None))
            elif isinstance(layer, nn.ReLU):
                self.layers.append(("relu", None))
            else:
                raise ValueError(f"layer {type(layer).__name__} is not allowed on the exact path")

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        """a: integer-valued float64 activations (scale 2^ACT_BITS) -> same kind of tensor."""
        for kind, params in self.layers:
            if kind == "conv":
                w, b, stride, padding = params
                if w.shape[2:] == (1, 1) and stride == (1, 1):
                    # 1x1 convolution as one float64 GEMM (faster than conv2d's path; equally exact).
                    bsz, cin, hh, ww = a.shape
                    out = torch.matmul(w.reshape(w.shape[0], cin), a.reshape(bsz, cin, hh * ww))
                    out = out.reshape(bsz, w.shape[0], hh, ww)
                else:
                    out = F.conv2d(a, w, None, stride, padding)
                if b is not None:
                    out = out + b[None, :, None, None]
                a = torch.clamp(torch.floor(out / float(1 << WEIGHT_BITS) + 0.5), -ACT_LIMIT, ACT_LIMIT)
            elif kind == "shuffle":
                a = F.pixel_shuffle(a, params)
            elif kind == "leaky":
                a = torch.where(a >= 0, a, torch.floor(a * LEAKY_SLOPE))
            else:
                a = a.clamp_min(0.0)
        return a
