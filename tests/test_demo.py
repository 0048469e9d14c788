"""`sdpic demo`: sdpic, AVIF and JPEG at the same file size, one table and one side-by-side image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sdpic import demo
from sdpic.bench.codecs import Availability, get_codec
from sdpic.bench.codecs.avif import AvifCodec
from sdpic.cli import main

SIDE = 192  # a crop of the bundled sample: a real photo, small enough to keep the test quick


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "crop.png"
    path.parent.mkdir()
    Image.open(demo.SAMPLE).convert("RGB").crop((160, 40, 160 + SIDE, 40 + SIDE)).save(path)
    return path


def table_rows(out: str) -> dict[str, list[str]]:
    """The table's rows by codec name (first column)."""
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] in ("sdpic", *demo.BASELINES):
            rows[fields[0]] = fields
    return rows


def test_demo_prints_three_codec_table_and_writes_side_by_side(sample: Path, tmp_path: Path, capsys) -> None:
    if not get_codec("avif").is_available():
        pytest.skip("this Pillow has no AVIF encoder")
    out_dir = tmp_path / "out"
    assert main(["demo", "--image", str(sample), "--out-dir", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "LPIPS-Alex" in out and "PSNR dB" in out and "encode s" in out and "decode s" in out
    rows = table_rows(out)
    assert list(rows) == ["sdpic", "avif", "jpeg"]
    sdpic_bytes = int(rows["sdpic"][1])
    assert (out_dir / "crop.sdpic").stat().st_size == sdpic_bytes
    for name, suffix in (("avif", ".avif"), ("jpeg", ".jpg")):
        size = int(rows[name][1])
        assert (out_dir / f"crop{suffix}").stat().st_size == size
        # never more bits than sdpic; within the tolerance unless the demo says why not
        assert size <= sdpic_bytes
        assert size >= (1 - demo.SIZE_TOLERANCE) * sdpic_bytes or f"note: {name}:" in out
        assert 0 <= float(rows[name][4]) < 1  # LPIPS-Alex
    with Image.open(out_dir / "crop.side_by_side.png") as side:
        assert side.size == (3 * SIDE + 2 * demo.GAP, SIDE + demo.LABEL_H)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "crop.avif", "crop.decoded.png", "crop.jpg", "crop.sdpic", "crop.side_by_side.png",
    ]  # fmt: skip


def test_demo_reports_missing_avif_and_shows_the_rest(
    sample: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AvifCodec, "is_available", lambda self: Availability(False, "Pillow was built without libavif"))
    out_dir = tmp_path / "out"
    assert main(["demo", "--image", str(sample), "--out-dir", str(out_dir)]) == 0
    captured = capsys.readouterr()
    assert "not shown: avif (Pillow was built without libavif)" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert list(table_rows(captured.out)) == ["sdpic", "jpeg"]
    assert not (out_dir / "crop.avif").exists()
    with Image.open(out_dir / "crop.side_by_side.png") as side:
        assert side.size == (2 * SIDE + demo.GAP, SIDE + demo.LABEL_H)


def test_demo_never_overwrites_its_input(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "cat.jpg"  # the JPEG stream would be written to cat.jpg in the same folder
    Image.open(demo.SAMPLE).convert("RGB").crop((0, 0, 64, 64)).save(photo)
    before = photo.read_bytes()
    assert main(["demo", "--image", str(photo), "--out-dir", str(tmp_path)]) == 1
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert photo.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.jpg"]
