"""The public API: round trips on odd sizes and kinds, typed errors, target bitrate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import sdpic
from sdpic import format as fmt
from sdpic.api import info, stream_sections
from sdpic.codec.model import CodedLatents
from sdpic.quality_map import decode_levels
from sdpic.zoo import REGISTRY, UNREGISTERED_MODEL_ID
from tests.conftest import smooth_image


@pytest.mark.parametrize(("height", "width"), [(1, 1), (65, 257), (512, 768)])
def test_round_trip_on_odd_sizes(height: int, width: int) -> None:
    img = smooth_image(height, width)
    data = sdpic.compress(img, quality=60)
    out = sdpic.decompress(data)
    assert out.size == (width, height) and out.mode == "RGB"
    assert info(data)["bytes"] == len(data)


def test_greyscale_comes_back_greyscale() -> None:
    out = sdpic.decompress(sdpic.compress(smooth_image(40, 30)[..., 0]))
    assert out.mode == "L" and out.size == (30, 40)


def test_quality_orders_rate() -> None:
    img = smooth_image(128, 128, seed=5)
    sizes = [len(sdpic.compress(img, quality=q)) for q in (5, 50, 95)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_roi_mask_spends_more_bits_inside_the_region() -> None:
    from sdpic.api import encode

    img = smooth_image(128, 128, seed=6)
    mask = np.zeros((128, 128), np.float32)
    mask[:64, :64] = 1.0
    result = encode(img, quality=40, saliency=mask)
    assert result.levels[:4, :4].mean() > result.levels[4:, 4:].mean()


def test_target_bpp_is_met() -> None:
    img = smooth_image(128, 128, seed=7)
    data = sdpic.compress(img, target_bpp=1.0)
    assert len(data) * 8 / (128 * 128) <= 1.0


def test_errors_are_typed() -> None:
    with pytest.raises(sdpic.FormatError):
        sdpic.decompress(b"garbage!")
    with pytest.raises(sdpic.ParameterError):
        sdpic.compress(smooth_image(8, 8), quality=150)
    with pytest.raises(sdpic.UnknownModelError):
        sdpic.compress(smooth_image(8, 8), model="nope")
    with pytest.raises(sdpic.InputImageError):
        sdpic.compress("/nonexistent.png")
    assert issubclass(sdpic.FormatError, sdpic.SdpicError)


def test_a_stream_from_weights_outside_the_zoo_is_refused() -> None:
    assert UNREGISTERED_MODEL_ID not in {entry.model_id for entry in REGISTRY.values()}
    container = fmt.unpack(sdpic.compress(smooth_image(16, 16)))
    unregistered = fmt.pack(replace(container, model_id=UNREGISTERED_MODEL_ID))
    with pytest.raises(sdpic.ModelMismatchError):
        sdpic.decompress(unregistered)


def test_pil_input() -> None:
    img = Image.fromarray(smooth_image(20, 20))
    assert sdpic.decompress(sdpic.compress(img)).size == (20, 20)


def test_the_quality_map_is_stored_only_where_it_is_not_uniform() -> None:
    coded = CodedLatents(b"z", b"y", b"e", 2, 3)
    uniform = np.full((2, 3), 40, dtype=np.int64)
    assert set(stream_sections(coded, uniform, 40)) == {fmt.Section.HYPER_LATENTS, fmt.Section.LATENTS,
                                                         fmt.Section.ESCAPES}
    varied = uniform.copy()
    varied[0, 0] = 50
    sections = stream_sections(coded, varied, 40)
    assert decode_levels(sections[fmt.Section.QUALITY_MAP], 2, 3, 40).tolist() == varied.tolist()


@pytest.fixture
def realism_decoder(tmp_path, monkeypatch):
    """The sdpic model given a realism decoder (the base g_s with a perturbed realism encoder) and a default
    realism of 0.5, as a shipped one would be."""
    import torch

    from sdpic import zoo
    from sdpic.codec.realism import RealismDecoder

    decoder = RealismDecoder.from_base(zoo.load_model("sdpic"))
    with torch.no_grad():
        torch.manual_seed(0)
        decoder.realism_encoder.net[-1].weight.normal_(0, 0.5)
    path = tmp_path / "realism.safetensors"
    zoo.save_realism_file(decoder, path, zoo.REGISTRY["sdpic"].path)
    monkeypatch.setitem(zoo.REGISTRY, "sdpic", replace(zoo.REGISTRY["sdpic"], realism_filename=str(path),
                                                      default_realism=0.5))
    monkeypatch.setattr(zoo, "_realism", {})
    return path


def test_realism_zero_is_the_models_own_decoder_and_the_default_realism_is_the_models(realism_decoder) -> None:
    import torch

    from sdpic.api import decode_latents

    img = smooth_image(64, 96, seed=3)
    data = sdpic.compress(img, quality=30)
    container = fmt.unpack(data)
    net, y_hat, q_levels = decode_latents(container)
    with torch.inference_mode():
        g_s = net.synthesise_pixels(y_hat, q_levels, 64, 96)
    assert np.array_equal(np.asarray(sdpic.decompress(data, realism=0)), g_s)
    default, half = np.asarray(sdpic.decompress(data)), np.asarray(sdpic.decompress(data, realism=0.5))
    assert np.array_equal(default, half) and not np.array_equal(default, g_s)
    assert not np.array_equal(np.asarray(sdpic.decompress(data, realism=1)), half)


def test_realism_errors_are_typed(realism_decoder) -> None:
    data = sdpic.compress(smooth_image(32, 32), quality=30)
    for bad in (-0.5, 1.5, float("nan")):
        with pytest.raises(sdpic.ParameterError, match="realism"):
            sdpic.decompress(data, realism=bad)
    mse = sdpic.compress(smooth_image(32, 32), quality=30, model="sdpic-mse")
    with pytest.raises(sdpic.ParameterError, match="no realism decoder"):
        sdpic.decompress(mse, realism=0.5)
    assert sdpic.decompress(mse).size == (32, 32)  # its default: realism 0


def test_a_realism_decoder_for_other_base_weights_is_refused(tmp_path) -> None:
    from sdpic import zoo
    from sdpic.codec.realism import RealismDecoder

    path = tmp_path / "for-mse.safetensors"
    zoo.save_realism_file(RealismDecoder.from_base(zoo.load_model("sdpic-mse")), path, zoo.REGISTRY["sdpic-mse"].path)
    with pytest.raises(sdpic.ModelMismatchError, match="base weights"):
        zoo.load_realism_file(path, zoo.REGISTRY["sdpic"].path)
