"""The exact fixed-point path: results equal exact integer arithmetic, whatever the thread count."""

from __future__ import annotations

import torch
from torch import nn

from sdpic.codec import exact


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.LeakyReLU(exact.LEAKY_SLOPE),
                         nn.Conv2d(16, 4 * 8, 1), nn.PixelShuffle(2))


def test_exact_conv_equals_int64_arithmetic() -> None:
    net = _net()
    ex = exact.ExactSequential(net[:1])
    a = exact.to_fixed(torch.randn(1, 8, 5, 7) * 10)
    w, b, _, _ = ex.layers[0][1]
    # Reference in int64 via unfold: no floating point at all.
    cols = torch.nn.functional.unfold(a.long().double(), 3, padding=1).long()  # (1, 72, 35)
    ref = (w.long().reshape(16, -1) @ cols[0]) + b.long()[:, None]
    ref = torch.div(ref + (1 << (exact.WEIGHT_BITS - 1)), 1 << exact.WEIGHT_BITS, rounding_mode="floor")
    ref = ref.clamp(-int(exact.ACT_LIMIT), int(exact.ACT_LIMIT)).reshape(1, 16, 5, 7)
    assert torch.equal(ex(a).long(), ref)


def test_exact_path_is_identical_across_thread_counts() -> None:
    ex = exact.ExactSequential(_net())
    a = exact.to_fixed(torch.randn(1, 8, 33, 47) * 50)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ex(a)
        torch.set_num_threads(2)
        two = ex(a)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(one, two)
    assert torch.equal(one, torch.round(one))  # stays integer-valued


def test_exact_path_tracks_the_float_network() -> None:
    net = _net()
    x = torch.randn(1, 8, 9, 9)
    approx = exact.from_fixed(exact.ExactSequential(net)(exact.to_fixed(x)))
    assert torch.allclose(approx.float(), net(x), atol=5e-3)
