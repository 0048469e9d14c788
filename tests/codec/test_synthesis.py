"""The decoder's and encoder's strip transforms (synthesis.py, analysis.py) against the training graph.

They compute the same function as ``SynthesisTransform`` / ``AnalysisTransform`` in another layout
(channels-last, sub-pixel-major channels, halos trimmed per level, fused ops), so they agree to float
precision; thread count never changes their bits (docs/determinism.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdpic.codec import model as model_module
from sdpic.codec.analysis import StripAnalysis
from sdpic.codec.model import LATENT_STRIDE, SdpicModel
from sdpic.codec.synthesis import StripSynthesis, pixels_hwc, to_uint8
from sdpic.threads import torch_threads
from tests.conftest import smooth_image


@pytest.fixture(scope="module")
def net() -> SdpicModel:
    """A random model whose quality modulation and GDN are far from identity (the fresh init is not)."""
    torch.manual_seed(7)
    model = SdpicModel()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "to_affine" in name:
                p.normal_(0.0, 0.2)
            elif "gamma_sqrt" in name:
                p.add_(torch.rand_like(p) * 0.05)
                p[0, 1] = 1e-22  # squares to a subnormal float: flushed by the strip transforms
    return model.eval()


def _latents(net: SdpicModel, h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randn(1, net.config.latent_channels, h, w, generator=gen) * 2
    q = torch.randint(0, 65, (1, 1, h, w), generator=gen)
    return y, q


@pytest.mark.parametrize(("strips", "h", "w"), [([(0, 9)], 9, 5), ([(0, 3), (3, 6), (6, 9)], 9, 5),
                                                ([(0, 1), (1, 2), (2, 7)], 7, 3)])
def test_strips_reproduce_the_training_graphs_synthesis(net: SdpicModel, strips, h: int, w: int) -> None:
    """Strips (at the image border, inside, one latent row high) with their trimmed halos give g_s of the
    whole image to float precision."""
    y, q = _latents(net, h, w, seed=h * w)
    qf = net.quality_encoder(q.float() / 64)
    syn = StripSynthesis(net.g_s)
    with torch.no_grad(), torch_threads(1):
        whole = net.g_s(y, qf)[0].permute(1, 2, 0)
        for top, bottom in strips:
            part = pixels_hwc(syn.strip(y, qf, top, bottom, model_module.SYNTHESIS_HALO))
            expected = whole[top * LATENT_STRIDE:bottom * LATENT_STRIDE]
            assert part.shape == expected.shape
            scale = max(1.0, expected.abs().max().item())
            assert (part - expected).abs().max().item() <= 2e-5 * scale


def test_uint8_rows_are_the_decoded_pixels_of_the_float_rows(net: SdpicModel) -> None:
    from sdpic.api import decoded_pixels

    y, q = _latents(net, 4, 6, seed=3)
    with torch.no_grad():
        x_hat = net.synthesise(y * 0.1, q)  # in range: most pixels are neither 0 nor 255
        pixels = net.synthesise_pixels(y * 0.1, q, 61, 90)  # cropped, odd sizes
    assert np.array_equal(pixels, decoded_pixels(x_hat, 61, 90))
    syn = net._require_synthesis()
    out = syn.strip(y * 0.1, net.quality_encoder(q.float() / 64), 0, 4, 2)
    target = np.zeros((64, 96, 3), dtype=np.uint8)
    to_uint8(out.clone(), target)
    assert np.array_equal(target, decoded_pixels(pixels_hwc(out).permute(2, 0, 1)[None], 64, 96))


def test_subnormal_gdn_weights_change_no_bit(net: SdpicModel) -> None:
    """Flushing subnormal GDN weights (a speed fix) leaves the sums of normal numbers unchanged."""
    gdn = net.g_s.igdns[0]
    x = torch.randn(1, gdn.beta_sqrt.numel(), 5, 5).abs() + 0.1
    flushed = gdn.gamma_sqrt.detach().square()
    flushed[flushed.abs() < torch.finfo(torch.float32).tiny] = 0
    assert (gdn.gamma_sqrt.detach().square() != flushed).any()
    with torch.no_grad():
        reference = gdn(x)
        norm = torch.nn.functional.conv2d(x.abs(), flushed, gdn.beta_sqrt.square() + 1e-6)
    assert torch.equal(reference, x * norm)


@pytest.mark.parametrize(("strips", "h"), [([(0, 7)], 7), ([(0, 2), (2, 5), (5, 7)], 7)])
def test_strips_reproduce_the_training_graphs_analysis(net: SdpicModel, strips, h: int) -> None:
    w = 3
    x = torch.from_numpy(smooth_image(h * LATENT_STRIDE, w * LATENT_STRIDE, seed=h)).permute(2, 0, 1)[None] / 255.0
    q = torch.randint(0, 65, (1, 1, h, w), generator=torch.Generator().manual_seed(h)).float() / 64
    qf = net.quality_encoder(q)
    ana = StripAnalysis(net.g_a)
    with torch.no_grad(), torch_threads(1):
        q_pixels = q.repeat_interleave(LATENT_STRIDE, 2).repeat_interleave(LATENT_STRIDE, 3)
        whole = net.g_a(x, q_pixels, qf)[0].permute(1, 2, 0)
        for top, bottom in strips:
            part = ana.strip(x, q, qf, top, bottom, model_module.ANALYSIS_HALO)
            assert torch.allclose(part, whole[top:bottom], rtol=1e-5, atol=1e-5)


def test_synthesis_pixels_ignore_thread_count(net: SdpicModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "STRIP_LATENTS", 8)
    monkeypatch.setattr(model_module, "MIN_STRIP_ROWS", 2)
    y, q = _latents(net, 10, 4, seed=9)
    outputs = []
    for threads in (1, 2, 3):
        with torch_threads(threads):
            outputs.append(net.synthesise_pixels(y * 0.1, q, 150, 60))
    assert all(np.array_equal(o, outputs[0]) for o in outputs)


def test_prepared_transforms_follow_the_weights() -> None:
    """synthesise / analyse use frozen copies of g_s / g_a; loading other weights (or a training step)
    rebuilds them, as the live modules would compute."""
    from sdpic.zoo import load_model

    fresh = SdpicModel().eval()
    y, q = torch.randn(1, fresh.config.latent_channels, 4, 4), torch.full((1, 1, 4, 4), 32)
    x = torch.rand(1, 3, 64, 64)
    before = fresh.synthesise(y, q), fresh.analyse(x, q)
    shipped = load_model()
    fresh.load_state_dict(shipped.state_dict())
    after = fresh.synthesise(y, q), fresh.analyse(x, q)
    assert not torch.equal(before[0], after[0]) and not torch.equal(before[1], after[1])
    assert torch.equal(after[0], shipped.synthesise(y, q)) and torch.equal(after[1], shipped.analyse(x, q))
