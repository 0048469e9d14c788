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


# ------------------------------------------------------------------ transparency and metadata survive
def _sections(data: bytes) -> set[str]:
    return {s.name for s in fmt.unpack(data).sections}


def test_rgba_round_trips_with_bit_exact_alpha() -> None:
    from tests.metadata_helpers import cutout

    rgba = cutout(50, 70)
    data = sdpic.compress(rgba, quality=50)
    out = sdpic.decompress(data)
    assert out.mode == "RGBA" and out.size == (70, 50) and "ALPHA" in _sections(data)
    np.testing.assert_array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    visible = rgba[..., 3] == 255
    err = np.abs(np.asarray(out)[..., :3].astype(int) - rgba[..., :3])[visible]
    assert err.mean() < 12  # the visible colour is coded like any other image's


def test_the_colour_stream_codes_the_filled_colour() -> None:
    """Data flow: the RGB sections are those of the colour with transparent pixels filled; alpha is extra."""
    from sdpic.alpha import encode_plane, fill_transparent
    from tests.metadata_helpers import cutout

    rgba = cutout(40, 40, seed=3)
    with_alpha = fmt.unpack(sdpic.compress(rgba, quality=40))
    colour_only = fmt.unpack(sdpic.compress(fill_transparent(rgba[..., :3], rgba[..., 3]), quality=40))
    assert {s: with_alpha.sections[s] for s in colour_only.sections} == colour_only.sections
    assert with_alpha.sections[fmt.Section.ALPHA] == encode_plane(rgba[..., 3])


def test_fully_opaque_alpha_is_not_stored() -> None:
    rgb = smooth_image(30, 40)
    rgba = Image.fromarray(rgb).convert("RGBA")
    data = sdpic.compress(rgba, quality=50)
    assert data == sdpic.compress(rgb, quality=50)  # the same file, version 1
    assert data[4] == 1 and sdpic.decompress(data).mode == "RGB"


def test_greyscale_with_alpha_comes_back_la() -> None:
    from tests.metadata_helpers import cutout

    plane = cutout(20, 24)[..., 3]
    grey = smooth_image(20, 24)[..., 1]
    image = Image.fromarray(np.dstack([grey, plane]), mode="LA")
    out = sdpic.decompress(sdpic.compress(image, quality=60))
    assert out.mode == "LA"
    np.testing.assert_array_equal(np.asarray(out.getchannel("A")), plane)


def test_palette_with_transparency_comes_back_rgba(tmp_path) -> None:
    img = Image.fromarray(smooth_image(24, 32)).convert("P")
    img.save(tmp_path / "t.png", transparency=img.getpixel((0, 0)))
    src = Image.open(tmp_path / "t.png")
    expected = np.asarray(src.convert("RGBA"))[..., 3]
    assert 0 < (expected == 0).sum() < expected.size
    out = sdpic.decompress(sdpic.compress(tmp_path / "t.png"))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], expected)


@pytest.mark.parametrize("fmt_name", ["PNG", "JPEG"])
def test_icc_exif_and_xmp_come_back_byte_identical(tmp_path, fmt_name: str) -> None:
    from tests.metadata_helpers import display_p3, exif_bytes, xmp_bytes

    path = tmp_path / f"p3.{fmt_name.lower()}"
    params = {"icc_profile": display_p3(), "exif": exif_bytes()}
    if fmt_name == "JPEG":
        params["xmp"] = xmp_bytes()
    else:
        from PIL.PngImagePlugin import PngInfo

        params["pnginfo"] = PngInfo()
        params["pnginfo"].add_itxt("XML:com.adobe.xmp", xmp_bytes().decode())
    Image.fromarray(smooth_image(32, 48)).save(path, **params)
    src = Image.open(path)
    data = sdpic.compress(path, quality=50)
    out = sdpic.decompress(data)
    for key in ("icc_profile", "exif", "xmp"):
        assert out.info[key] == src.info[key], key
    gps = out.getexif().get_ifd(0x8825)
    assert gps[2] == (52.0, 31.0, 12.5) and gps[1] == "N"
    fields = info(data)
    assert fields["icc_description"] == "Display P3" and fields["icc_profile"] == len(display_p3())
    assert fields["exif"] == len(exif_bytes()) - 6 and fields["xmp"] == len(xmp_bytes())
    assert fields["bytes"] == len(data) and fields["format_version"] == 2 and fields["mode"] == "RGB"


def test_orientation_is_applied_and_then_says_1(tmp_path) -> None:
    from sdpic.metadata import EXIF_PREFIX
    from tests.metadata_helpers import exif_bytes, xmp_bytes

    path = tmp_path / "turned.jpg"
    Image.fromarray(smooth_image(20, 36)).save(path, exif=exif_bytes(orientation=6), xmp=xmp_bytes(orientation=6))
    out = sdpic.decompress(sdpic.compress(path))
    assert out.size == (20, 36) and out.getexif()[0x0112] == 1
    assert out.info["exif"] == exif_bytes(orientation=1) and out.info["xmp"] == xmp_bytes(orientation=1)
    assert out.info["exif"][len(EXIF_PREFIX):] != exif_bytes(orientation=6)[len(EXIF_PREFIX):]


def test_strip_metadata_and_strip_icc(tmp_path) -> None:
    from tests.metadata_helpers import display_p3, exif_bytes, xmp_bytes

    path = tmp_path / "tagged.jpg"
    Image.fromarray(smooth_image(16, 16)).save(path, icc_profile=display_p3(), exif=exif_bytes(), xmp=xmp_bytes())
    full = sdpic.compress(path)
    no_meta = sdpic.compress(path, strip_metadata=True)
    assert _sections(no_meta) == _sections(full) - {"EXIF", "XMP"}  # the profile stays unless asked
    assert _sections(sdpic.compress(path, strip_icc=True)) == _sections(full) - {"ICC_PROFILE"}
    bare = sdpic.compress(path, strip_metadata=True, strip_icc=True)
    assert bare[4] == 1 and sdpic.decompress(bare).info == {}


@pytest.mark.parametrize(("key", "value", "match", "strip"), [
    ("exif", b"Exif\x00\x00MM\x00*" + b"\x00" * (16 * 2**20), "limit", "strip_metadata"),
    ("exif", b"not exif at all", "TIFF header", "strip_metadata"),
    ("xmp", b"\xff\xfe<\x00x\x00", "UTF-8", "strip_metadata"),
    ("icc_profile", b"x" * 300, "acsp", "strip_icc"),
])
def test_metadata_that_cannot_be_stored_is_an_error_never_dropped(key: str, value: bytes, match: str,
                                                                   strip: str) -> None:
    img = Image.fromarray(smooth_image(8, 8))
    img.info[key] = value
    with pytest.raises(sdpic.InputImageError, match=match):
        sdpic.compress(img)
    assert sdpic.decompress(sdpic.compress(img, **{strip: True})).size == (8, 8)


def test_a_profile_for_other_data_is_refused() -> None:
    from PIL import ImageCms

    grey_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey_profile = grey_profile[:16] + b"GRAY" + grey_profile[20:]
    img = Image.fromarray(smooth_image(8, 8))
    img.info["icc_profile"] = grey_profile
    with pytest.raises(sdpic.InputImageError, match="ICC profile is for GRAY data but the image is RGB"):
        sdpic.compress(img)


def test_target_bpp_counts_alpha_and_metadata() -> None:
    from tests.metadata_helpers import cutout, display_p3

    img = Image.fromarray(cutout(64, 64, seed=2))
    img.info["icc_profile"] = display_p3()
    target = len(sdpic.compress(img, quality=40)) * 8 / (64 * 64)
    data = sdpic.compress(img, target_bpp=target)
    assert len(data) * 8 / (64 * 64) <= target and {"ALPHA", "ICC_PROFILE"} <= _sections(data)
    assert fmt.unpack(data).quality >= 40
    stripped = sdpic.compress(img, target_bpp=target, strip_icc=True)  # the profile's bytes go to the pixels
    assert fmt.unpack(stripped).quality > fmt.unpack(data).quality
