"""``sdpic bench report --codec [--into]``: a model card's measured table comes from the RD JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdpic.bench import report
from sdpic.bench.metrics import QUALITY_METRICS
from sdpic.bench.rd import add_bd_rates, outdated_columns
from sdpic.bench.report import (
    codec_bd_rates_table,
    codec_points_table,
    markdown_table,
    points_table,
    replace_marked_block,
)
from sdpic.cli import main
from sdpic.errors import ParameterError


def _doc() -> dict:
    # lpips_alex unmeasured (None): the card's table leaves the column out, the full listing keeps it
    points = [{"setting": 2, "bpp": 0.0701, "psnr": 24.204, "ms_ssim": 0.84114, "lpips_alex": None,
               "lpips_vgg": 0.45123, "dists": 0.30207, "psnr_salient": 23.764, "encode_s": 0.2, "decode_s": 0.2},
              {"setting": 95, "bpp": 1.3109, "psnr": 32.721, "ms_ssim": 0.98931, "lpips_alex": None,
               "lpips_vgg": 0.10239, "dists": 0.08812, "psnr_salient": 31.731, "encode_s": 0.3, "decode_s": 0.2}]
    return {"dataset": "kodak", "images": 24, "reference": "avif",
            "codecs": {"sdpic": {"version": "v", "points": points}}, "bd_rate": {}}


def test_points_table_has_a_row_per_setting_and_drops_unmeasured_columns() -> None:
    assert codec_points_table(_doc(), "sdpic") == (
        "| quality | bpp | PSNR (dB) | MS-SSIM | LPIPS-VGG (held out) | DISTS (held out) | salient PSNR (dB) |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        "| 2 | 0.070 | 24.20 | 0.8411 | 0.4512 | 0.3021 | 23.76 |\n"
        "| 95 | 1.311 | 32.72 | 0.9893 | 0.1024 | 0.0881 | 31.73 |\n")


def test_full_listing_keeps_every_column_and_names_the_codec() -> None:
    assert points_table(_doc()) == (
        "| codec | setting | bpp | psnr | ms_ssim | lpips_alex | lpips_vgg | dists | psnr_salient | encode_s "
        "| decode_s |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        "| sdpic | 2 | 0.0701 | 24.20 | 0.8411 | n/a | 0.4512 | 0.3021 | 23.76 | 0.2000 | 0.2000 |\n"
        "| sdpic | 95 | 1.3109 | 32.72 | 0.9893 | n/a | 0.1024 | 0.0881 | 31.73 | 0.3000 | 0.2000 |\n")


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


def _full_curve(bpps: list[float]) -> dict:
    """Every quality column: PSNR-like ones rise with the setting, the distances fall."""
    return {"version": "v", "points": [
        {"setting": i, "bpp": b, "psnr": 25.0 + 3 * i, "ms_ssim": 0.90 + 0.02 * i, "lpips_alex": 0.40 - 0.08 * i,
         "lpips_vgg": 0.50 - 0.09 * i, "dists": 0.30 - 0.05 * i, "psnr_salient": 24.0 + 3 * i, "encode_s": 0.1,
         "decode_s": 0.1} for i, b in enumerate(bpps)]}


def _two_codec_doc() -> dict:
    # "lean" reaches every quality (and every distance) at half the rate of "wide", the reference
    doc = {"dataset": "synthetic", "images": 2, "reference": "wide",
           "codecs": {"wide": _full_curve([0.1, 0.2, 0.4, 0.8]), "lean": _full_curve([0.05, 0.1, 0.2, 0.4])}}
    add_bd_rates(doc)
    return doc


def test_bd_rate_table_has_a_column_per_metric_and_distances_keep_the_sign_convention() -> None:
    """PSNR, MS-SSIM, LPIPS-Alex, LPIPS-VGG, DISTS and salient PSNR each get a BD-rate; for the distances
    (lower is better) half the rate for the same distance is -50%, as for PSNR."""
    table = markdown_table(_two_codec_doc())
    header = next(line for line in table.splitlines() if line.startswith("| codec |"))
    assert header == ("| codec | BD-rate PSNR | BD-rate MS-SSIM | BD-rate LPIPS-Alex (train metric) "
                      "| BD-rate LPIPS-VGG (held out) | BD-rate DISTS (held out) | BD-rate salient PSNR "
                      "| bpp range | encode s | decode s | library |")
    assert "| lean | -50.0% | -50.0% | -50.0% | -50.0% | -50.0% | -50.0% |" in table
    assert "| wide | +0.0% | +0.0% | +0.0% | +0.0% | +0.0% | +0.0% |" in table
    assert "no values" not in table
    assert codec_bd_rates_table(_two_codec_doc(), "lean").splitlines()[2] == (
        "| against | PSNR | MS-SSIM | LPIPS-Alex (train metric) | LPIPS-VGG (held out) | DISTS (held out) "
        "| salient PSNR |")


def test_plots_of_distances_keep_the_legend_off_the_falling_curves(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    legends: dict[str, str] = {}
    real_save = report.save_figure

    def spy(fig, out: Path, dpi: float | None = None) -> Path:
        legend = fig.axes[0].get_legend()
        legends[out.name] = {1: "upper right", 4: "lower right"}[legend._loc]
        return real_save(fig, out, dpi)

    monkeypatch.setattr(report, "save_figure", spy)
    files = report.plot_rd(_two_codec_doc(), tmp_path / "rd")
    assert {f.name for f in files} == {f"rd_{m}.png" for m in QUALITY_METRICS}
    assert legends == {"rd_psnr.png": "lower right", "rd_ms_ssim.png": "lower right",
                       "rd_lpips_alex.png": "upper right", "rd_lpips_vgg.png": "upper right",
                       "rd_dists.png": "upper right", "rd_psnr_salient.png": "lower right"}


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


def test_a_card_written_from_results_passes_the_committed_results_check(tmp_path: Path) -> None:
    """The check below on a small synthetic RD document: after `--into`, rewriting the card from the same JSON
    changes nothing, and a card whose numbers differ from the JSON is caught."""
    rd = tmp_path / "rd.json"
    rd.write_text(json.dumps(_two_codec_doc()))
    marker = "sdpic bench report --codec lean"
    card = tmp_path / "MODEL_CARD_lean.md"
    card.write_text(f"# lean\n<!-- {marker}: begin -->\n<!-- {marker}: end -->\n")
    assert main(["bench", "report", str(rd), "--codec", "lean", "--into", str(card)]) == 0
    assert "LPIPS-VGG (held out)" in card.read_text() and "| wide | -50.0% |" in card.read_text()
    assert _card_is_current(rd, card, "lean", tmp_path / "fresh")
    card.write_text(card.read_text().replace("-50.0%", "-49.0%", 1))  # a hand edit of a generated cell
    assert not _card_is_current(rd, card, "lean", tmp_path / "fresh")


def _card_is_current(rd: Path, card: Path, model: str, scratch: Path) -> bool:
    scratch.mkdir(exist_ok=True)
    fresh = scratch / card.name
    fresh.write_text(card.read_text())
    assert main(["bench", "report", str(rd), "--codec", model, "--into", str(fresh)]) == 0
    return fresh.read_text() == card.read_text()


ROOT = Path(__file__).resolve().parents[2]
COMMITTED_RD = ROOT / "results" / "bench" / "kodak_rd.json"
CARDS = sorted((ROOT / "src" / "sdpic" / "zoo").glob("MODEL_CARD_*.md"))  # the files ship.sh rewrites


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_shipped_model_cards_carry_the_committed_results(card: Path, tmp_path: Path) -> None:
    """The generated block of each model card is what `sdpic bench report --codec --into` writes from the
    committed RD JSON (ship.sh rewrites it; a hand edit or a stale card fails here)."""
    outdated = outdated_columns(json.loads(COMMITTED_RD.read_text()))
    if outdated:
        pytest.skip(f"results/bench/kodak_rd.json: {outdated} (results/bench/README.md); then "
                    "`sdpic bench report results/bench/kodak_rd.json --codec MODEL --into CARD` for each card")
    model = card.stem.removeprefix("MODEL_CARD_")
    assert _card_is_current(COMMITTED_RD, card, model, tmp_path), (
        f"run: sdpic bench report results/bench/kodak_rd.json --codec {model} --into {card.relative_to(ROOT)}")
