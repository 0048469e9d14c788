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


def _exact_case(seed: int) -> tuple[exact.ExactSequential, torch.Tensor]:
    """A random exact network with every fusion the plan makes (conv+leaky, conv+shuffle+leaky, conv+relu,
    a bare conv) and activations large enough to hit both clamps."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(6, 12, 3, padding=1), nn.LeakyReLU(exact.LEAKY_SLOPE),
                        nn.Conv2d(12, 4 * 8, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(exact.LEAKY_SLOPE),
                        nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 5, 1))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Conv2d):
                layer.weight.mul_(8.0)
                layer.bias.mul_(100.0)
    return exact.ExactSequential(net), exact.to_fixed(torch.randn(1, 6, 7, 9) * 300)


def test_fused_plan_equals_the_layer_by_layer_definition() -> None:
    """Folding the rescale into the weights and moving activations before the floor changes no bit,
    including the clamps at +-ACT_LIMIT and the sign of zeros."""
    clamped = False
    for seed in range(4):
        ex, a = _exact_case(seed)
        fused, reference = ex(a), ex.reference_call(a)
        clamped |= bool(reference.abs().max() == exact.ACT_LIMIT)
        assert torch.equal(fused.view(torch.int64), reference.view(torch.int64))  # bits, so -0.0 != 0.0
    assert clamped  # the clamp is exercised


def test_matrix_evaluation_equals_the_concatenated_input() -> None:
    """The 1x1 networks of the entropy parameters take their inputs as blocks of columns; blocks that are
    left out are zeros (the anchor pass's context)."""
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(9, 16, 1), nn.LeakyReLU(exact.LEAKY_SLOPE), nn.Conv2d(16, 6, 1))
    ex = exact.ExactSequential(net)
    blocks = [exact.to_fixed(torch.randn(c, 50) * 20) for c in (4, 3, 2)]
    whole = torch.cat(blocks)[None, :, :, None]
    assert torch.equal(ex.matrix([(0, blocks[0]), (4, blocks[1]), (7, blocks[2])]), ex(whole)[0, :, :, 0])
    zeroed = torch.cat([blocks[0], torch.zeros_like(blocks[1]), blocks[2]])[None, :, :, None]
    assert torch.equal(ex.matrix([(0, blocks[0]), (7, blocks[2])]), ex(zeroed)[0, :, :, 0])


def test_shipped_networks_fused_equal_their_definition() -> None:
    from sdpic.zoo import load_model

    model = load_model()
    model.prepare_for_coding()
    for ex in model._exact_nets:
        cin = ex.layers[0][1][0].shape[1]
        for scale in (3.0, 1e5):
            a = exact.to_fixed(torch.randn(1, cin, 4, 6, generator=torch.Generator().manual_seed(1)) * scale)
            assert torch.equal(ex(a), ex.reference_call(a))
