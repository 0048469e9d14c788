"""Every codec wrapper round-trips a small image (odd sizes included) and says which library ran it."""

from __future__ import annotations

import numpy as np
import pytest

from sdpic.bench.codecs import BASELINES, resolve_codecs
from sdpic.bench.codecs.vvc import rgb_to_yuv420_10bit, yuv420_10bit_to_rgb
from sdpic.bench.metrics import psnr
from sdpic.errors import ParameterError

from .conftest import smooth_image


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("shape", [(48, 64), (29, 37)])
def test_round_trip(name: str, shape: tuple[int, int]) -> None:
    codec = BASELINES[name](threads=2)
    avail = codec.is_available()
    if not avail:
        pytest.skip(f"{name}: {avail.reason}")
    rgb = smooth_image(*shape)
    setting = codec.settings[-1]  # the highest-quality point of the sweep
    data = codec.encode(rgb, codec.normalise_setting(setting))
    assert isinstance(data, bytes) and len(data) > 0
    out = codec.decode(data)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr(rgb, out) > 27.0, f"{name} round trip is too lossy at its best setting"
    assert codec.version() and not codec.version().startswith("unavailable")


@pytest.mark.parametrize("name", list(BASELINES))
def test_sweep_is_ordered_from_fewest_to_most_bits(name: str) -> None:
    codec = BASELINES[name]()
    s = list(codec.settings)
    assert 6 <= len(s) <= 8
    assert s == (sorted(s) if codec.higher_is_more_bits else sorted(s, reverse=True))
    lo, hi = codec.setting_range
    assert all(lo <= v <= hi for v in s)


def test_own_yuv_conversion_is_nearly_lossless() -> None:
    rgb = smooth_image(64, 96)
    back = yuv420_10bit_to_rgb(*rgb_to_yuv420_10bit(rgb))
    assert psnr(rgb, back) > 30.0  # only chroma subsampling loses anything
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    assert psnr(grey, yuv420_10bit_to_rgb(*rgb_to_yuv420_10bit(grey))) > 48.0  # no chroma: 10-bit luma only


def test_unknown_codec_is_an_error_and_sdpic_is_never_dropped() -> None:
    with pytest.raises(ParameterError):
        resolve_codecs(["nope"])
    names = [c.name for c in resolve_codecs(None)]
    assert all(b in names for b in BASELINES)
    assert any(n.startswith("sdpic") for n in names)  # present, runnable or reported as skipped


def test_sdpic_cache_key_changes_with_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """New weights for a shipped model must never be served streams encoded with the old ones."""
    import sdpic.api  # noqa: F401  (imported before the patch, or it would keep the fake hash for good)
    from sdpic import zoo
    from sdpic.bench.codecs.sdpic_codec import SdpicCodec

    models = zoo.list_models()
    if not models:
        pytest.skip("no shipped sdpic model")
    codec = SdpicCodec(model=models[0])
    before = codec.key()
    assert zoo.weights_hash(zoo.entry_by_name(models[0]).path).hex() in before
    monkeypatch.setattr(zoo, "weights_hash", lambda path: b"\x01" * 8)
    after = codec.key()
    assert after != before and "0101010101010101" in after


def test_sdpic_without_weights_hash_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import sdpic.api  # noqa: F401  (imported before the patch, or it would keep the broken hash for good)
    from sdpic import zoo
    from sdpic.bench.codecs.sdpic_codec import SdpicCodec

    def broken(path: object) -> bytes:
        raise OSError("weights file unreadable")

    monkeypatch.setattr(zoo, "weights_hash", broken)
    avail = SdpicCodec(model="sdpic-mse").is_available()
    assert not avail and "weights" in avail.reason


def test_sdpic_roi_strength_reaches_the_encoder_the_cache_key_and_the_record() -> None:
    """A stream coded at another ROI strength is another stream: other key, other bytes."""
    from sdpic.bench.codecs import SdpicOptions, resolve_codecs
    from sdpic.quality_map import DEFAULT_ROI_STRENGTH
    from tests.conftest import smooth_image

    default, = resolve_codecs(["sdpic-mse"], threads=1, sdpic=SdpicOptions("auto"))
    strong, = resolve_codecs(["sdpic-mse"], threads=1, sdpic=SdpicOptions("auto", roi_strength=1.0))
    same, = resolve_codecs(["sdpic-mse"], threads=1, sdpic=SdpicOptions("auto", DEFAULT_ROI_STRENGTH))
    if not default.is_available():
        pytest.skip(default.is_available().reason)
    assert len({default.key(), strong.key(), same.key()}) == 3  # the default's key is the historical one
    assert default.key().endswith("model=sdpic-mse,saliency=auto")
    assert default.record() == same.record() == {"saliency": "auto", "roi_strength": DEFAULT_ROI_STRENGTH,
                                               "realism": 0.0}
    assert strong.record()["roi_strength"] == 1.0
    rgb = smooth_image(64, 96)
    assert default.encode(rgb, 50) == same.encode(rgb, 50) != strong.encode(rgb, 50)


def test_each_sdpic_model_is_measured_in_its_own_saliency_mode_unless_one_is_given() -> None:
    """The perceptual model is saliency-driven (auto); the MSE model serves PSNR (none, sdpic compress's
    default). An explicit mode applies to every model; the mode is in the cache key and the record."""
    from sdpic.bench.codecs import SdpicCodec, SdpicOptions

    own = {m: SdpicCodec(model=m, options=SdpicOptions()) for m in ("sdpic", "sdpic-mse")}
    assert own["sdpic"].config == "model=sdpic,saliency=auto"  # the historical key: cached streams stay valid
    assert own["sdpic-mse"].config == "model=sdpic-mse,saliency=none"
    assert own["sdpic"].record()["saliency"] == "auto" and own["sdpic-mse"].record()["saliency"] == "none"
    forced = SdpicCodec(model="sdpic-mse", options=SdpicOptions(saliency="auto"))
    assert forced.config == "model=sdpic-mse,saliency=auto" and forced.record()["saliency"] == "auto"


@pytest.mark.parametrize("options", [{"roi_strength": 1.5}, {"roi_strength": -0.1}, {"saliency": "center"}])
def test_sdpic_options_out_of_range_are_parameter_errors(options: dict) -> None:
    from sdpic.bench.codecs import SdpicOptions
    from sdpic.errors import ParameterError

    with pytest.raises(ParameterError):
        SdpicOptions(**options)


def test_the_bench_codes_pixels_only_so_metadata_never_counts(tmp_path) -> None:
    """The rate-distortion tables stay comparable: the bench codes the pixels ``process_image`` loads (an
    array, composited over white), so a tagged transparent source adds no alpha or metadata bytes."""
    from PIL import Image

    from sdpic import format as fmt
    from sdpic.bench.codecs import get_codec
    from sdpic.image_io import load_image
    from tests.metadata_helpers import cutout, display_p3, exif_bytes

    path = tmp_path / "tagged.png"
    Image.fromarray(cutout(32, 48)).save(path, icc_profile=display_p3(), exif=exif_bytes())
    rgb = load_image(path).rgb  # what sdpic.bench.rd.process_image codes
    codec = get_codec("sdpic")
    if not codec.is_available():
        pytest.skip("sdpic codec unavailable")
    data = codec.encode(rgb, 50)
    assert data[4] == 1 and not fmt.VERSION_2_SECTIONS & fmt.unpack(data).sections.keys()
