"""The coding graph of the shipped model: latent round trips and real bits vs the model's estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdpic.codec.model import LATENT_STRIDE, SdpicModel
from sdpic.zoo import load_model
from tests.conftest import smooth_image


@pytest.fixture(scope="module")
def model() -> SdpicModel:
    return load_model()


def _padded(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def test_latents_round_trip_bit_exactly(model: SdpicModel) -> None:
    x = _padded(smooth_image(128, 192))
    q = torch.randint(0, 65, (1, 1, 128 // LATENT_STRIDE, 192 // LATENT_STRIDE))
    y = model.analyse(x, q)
    coded, y_hat = model.compress_latents(y, q)
    assert torch.equal(model.decompress_latents(coded, q), y_hat)


def test_training_forward_shapes() -> None:
    net = SdpicModel()
    out = net(torch.rand(2, 3, 64, 128), torch.rand(2, 1, 4, 8))
    assert out["x_hat"].shape == (2, 3, 64, 128)
    assert out["y_likelihoods"].shape == (2, net.config.latent_channels, 4, 8)


def test_real_bits_track_the_estimated_bits(model: SdpicModel) -> None:
    """Coding overhead: the file's latent bits are close to the model's float estimate at the same
    rounded values (the exact integer parameter path and the 64-scale table cost a little)."""
    x = _padded(smooth_image(256, 256, seed=3))
    q = torch.full((1, 1, 16, 16), 40)
    with torch.no_grad():
        y = model.analyse(x, q)
        coded, _y_hat = model.compress_latents(y, q)
        # Estimate with the float graph, on the exact quantised latents.
        out = model.forward(x, q.float() / 64, rate_by_rounding=True)
    real_bits = 8 * (len(coded.y_bytes) + len(coded.z_bytes))
    estimate = float(-torch.log2(out["y_likelihoods"]).sum() - torch.log2(out["z_likelihoods"]).sum())
    assert real_bits == pytest.approx(estimate, rel=0.05)
