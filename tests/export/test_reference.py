"""The Python decoder's reference records and the web package's fixture set."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

import sdpic
from sdpic.api import info
from sdpic.codec.coder import TableCoder
from sdpic.export import reference
from tests.conftest import smooth_image


def test_record_of_a_stream_and_of_a_broken_one() -> None:
    data = sdpic.compress(smooth_image(48, 64, seed=1), quality=50, threads=1)
    original = TableCoder.decode_values
    record = reference.decode_record(data)
    assert TableCoder.decode_values is original  # the recording hook is removed again
    assert record["outcome"] == "image" and (record["width"], record["height"]) == (64, 48)
    assert all(len(record[k]) == 64 for k in ("symbols", "latents", "pixels"))
    assert reference.decode_record(data) == record
    other = reference.decode_record(sdpic.compress(smooth_image(48, 64, seed=1), quality=60, threads=1))
    assert other["symbols"] != record["symbols"] and other["latents"] != record["latents"]
    assert reference.decode_record(data[:-3])["outcome"] == "TruncatedFileError"


def test_record_of_a_version_2_stream() -> None:
    """The alpha plane and the metadata sections are in the record, hashed; a bad alpha plane is an error."""
    import hashlib

    import numpy as np

    from sdpic import alpha
    from sdpic import format as fmt
    from tests.metadata_helpers import cutout, xmp_bytes

    img = Image.fromarray(cutout(24, 32, seed=2))
    img.info["xmp"] = xmp_bytes()
    data = sdpic.compress(img, quality=50, threads=1)
    record = reference.decode_record(data)
    decoded = np.asarray(sdpic.decompress(data, threads=1))
    assert (record["mode"], record["format_version"], record["colour"]) == ("RGBA", 2, "RGB")
    assert record["alpha"] == hashlib.sha256(decoded[..., 3].tobytes()).hexdigest()
    assert record["xmp"] == hashlib.sha256(xmp_bytes()).hexdigest() and record["icc_profile"] is None
    assert reference.decoded_pixels(data).shape == (24, 32, 3)
    container = fmt.unpack(data)
    other = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)
    container.sections[fmt.Section.ALPHA] = alpha.encode_plane(other)
    assert reference.decode_record(fmt.pack(container))["alpha"] == hashlib.sha256(other.tobytes()).hexdigest()
    cut = [(t, p[:-4] if t == fmt.Section.ALPHA else p) for t, p in reference._sections(data)]
    assert reference.decode_record(reference._rebuilt(data, cut))["outcome"] == "FormatError"  # WebP framing


def test_fixtures_cover_the_format(tmp_path: Path) -> None:
    golden = Path(__file__).resolve().parents[1] / "golden" / "shipped"
    index = reference.write_fixtures(tmp_path, golden_dir=golden)
    assert json.loads((tmp_path / "index.json").read_text()) == index
    names = {s["name"] for s in index["streams"]}
    assert {"grey-q80", "mask-q30", "mse-q90", "escapes-q40", "golden-rgba-meta-64x48-q50",
            "golden-la-40x24-q60"} <= names
    modes = {s["name"]: s["mode"] for s in index["streams"]}
    assert modes["golden-rgba-meta-64x48-q50"] == "RGBA" and modes["golden-la-40x24-q60"] == "LA"
    infos = {s["name"]: info((tmp_path / s["file"]).read_bytes()) for s in index["streams"]}
    assert infos["mask-q30"]["quality_map"] and infos["auto-q10"]["quality_map"]
    assert infos["escapes-q40"]["sections"]["escapes"] > 100 and infos["grey-q80"]["colour"] == "greyscale"
    assert infos["mse-q90"]["model"] == "sdpic-mse"
    outcomes = {c["outcome"] for c in index["corrupt"]}
    assert {"image", "FormatError", "TruncatedFileError", "ChecksumError", "UnsupportedVersionError",
            "ModelMismatchError"} <= outcomes
    # the version-2 mutations reach every check: alpha header and bitstream, profile, EXIF, XMP, versions
    v2 = {c["name"].split("/", 1)[1]: c for c in index["corrupt"] if c["name"].startswith("golden-rgba-meta")}
    messages = " ".join(c.get("message", "") for c in v2.values())
    for words in ("in a version-1 file", "without a version-2 section", "chunk sizes disagree", "bad VP8L signature",
                  "alpha plane is 65x48", "VP8L version", "does not decode", "acsp", "for CMYK data",
                  "no TIFF header", "not UTF-8", "empty XMP packet"):
        assert words in messages, words
    golden_alpha = next(s["alpha"] for s in index["streams"] if s["name"] == "golden-rgba-meta-64x48-q50")
    assert v2["alpha-green-channel"]["outcome"] == v2["alpha-other-plane"]["outcome"] == "image"
    assert v2["alpha-green-channel"]["alpha"] == v2["alpha-other-plane"]["alpha"] != golden_alpha
    realism = index["realism"]
    assert (tmp_path / realism["models"] / "models.json").is_file() and realism["default"] == 0.5
    cases = {(c["name"], c["realism"]): c for c in realism["cases"]}
    assert cases[("auto-q10", 0.5)]["pixels"] != cases[("auto-q10", 1.0)]["pixels"]
    assert len((tmp_path / cases[("auto-q10", 1.0)]["pixels_file"]).read_bytes()) == 192 * 160 * 3
