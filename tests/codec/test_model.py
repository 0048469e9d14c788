"""The coding graph of the shipped model: latent round trips and real bits vs the model's estimate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sdpic.codec import model as model_module
from sdpic.codec.model import LATENT_STRIDE, SdpicModel, synthesis_strips
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


@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 3), (40, 48), (33, 200)])
def test_synthesis_strips_tile_the_rows(height: int, width: int) -> None:
    strips = synthesis_strips(height, width)
    assert strips[0][0] == 0 and strips[-1][1] == height
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(strips))


def test_strip_synthesis_matches_whole_image_and_ignores_thread_count(
        model: SdpicModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips with their halo reproduce g_s on the whole image, and the pixels are bit-identical
    with 1 and 2 threads (docs/determinism.md)."""
    monkeypatch.setattr(model_module, "STRIP_LATENTS", 8)
    monkeypatch.setattr(model_module, "MIN_STRIP_ROWS", 3)
    gen = torch.Generator().manual_seed(3)
    y_hat = torch.randn(1, model.config.latent_channels, 11, 5, generator=gen).mul(3).round()
    q = torch.randint(0, 65, (1, 1, 11, 5), generator=gen)
    assert len(model_module.synthesis_strips(11, 5)) == 4
    previous = torch.get_num_threads()
    try:
        outputs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outputs.append(model.synthesise(y_hat, q))
        torch.set_num_threads(1)
        with torch.no_grad():
            whole = model.g_s(y_hat / model._gain_from_levels(q), model.quality_encoder(q.float() / 64))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(outputs[0], outputs[1])
    assert outputs[0].shape == whole.shape
    assert torch.allclose(outputs[0], whole, atol=1e-5)
