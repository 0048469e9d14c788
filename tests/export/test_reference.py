"""The Python decoder's reference records and the web package's fixture set."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_fixtures_cover_the_format(tmp_path: Path) -> None:
    index = reference.write_fixtures(tmp_path)
    assert json.loads((tmp_path / "index.json").read_text()) == index
    names = {s["name"] for s in index["streams"]}
    assert {"grey-q80", "mask-q30", "mse-q90", "escapes-q40"} <= names
    infos = {s["name"]: info((tmp_path / s["file"]).read_bytes()) for s in index["streams"]}
    assert infos["mask-q30"]["quality_map"] and infos["auto-q10"]["quality_map"]
    assert infos["escapes-q40"]["sections"]["escapes"] > 100 and infos["grey-q80"]["colour"] == "greyscale"
    assert infos["mse-q90"]["model"] == "sdpic-mse"
    outcomes = {c["outcome"] for c in index["corrupt"]}
    assert {"image", "FormatError", "TruncatedFileError", "ChecksumError", "UnsupportedVersionError",
            "ModelMismatchError"} <= outcomes
