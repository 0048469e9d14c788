"""The realism decoder's contract: realism map, range checks, and the decoder it starts as."""

from __future__ import annotations

import math

import pytest
import torch

from sdpic.codec.realism import LIFT_SPAN, RealismDecoder, check_realism, realism_map
from sdpic.errors import ParameterError
from sdpic.zoo import load_model


def test_realism_map_is_r_where_nothing_is_lifted_and_falls_to_zero_over_the_lift_span() -> None:
    levels = torch.tensor([[[[20, 19, 20 + LIFT_SPAN / 2, 20 + LIFT_SPAN, 64]]]])
    r = realism_map(levels, base=20, realism=0.8)
    assert r.shape == levels.shape
    assert r.flatten().tolist() == pytest.approx([0.8, 0.8, 0.4, 0.0, 0.0])
    assert torch.equal(realism_map(levels, 20, 0.0), torch.zeros_like(r))


def test_realism_map_takes_a_base_and_a_realism_per_image() -> None:
    levels = torch.full((2, 1, 2, 2), 30.0)
    r = realism_map(levels, torch.tensor([30.0, 26.0]), torch.tensor([1.0, 0.5]))
    assert torch.equal(r[0], torch.ones(1, 2, 2)) and torch.allclose(r[1], torch.full((1, 2, 2), 0.25))


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, "high", None])
def test_realism_outside_the_unit_interval_is_a_typed_error(bad) -> None:
    with pytest.raises(ParameterError, match="realism"):
        check_realism(bad)


def test_a_fresh_realism_decoder_computes_the_base_g_s() -> None:
    base = load_model("sdpic")
    decoder = RealismDecoder.from_base(base)
    y = torch.randn(1, base.config.latent_channels, 4, 6)
    q = torch.rand(1, 1, 4, 6)
    with torch.no_grad():
        expected = base.g_s(y, base.quality_encoder(q))
        for r in (0.0, 1.0):  # the realism encoder starts at zero: no realism effect yet
            assert torch.equal(decoder(y, q, torch.full_like(q, r)), expected)


def test_strip_decoding_with_a_realism_decoder_matches_its_training_graph() -> None:
    base = load_model("sdpic")
    decoder = RealismDecoder.from_base(base)
    with torch.no_grad():  # make the realism encoder matter
        decoder.realism_encoder.net[-1].weight.normal_(0, 0.05)
    q_levels = torch.randint(10, 40, (1, 1, 4, 6))
    y_hat = torch.randn(1, base.config.latent_channels, 4, 6) * 3
    r = realism_map(q_levels, 10, 0.7)
    q = q_levels.float() / 64
    with torch.no_grad():
        expected = decoder(y_hat / base._gain_from_levels(q_levels), q, r)
        strips = base.synthesise(y_hat, q_levels, (decoder, r))
        plain = base.synthesise(y_hat, q_levels)
    scale = float(expected.abs().max())  # float precision of the output's scale (as test_synthesis)
    assert (strips - expected).abs().max() < 1e-4 * scale
    assert (plain - expected).abs().max() > 1e-2 * scale  # the realism decoder, not g_s, ran
