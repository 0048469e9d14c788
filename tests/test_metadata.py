"""Metadata: read from what Pillow opens, canonical forms, limits, orientation rewritten in place, written out."""

from __future__ import annotations

import pytest
from PIL import Image, ImageCms

from sdpic import metadata
from sdpic.errors import FormatError, InputImageError
from sdpic.metadata import EXIF_PREFIX, Metadata
from tests.metadata_helpers import display_p3, exif_bytes, reopened, xmp_bytes


@pytest.fixture
def tagged() -> Image.Image:
    return Image.new("RGB", (6, 4), (10, 120, 200))


def test_the_display_p3_profile_is_a_real_profile() -> None:
    import io

    profile = ImageCms.ImageCmsProfile(io.BytesIO(display_p3()))
    assert ImageCms.getProfileDescription(profile).strip() == "Display P3"
    assert metadata.icc_colour_space(display_p3()) == "RGB"
    assert metadata.icc_description(display_p3()) == "Display P3"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_read_gives_the_canonical_forms_of_what_pillow_reads(tagged: Image.Image, fmt: str) -> None:
    img = reopened(tagged, fmt, icc_profile=display_p3(), exif=exif_bytes(), xmp=xmp_bytes())
    meta = metadata.read(img)
    assert meta.icc_profile == display_p3()
    assert meta.exif == exif_bytes()[len(EXIF_PREFIX):]  # the TIFF block, no prefix
    if fmt != "PNG":  # Pillow writes XMP into JPEG and WebP; PNG's iTXt goes through save_params
        assert meta.xmp == xmp_bytes()
    # decode gives back what Pillow's JPEG and PNG readers give (its WebP reader drops the prefix)
    assert meta.pil_info()["exif"] == (img.info["exif"] if fmt != "WEBP" else EXIF_PREFIX + img.info["exif"])


def test_png_xmp_and_imagemagick_raw_profiles_are_read(tagged: Image.Image) -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_itxt("XML:com.adobe.xmp", xmp_bytes().decode("utf-8"))
    raw = exif_bytes()[len(EXIF_PREFIX):]
    text.add_text("Raw profile type exif", f"\nexif\n{len(raw):8d}\n{raw.hex()}\n", zip=True)
    meta = metadata.read(reopened(tagged, "PNG", pnginfo=text))
    assert meta.xmp == xmp_bytes() and meta.exif == raw
    broken = PngInfo()
    broken.add_text("Raw profile type exif", "\nexif\n     99\nzz\n")
    with pytest.raises(InputImageError, match="Raw profile"):
        metadata.read(reopened(tagged, "PNG", pnginfo=broken))


def test_a_tiff_gives_its_descriptive_tags_and_gps_as_exif(tagged: Image.Image) -> None:
    img = reopened(tagged, "TIFF", exif=exif_bytes())
    meta = metadata.read(img)
    exif = Image.Exif()
    exif.load(meta.exif)
    assert exif[0x010F] == "Canon" and exif[0x0110] == "EOS R5"
    assert exif.get_ifd(0x8825)[2] == (52.0, 31.0, 12.5) and exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert 256 not in exif and 273 not in exif  # the TIFF's own layout is not metadata
    assert metadata.read(reopened(tagged, "TIFF")).exif is None


def test_orientation_is_rewritten_in_place_and_nothing_else_moves() -> None:
    exif = exif_bytes(orientation=6)[len(EXIF_PREFIX):]
    xmp = xmp_bytes(orientation=6)
    meta = metadata.with_orientation_1(Metadata(None, exif, xmp))
    assert metadata.orientation(meta) == 1 and b'tiff:Orientation="1"' in meta.xmp
    assert len(meta.exif) == len(exif) and sum(a != b for a, b in zip(meta.exif, exif, strict=True)) == 1
    assert len(meta.xmp) == len(xmp) and sum(a != b for a, b in zip(meta.xmp, xmp, strict=True)) == 1
    untouched = Metadata(None, exif_bytes(gps=False)[6:], None)
    assert metadata.with_orientation_1(untouched) == untouched  # already 1


def test_orientation_of_an_unexpected_type_is_an_error_not_a_silent_rotation() -> None:
    exif = bytearray(exif_bytes(orientation=6)[len(EXIF_PREFIX):])
    entry = exif.index(b"\x01\x12\x00\x03")  # big-endian tag 0x0112, type SHORT
    exif[entry + 2: entry + 4] = b"\x00\x05"  # RATIONAL
    with pytest.raises(InputImageError, match="orientation"):
        metadata.with_orientation_1(Metadata(None, bytes(exif), None))


@pytest.mark.parametrize(("field", "value", "match"), [
    ("icc_profile", b"x" * 200, "acsp"),
    ("icc_profile", b"", "empty"),
    ("exif", b"Exif\x00\x00MM\x00*", "TIFF header"),
    ("exif", b"\x00" * (metadata.MAX_METADATA_BYTES + 1), "limit"),
    ("xmp", b"\xff\xfe<x:xmpmeta/>", "UTF-8"),
])
def test_checked_names_the_problem_and_the_way_out(field: str, value: bytes, match: str) -> None:
    meta = Metadata(**{field: value})
    with pytest.raises(InputImageError, match=match) as err:
        meta.checked()
    assert "--strip" in str(err.value)
    with pytest.raises(FormatError, match=match) as err:
        meta.checked(FormatError)
    assert "--strip" not in str(err.value)


def test_stripped() -> None:
    meta = Metadata(display_p3(), b"MM\x00*\x00\x00\x00\x08", b"<x/>")
    assert meta.stripped(strip_metadata=True) == Metadata(display_p3(), None, None)
    assert meta.stripped(strip_icc=True) == Metadata(None, meta.exif, meta.xmp)
    assert not meta.stripped(True, True)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_save_params_write_every_field_where_readers_find_it(tagged: Image.Image, fmt: str) -> None:
    meta = Metadata(display_p3(), exif_bytes()[len(EXIF_PREFIX):], xmp_bytes())
    back = reopened(tagged, fmt, **metadata.save_params(meta, fmt))
    assert back.info["icc_profile"] == display_p3() and back.info["xmp"] == xmp_bytes()
    exif = back.getexif()
    assert exif[0x010F] == "Canon" and exif.get_ifd(0x8825)[4] == (13.0, 24.0, 1.0)
    if fmt != "TIFF":  # a TIFF holds EXIF as tags of its own IFD: values kept, bytes re-laid
        assert metadata.read(back) == meta


def test_save_params_refuse_a_format_that_holds_no_metadata() -> None:
    assert metadata.save_params(Metadata(), "PPM") == {}
    with pytest.raises(ValueError, match="PPM cannot hold an ICC profile, EXIF"):
        metadata.save_params(Metadata(display_p3(), b"II*\x00\x08\x00\x00\x00", None), "PPM")


def test_icc_description_reads_v2_and_v4_tags_and_never_fails() -> None:
    import struct

    assert metadata.icc_description(display_p3()) == "Display P3"  # v4 mluc
    text = b"Old RGB\0"
    tag = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text
    header = bytearray(128)
    header[36:40] = b"acsp"
    v2 = bytes(header) + struct.pack(">I4sII", 1, b"desc", 144, len(tag)) + tag
    assert metadata.icc_description(v2) == "Old RGB"
    for broken in (b"", b"x" * 200, v2[:150], v2[:128] + struct.pack(">I", 2**31) + v2[132:]):
        assert metadata.icc_description(broken) is None
