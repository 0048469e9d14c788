"""benchmarks/issue_targets.py: each target reads the right field, and the README's table is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.issue_targets import (
    BLOCK_NAME,
    RESULTS,
    Target,
    bd_rate,
    main,
    salient_bpp_gain,
    targets_table,
    task_score_margin,
)
from sdpic.errors import ParameterError

README = Path(__file__).resolve().parents[2] / "README.md"


def rd_doc() -> dict:
    """Two codecs with identical quality curves; 'half' needs half the bits of 'full' everywhere."""
    psnr = [28.0, 31.0, 34.0, 37.0]
    full = [{"bpp": b, "psnr": q} for b, q in zip([0.2, 0.4, 0.8, 1.6], psnr, strict=True)]
    half = [{"bpp": p["bpp"] / 2, "psnr": p["psnr"]} for p in full]
    return {"reference": "full", "codecs": {"full": {"points": full}, "half": {"points": half}}, "bd_rate": {}}


def test_bd_rate_is_recomputed_against_the_asked_reference() -> None:
    doc = rd_doc()
    assert bd_rate("half", "psnr", "full")(doc).value == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate("full", "psnr", "half")(doc).value == pytest.approx(100.0, abs=1e-6)
    assert bd_rate("half", "psnr", "full")(doc).text == "\u221250.0%"
    assert doc["reference"] == "full" and doc["bd_rate"] == {}, "the caller's document is left alone"


def test_bd_rate_of_a_codec_without_points_is_a_typed_error() -> None:
    doc = rd_doc()
    doc["codecs"]["half"]["points"] = []
    with pytest.raises(ParameterError, match="half"):
        bd_rate("half", "psnr", "full")(doc)


def test_task_margin_compares_the_points_of_one_target() -> None:
    doc = {"images": 10, "codecs": {
        "a": {"points": [{"target_bpp": 0.1, "bpp": 0.1, "top1": 0.2},
                         {"target_bpp": 0.15, "bpp": 0.149, "top1": 0.6}]},
        "b": {"points": [{"target_bpp": 0.15, "bpp": 0.151, "top1": 0.7}]}}}
    m = task_score_margin("a", "b", "top1", 0.15)(doc)
    assert m.value == pytest.approx(-0.1)
    assert m.text == "0.600 at 0.149 bpp vs 0.700 at 0.151 bpp (\u22120.100, 10 images)"
    with pytest.raises(ParameterError, match=r"0\.2-bpp"):
        task_score_margin("a", "b", "top1", 0.2)(doc)


def test_salient_bpp_gain_is_relative_to_no_saliency() -> None:
    doc = {"quality": 50, "per_image": [{}, {}],
           "mean": {"none": {"bpp_salient": 0.5}, "auto": {"bpp_salient": 0.75}}}
    assert salient_bpp_gain(doc).value == pytest.approx(50.0)


@pytest.mark.parametrize(("at_most", "strict", "value", "met"), [
    (True, False, -10.0, True), (True, False, -9.9, False), (False, False, -10.0, True),
    (False, False, -10.1, False), (False, True, -10.0, False), (False, True, -9.0, True)])
def test_a_target_is_met_on_its_side_of_the_limit(at_most: bool, strict: bool, value: float, met: bool) -> None:
    target = Target(0, "x", "x.json", salient_bpp_gain, -10.0, at_most, "x", strict)
    assert target.met(value) is met


def test_the_readme_table_matches_the_committed_results() -> None:
    assert main(["--check", str(README)]) == 0, "run: .venv/bin/python benchmarks/issue_targets.py --into README.md"


def test_check_reports_a_stale_block_and_into_mends_it(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n<!-- {BLOCK_NAME}: begin -->\n| old |\n<!-- {BLOCK_NAME}: end -->\nrest\n")
    assert main(["--check", str(doc)]) == 1
    assert main(["--into", str(doc)]) == 0
    assert main(["--check", str(doc)]) == 0
    block = f"<!-- {BLOCK_NAME}: begin -->\n{targets_table()}<!-- {BLOCK_NAME}: end -->"
    assert doc.read_text() == f"intro\n{block}\nrest\n"


def test_a_missing_result_file_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "codec").mkdir()
    (tmp_path / "codec" / "speed_kodak.json").write_text(json.dumps(
        json.loads((RESULTS / "codec" / "speed_kodak.json").read_text())))
    with pytest.raises(ParameterError, match=r"kodak_rd\.json"):
        targets_table(tmp_path)
