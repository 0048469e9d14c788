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



def _activate_and_floor(a: torch.Tensor, act: str | None, lower: float) -> torch.Tensor:
    """The activation, then the floor and clamp that keep every value an exact integer (in place)."""
    if act == "leaky":
        F.leaky_relu_(a, LEAKY_SLOPE)
    elif act == "relu":
        a.clamp_min_(0.0)
    return a.floor_().clamp_(lower, ACT_LIMIT)

class ExactSequential:
    """A frozen copy of an ``nn.Sequential`` evaluated in exact fixed point (see module docstring).

    ``layers`` keeps the integer weights (scale 2^WEIGHT_BITS) and biases (scale 2^(WEIGHT_BITS+ACT_BITS))
    as the network defines them; evaluation runs a fused plan of the same arithmetic (:meth:`__call__`).
    """

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
        self._plan = _fused_plan(self.layers)

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        """a: integer-valued float64 activations (scale 2^ACT_BITS) -> same kind of tensor.

        Each convolution with the activation after it (across a pixel shuffle: both are per element or a
        permutation) is one GEMM or conv2d and three in-place passes; the result equals the layer-by-layer
        definition bit for bit (``reference_call``, tested), see :func:`_fused_plan`."""
        for kind, params in self._plan:
            if kind == "shuffle":
                a = F.pixel_shuffle(a, params)
                continue
            w, b, stride, padding, act, lower = params
            if w.shape[2:] == (1, 1) and stride == (1, 1) and a.shape[0] == 1:
                # 1x1 convolution as one float64 GEMM with the bias added in place (faster than conv2d's path)
                _, cin, hh, ww = a.shape
                out = torch.addmm(b[:, None], w.reshape(w.shape[0], cin), a.reshape(cin, hh * ww))
                out = out.reshape(1, w.shape[0], hh, ww)
            else:
                out = F.conv2d(a, w, b, stride, padding)
            a = _activate_and_floor(out, act, lower)
        return a

    def matrix(self, parts: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
        """A network of 1x1 convolutions on positions as columns: ``parts`` are (first input channel,
        (channels, N) integer-valued float64 block); input channels no part covers are zero, so their
        terms are skipped. Returns (out_channels, N). Equals ``__call__`` on the concatenated
        (1, C, N, 1) input bit for bit: the first layer's sum is split by input block, and the partial
        sums are exact integers as any other order."""
        if not parts:
            raise ValueError("no input blocks")
        a = None
        for step, (kind, params) in enumerate(self._plan):
            w, b, stride, _, act, lower = params
            if kind != "conv" or w.shape[2:] != (1, 1) or stride != (1, 1):
                raise ValueError("matrix evaluation needs a network of 1x1 convolutions")
            w2 = w.reshape(w.shape[0], w.shape[1])
            if step == 0:
                for start, block in parts:
                    cols = w2[:, start:start + block.shape[0]]
                    a = torch.addmm(b[:, None], cols, block) if a is None else a.addmm_(cols, block)
            else:
                a = torch.addmm(b[:, None], w2, a)
            a = _activate_and_floor(a, act, lower)
        return a

    def reference_call(self, a: torch.Tensor) -> torch.Tensor:
        """The layer-by-layer definition (slow; the tests compare :meth:`__call__` with it)."""
        for kind, params in self.layers:
            if kind == "conv":
                w, b, stride, padding = params
                out = F.conv2d(a, w, b, stride, padding)
                a = torch.clamp(torch.floor(out / float(1 << WEIGHT_BITS) + 0.5), -ACT_LIMIT, ACT_LIMIT)
            elif kind == "shuffle":
                a = F.pixel_shuffle(a, params)
            elif kind == "leaky":
                a = torch.where(a >= 0, a, torch.floor(a * LEAKY_SLOPE))
            else:
                a = a.clamp_min(0.0)
        return a


def _fused_plan(layers: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """The layers as fused steps with the same integer results.

    A convolution's rescale ``clamp(floor(s / 2^W + 1/2), -L, L)`` of its integer sum ``s`` becomes
    ``floor(s')`` with ``s' = conv(a, w / 2^W) + (b / 2^W + 1/2)``: scaling the weights and bias by a power of
    two keeps every product and partial sum exactly representable (multiples of 2^-W below 2^(53-W)), so
    ``s' = s / 2^W + 1/2`` exactly. An activation after it (even across a pixel shuffle, a permutation)
    moves before the floor: ``floor(floor(x) / 8) = floor(x / 8)`` (LeakyReLU with slope 1/8; its negative
    branch is then clamped at -L/8) and ``max(floor(x), 0) = floor(max(x, 0))`` (ReLU; clamp at 0).
    """
    plan: list[tuple[str, object]] = []
    i = 0
    while i < len(layers):
        kind, params = layers[i]
        if kind != "conv":
            plan.append((kind, params) if kind == "shuffle" else ("act", kind))
            i += 1
            continue
        w, b, stride, padding = params
        scale = 1.0 / (1 << WEIGHT_BITS)
        bias = (b * scale if b is not None else torch.zeros(w.shape[0], dtype=torch.float64)) + 0.5
        j = i + 1
        shuffles = []
        while j < len(layers) and layers[j][0] == "shuffle":
            shuffles.append(layers[j])
            j += 1
        act = layers[j][0] if j < len(layers) and layers[j][0] in ("leaky", "relu") else None
        lower = {"leaky": -ACT_LIMIT * LEAKY_SLOPE, "relu": 0.0}.get(act, -ACT_LIMIT)
        plan.append(("conv", ((w * scale).contiguous(), bias, stride, padding, act, lower)))
        plan.extend(shuffles)
        i = j + (act is not None)
    if any(kind == "act" for kind, _ in plan):
        raise ValueError("exact path: an activation must follow a convolution")
    return plan
