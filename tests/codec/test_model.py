"""The coding graph of the shipped model: latent round trips and real bits vs the model's estimate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sdpic.codec import model as model_module
from sdpic.codec.model import LATENT_STRIDE, LEGACY_LAMBDA_RANGE, ModelConfig, SdpicModel, synthesis_strips
from sdpic.errors import ParameterError
from sdpic.threads import torch_threads
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


def test_config_records_without_lambda_read_as_the_legacy_range() -> None:
    legacy = ModelConfig.from_record(None)
    assert (legacy.lambda_min, legacy.lambda_max) == LEGACY_LAMBDA_RANGE == (0.0015, 0.08)
    assert ModelConfig.from_record({"latent_channels": 160}) == legacy
    today = ModelConfig()
    assert (today.lambda_min, today.lambda_max) == (0.0002, 0.08)
    assert ModelConfig.from_record(today.to_dict()) == today


def test_training_forward_shapes() -> None:
    net = SdpicModel()
    out = net(torch.rand(2, 3, 64, 128), torch.rand(2, 1, 4, 8))
    assert out["x_hat"].shape == (2, 3, 64, 128)
    assert out["y_likelihoods"].shape == (2, net.config.latent_channels, 4, 8)


def test_rate_proxies_differ_only_in_the_likelihoods() -> None:
    """The decoder sees the same straight-through ŷ whatever the proxy; an unknown proxy is a typed error."""
    net = SdpicModel()
    y = torch.randn(1, net.config.latent_channels, 4, 8) * 3
    q = torch.full((1, 1, 4, 8), 0.5)
    q_features = net.quality_encoder(q)
    outs = {p: net.forward_latents(y, q, q_features, rate_proxy=p) for p in ("noise", "round", "continuous")}
    assert all(torch.equal(o["x_hat"], outs["round"]["x_hat"]) for o in outs.values())
    assert not torch.equal(outs["round"]["y_likelihoods"], outs["continuous"]["y_likelihoods"])
    with pytest.raises(ParameterError, match="rate proxy"):
        net.forward_latents(y, q, q_features, rate_proxy="gumbel")  # type: ignore[arg-type]


def test_real_bits_track_the_estimated_bits(model: SdpicModel) -> None:
    """Coding overhead: the file's latent bits are close to the model's float estimate at the same
    rounded values (the exact integer parameter path and the 64-scale table cost a little)."""
    x = _padded(smooth_image(256, 256, seed=3))
    q = torch.full((1, 1, 16, 16), 40)
    with torch.no_grad():
        y = model.analyse(x, q)
        coded, _y_hat = model.compress_latents(y, q)
        # Estimate with the float graph, on the exact quantised latents.
        out = model.forward(x, q.float() / 64, rate_proxy="round")
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
    outputs = []
    for threads in (1, 2):
        with torch_threads(threads):
            outputs.append(model.synthesise(y_hat, q))
    with torch_threads(1), torch.no_grad():
        whole = model.g_s(y_hat / model._gain_from_levels(q), model.quality_encoder(q.float() / 64))
    assert torch.equal(outputs[0], outputs[1])
    assert outputs[0].shape == whole.shape
    # Strips and the whole image may pick different convolution algorithms (float reassociation), so the
    # bound scales with the output: random latents drive g_s far outside [0, 1].
    scale = max(1.0, whole.abs().max().item())
    assert (outputs[0] - whole).abs().max().item() <= 1e-5 * scale


# ---------------------------------------------------------------- encoder strips, coding chunks, overhead
# (bounded memory at 24 MP, thread-independent symbols, real bits vs the model's estimate)

@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 3), (40, 48), (33, 200), (252, 376)])
def test_analysis_strips_tile_the_rows(height: int, width: int) -> None:
    strips = model_module.analysis_strips(height, width)
    assert strips[0][0] == 0 and strips[-1][1] == height
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(strips))


def test_strip_analysis_matches_whole_image_and_ignores_thread_count(
        model: SdpicModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """g_a on strips with a 2-latent-row halo gives the whole-image latents (to float precision; the
    halo covers g_a's 30-pixel receptive field), and the same bits with 1 and 2 threads."""
    monkeypatch.setattr(model_module, "ANALYSIS_STRIP_LATENTS", 8)
    monkeypatch.setattr(model_module, "MIN_STRIP_ROWS", 3)
    x = _padded(smooth_image(11 * LATENT_STRIDE, 5 * LATENT_STRIDE, seed=4))
    q = torch.randint(0, 65, (1, 1, 11, 5), generator=torch.Generator().manual_seed(4))
    assert len(model_module.analysis_strips(11, 5)) == 4
    outputs = []
    for threads in (1, 2):
        with torch_threads(threads):
            outputs.append(model.analyse(x, q))
    with torch_threads(1), torch.no_grad():
        qf = q.float() / 64
        q_pixels = qf.repeat_interleave(LATENT_STRIDE, 2).repeat_interleave(LATENT_STRIDE, 3)
        whole = model.g_a(x, q_pixels, model.quality_encoder(qf)) * model._gain_from_levels(q)
    assert torch.equal(outputs[0], outputs[1])
    assert outputs[0].shape == whole.shape
    # latents reach ~30 here: float32 sums in another order differ by a few 1e-5 (3.4e-5 measured)
    assert torch.allclose(outputs[0], whole, rtol=1e-5, atol=1e-4)


def test_analysis_halo_is_needed(model: SdpicModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the halo the strip borders differ from the whole image: the halo test above can fail."""
    monkeypatch.setattr(model_module, "ANALYSIS_STRIP_LATENTS", 8)
    monkeypatch.setattr(model_module, "MIN_STRIP_ROWS", 3)
    x = _padded(smooth_image(11 * LATENT_STRIDE, 5 * LATENT_STRIDE, seed=4))
    q = torch.full((1, 1, 11, 5), 40)
    with_halo = model.analyse(x, q)
    monkeypatch.setattr(model_module, "ANALYSIS_HALO", 0)
    assert not torch.allclose(model.analyse(x, q), with_halo, rtol=1e-3, atol=1e-3)


def test_coding_chunks_change_no_bit(model: SdpicModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact context / parameter networks run in chunks of positions; any chunk size gives the same
    stream and the same ŷ (integer arithmetic), including chunks that split rows."""
    x = _padded(smooth_image(128, 192, seed=5))
    q = torch.randint(0, 65, (1, 1, 8, 12), generator=torch.Generator().manual_seed(5))
    y = model.analyse(x, q)
    reference, y_hat = model.compress_latents(y, q)
    monkeypatch.setattr(model_module, "CODING_CHUNK", 7)
    coded, y_hat_chunked = model.compress_latents(y, q)
    assert coded == reference and torch.equal(y_hat_chunked, y_hat)
    assert torch.equal(model.decompress_latents(reference, q), y_hat)


# Fixed cost of a stream beyond its information content: the two u32 length prefixes of the latent
# section and, for each of the three ANS streams (z, anchors, the rest), up to 64 bits of final coder
# state flushed as whole 32-bit words. Relative cost (the 64-scale table, 16-bit frequencies, exact
# integer parameters vs the float graph) is bounded by 1%.
FIXED_OVERHEAD_BITS = 2 * 32 + 3 * 64
RELATIVE_OVERHEAD = 0.01


def _overhead_bound(estimate: float) -> float:
    return RELATIVE_OVERHEAD * estimate + FIXED_OVERHEAD_BITS


def _real_and_estimated_bits(model: SdpicModel, img: np.ndarray, level: int) -> tuple[int, float]:
    ph, pw = (-img.shape[0]) % 64, (-img.shape[1]) % 64
    x = torch.nn.functional.pad(_padded(np.array(img)), (0, pw, 0, ph), mode="replicate")  # writable copy
    q = torch.full((1, 1, x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE), level)
    with torch.no_grad():
        coded, _ = model.compress_latents(model.analyse(x, q), q)
        out = model.forward(x, q.float() / 64, rate_proxy="round")
    real = 8 * (len(coded.y_bytes) + len(coded.z_bytes) + len(coded.escapes))
    estimate = float(-torch.log2(out["y_likelihoods"]).sum() - torch.log2(out["z_likelihoods"]).sum())
    return real, estimate


@pytest.mark.parametrize("level", [10, 40, 60])
def test_coding_overhead_is_within_one_percent_plus_stream_flush(model: SdpicModel, level: int) -> None:
    """Measured on this model: +0.0% to +1.9% at 256x256 (the fixed flush cost dominates small files)."""
    real, estimate = _real_and_estimated_bits(model, smooth_image(256, 256, seed=3), level)
    assert abs(real - estimate) <= _overhead_bound(estimate)


def test_coding_overhead_on_real_photos_is_within_one_percent_plus_stream_flush(model: SdpicModel, kodak_dir) -> None:
    """Real photos, 384x384 crops to keep the suite fast, with the same bound as above: at level 10 a crop
    is a ~19 kbit file, where the fixed flush is a visible share. Measurements per shipped weights are in
    results/codec/README.md (coding overhead)."""
    from sdpic.image_io import load_image

    for name, level in (("kodim01.png", 10), ("kodim19.png", 54)):
        real, estimate = _real_and_estimated_bits(model, load_image(kodak_dir / name).rgb[64:448, 64:448], level)
        assert abs(real - estimate) <= _overhead_bound(estimate), (name, level, real, estimate)


def test_absurd_latents_are_clamped_so_the_stream_still_decodes(model: SdpicModel) -> None:
    """Latents beyond the int32 escape field (impossible from real pixels) are clamped to LATENT_LIMIT
    rather than written as a stream the decoder rejects."""
    x = _padded(smooth_image(64, 64, seed=6))
    q = torch.full((1, 1, 4, 4), 32)
    y = model.analyse(x, q)
    for value in (2.0**31, -(2.0**40), float("inf")):
        y_bad = y.clone()
        y_bad[0, :, 1, 1] = value
        coded, y_hat = model.compress_latents(y_bad, q)
        assert torch.equal(model.decompress_latents(coded, q), y_hat)
        assert y_hat.abs().max() <= model_module.LATENT_LIMIT + 1024


def test_decoder_rejects_escapes_beyond_the_limit(model: SdpicModel) -> None:
    from dataclasses import replace

    from sdpic.errors import FormatError

    x = _padded(smooth_image(64, 64, seed=6))
    q = torch.full((1, 1, 4, 4), 32)
    y = model.analyse(x, q)
    y[0, :, 1, 1] = 1e4  # escapes, within the limit
    coded, _ = model.compress_latents(y, q)
    escapes = np.frombuffer(coded.escapes, dtype=">i4").copy()
    assert len(escapes) and np.abs(escapes).max() <= model_module.ESCAPE_LIMIT
    escapes[0] = model_module.ESCAPE_LIMIT + 1
    with pytest.raises(FormatError, match="escaped value"):
        model.decompress_latents(replace(coded, escapes=escapes.astype(">i4").tobytes()), q)


def test_short_streams_for_a_large_grid_fail_before_decoding(model: SdpicModel) -> None:
    """A stream whose header claims more latents than its bytes can hold is rejected up front, so a tiny
    file cannot buy a full-size decode; real streams are far above the bound."""
    from dataclasses import replace

    from sdpic.errors import FormatError

    x = _padded(smooth_image(128, 128, seed=7))
    q = torch.full((1, 1, 8, 8), 32)
    coded, _ = model.compress_latents(model.analyse(x, q), q)
    model._require_prepared()
    z_bound = 4 * float(model._z_min_bits.sum())  # 2x2 z positions
    assert 8 * len(coded.z_bytes) > 1.2 * z_bound
    big = torch.full((1, 1, 1024, 1024), 32)
    with pytest.raises(FormatError, match="hyper-latent stream"):
        model.decompress_latents(replace(coded, latent_height=1024, latent_width=1024), big)


# ---------------------------------------------------------------- the checkerboard passes' strided layout

def test_checkerboard_split_keeps_the_coding_order_and_joins_back() -> None:
    """The passes' positions in the strided layout are the anchor mask's positions in row-major order
    (the order streams have always been coded in), and join inverts split."""
    from sdpic.codec.transforms import anchor_mask

    h, w = 6, 8
    t = torch.arange(3 * h * w, dtype=torch.float64).reshape(3, h, w)
    anchors, others = model_module.checkerboard_split(t)
    flat = anchor_mask(h, w).flatten().bool()
    assert torch.equal(anchors.reshape(3, -1), t.reshape(3, -1)[:, flat])
    assert torch.equal(others.reshape(3, -1), t.reshape(3, -1)[:, ~flat])
    assert torch.equal(model_module.checkerboard_join([anchors, others], torch.float64), t)


@pytest.mark.parametrize(("r0", "r1"), [(0, 6), (1, 4), (3, 6)])
def test_checkerboard_neighbours_are_the_context_networks_input(r0: int, r1: int) -> None:
    """The four anchor neighbours of the non-anchors, read from the strided anchors, equal
    transforms.four_neighbours of the anchor-only map (the training graph's context input)."""
    from sdpic.codec.transforms import anchor_mask, four_neighbours

    h, w, m = 6, 8, 2
    y = torch.randn(1, m, h, w, dtype=torch.float64) * anchor_mask(h, w).double()
    anchors, _ = model_module.checkerboard_split(y[0])
    parts = model_module._checkerboard_neighbours(torch.nn.functional.pad(anchors, (1, 1, 1, 1)), r0, r1)
    reference = model_module.checkerboard_split(four_neighbours(y)[0])[1][:, r0:r1].reshape(4 * m, -1)
    assert torch.equal(torch.cat(parts), reference)


def test_odd_latent_grids_are_refused(model: SdpicModel) -> None:
    """Latent grids come from padded images (multiples of 4); the strided passes rely on even sides."""
    with pytest.raises(ParameterError, match="even"):
        model.compress_latents(torch.zeros(1, model.config.latent_channels, 5, 4), torch.full((1, 1, 5, 4), 32))
