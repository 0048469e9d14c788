"""``sdpic bench report --codec [--into]``: a model card's measured table comes from the RD JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdpic.bench.report import codec_bd_rates_table, codec_points_table, points_table, replace_marked_block
from sdpic.cli import main
from sdpic.errors import ParameterError


def _doc() -> dict:
    points = [{"setting": 2, "bpp": 0.0701, "psnr": 24.204, "ms_ssim": 0.84114, "percep": None, "percep_eval": 2.7591,
               "psnr_salient": 23.764, "encode_s": 0.2, "decode_s": 0.2},
              {"setting": 95, "bpp": 1.3109, "psnr": 32.721, "ms_ssim": 0.98931, "percep": None, "percep_eval": 0.5102,
               "psnr_salient": 31.731, "encode_s": 0.3, "decode_s": 0.2}]
    return {"dataset": "kodak", "images": 24, "reference": "avif",
            "codecs": {"sdpic": {"version": "v", "points": points}}, "bd_rate": {}}


def test_points_table_has_a_row_per_setting_and_drops_unmeasured_columns() -> None:
    assert codec_points_table(_doc(), "sdpic") == (
        "| quality | bpp | PSNR (dB) | MS-SSIM | percep_eval (held out) | salient PSNR (dB) |\n"
        "|---:|---:|---:|---:|---:|---:|\n"
        "| 2 | 0.070 | 24.20 | 0.8411 | 2.759 | 23.76 |\n"
        "| 95 | 1.311 | 32.72 | 0.9893 | 0.510 | 31.73 |\n")


def test_full_listing_keeps_every_column_and_names_the_codec() -> None:
    assert points_table(_doc()) == (
        "| codec | setting | bpp | psnr | ms_ssim | percep | percep_eval | psnr_salient | encode_s | decode_s |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        "| sdpic | 2 | 0.0701 | 24.20 | 0.8411 | n/a | 2.7591 | 23.76 | 0.2000 | 0.2000 |\n"
        "| sdpic | 95 | 1.3109 | 32.72 | 0.9893 | n/a | 0.5102 | 31.73 | 0.3000 | 0.2000 |\n")


def test_points_table_of_an_unknown_codec_is_a_typed_error() -> None:
    with pytest.raises(ParameterError, match="no measured points"):
        codec_points_table(_doc(), "webp")


def _curve(bpps: list[float]) -> dict:
    return {"points": [{"setting": i, "bpp": b, "psnr": 25.0 + 3 * i} for i, b in enumerate(bpps)]}


def test_bd_rates_table_compares_the_codec_with_every_other_one() -> None:
    # Same PSNR at half the rate everywhere: BD-rate -50% against "wide", +100% the other way round.
    doc = {"reference": "wide", "codecs": {"wide": _curve([0.1, 0.2, 0.4, 0.8]), "lean": _curve([0.05, 0.1, 0.2, 0.4]),
                                           "empty": {"points": []}}}
    assert codec_bd_rates_table(doc, "lean") == (
        "BD-rate of lean against each codec (negative = lean needs fewer bits for the same quality):\n\n"
        "| against | PSNR |\n|---|---:|\n| wide | -50.0% |\n")
    assert "| lean | +100.0% |" in codec_bd_rates_table(doc, "wide")
    assert doc["reference"] == "wide" and "bd_rate" not in doc  # the document is not modified
    assert codec_bd_rates_table(_doc(), "sdpic") == ""  # nothing to compare with


def test_only_the_marked_block_is_replaced() -> None:
    text = "intro\n<!-- t: begin -->\nold\nrows\n<!-- t: end -->\noutro\n"
    assert replace_marked_block(text, "t", "new\n") == "intro\n<!-- t: begin -->\nnew\n<!-- t: end -->\noutro\n"
    with pytest.raises(ParameterError, match="no '<!-- u: begin -->'"):
        replace_marked_block(text, "u", "new\n")


def test_cli_writes_the_table_into_a_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = tmp_path / "rd.json"
    rd.write_text(json.dumps(_doc()))
    card = tmp_path / "CARD.md"
    marker = "sdpic bench report --codec sdpic"
    card.write_text(f"# card\n<!-- {marker}: begin -->\nstale\n<!-- {marker}: end -->\nnotes\n")
    assert main(["bench", "report", str(rd), "--codec", "sdpic", "--into", str(card)]) == 0
    text = card.read_text()
    assert "stale" not in text and "| 95 | 1.311 |" in text and text.endswith("notes\n")
    assert main(["bench", "report", str(rd), "--into", str(card)]) != 0  # --into alone: refused
    card.write_text("# a card without the markers\n")
    assert main(["bench", "report", str(rd), "--codec", "sdpic", "--into", str(card)]) != 0
    assert card.read_text() == "# a card without the markers\n"
    assert "Traceback" not in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[2]
CARDS = sorted((ROOT / "src" / "sdpic" / "zoo").glob("MODEL_CARD_*.md"))  # the files ship.sh rewrites


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_shipped_model_cards_carry_the_committed_results(card: Path, tmp_path: Path) -> None:
    """The generated block of each model card is what `sdpic bench report --codec --into` writes from the
    committed RD JSON (ship.sh rewrites it; a hand edit or a stale card fails here)."""
    model = card.stem.removeprefix("MODEL_CARD_")
    fresh = tmp_path / card.name
    fresh.write_text(card.read_text())
    assert main(["bench", "report", str(ROOT / "results" / "bench" / "kodak_rd.json"), "--codec", model,
                 "--into", str(fresh)]) == 0
    assert fresh.read_text() == card.read_text(), f"run: sdpic bench report results/bench/kodak_rd.json " \
        f"--codec {model} --into {card.relative_to(ROOT)}"
