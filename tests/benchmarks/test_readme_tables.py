"""benchmarks/readme_tables.py: the README's comparison comes from the RD results, and is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.readme_tables import BLOCK_NAME, RESULTS, comparison_block, main
from sdpic.bench.rd import outdated_columns
from sdpic.errors import ParameterError

README = Path(__file__).resolve().parents[2] / "README.md"


def write_rd(path: Path, sdpic_scale: float, faithful_scale: float | None = None) -> None:
    """RD points where sdpic needs ``sdpic_scale`` times AVIF's bits for every quality; JPEG twice; sdpic at
    realism 0 (``sdpic-r0``) ``faithful_scale`` times, if given."""
    scale = {"avif": 1.0, "sdpic": sdpic_scale, "jpeg": 2.0}
    if faithful_scale is not None:
        scale["sdpic-r0"] = faithful_scale
    codecs = {name: {"points": [
        {"setting": i, "bpp": f * b, "psnr": 27.0 + 3 * i, "lpips_alex": 0.4 - 0.08 * i, "lpips_vgg": 0.5 - 0.09 * i,
         "dists": 0.3 - 0.05 * i, "encode_s": 0.5, "decode_s": 0.25} for i, b in enumerate([0.1, 0.2, 0.4, 0.8])]}
        for name, f in scale.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if faithful_scale is not None:
        codecs["sdpic"]["options"] = {"realism": 0.5}
        codecs["sdpic-r0"]["options"] = {"realism": 0.0}
    path.write_text(json.dumps({"dataset": path.stem, "images": 2, "reference": "avif", "codecs": codecs}))


def test_block_lists_each_set_and_reference(tmp_path: Path) -> None:
    write_rd(tmp_path / "bench" / "kodak_rd.json", 0.8)
    block = comparison_block(tmp_path)
    rows = [line for line in block.splitlines() if line.startswith("| Kodak")]
    assert [r.split(" | ")[2] for r in rows] == ["AVIF", "JPEG"]  # only codecs present; COCO file absent
    assert rows[0].count("\u221220.0%") == 4 and rows[1].count("\u221260.0%") == 4
    assert "| `sdpic-mse` |" not in block and "| AVIF | 0.500 | 0.250 | 27.0–36.0 at 0.10–0.80 bpp |" in block
    write_rd(tmp_path / "bench" / "coco16_rd.json", 1.25)
    assert "| COCO (16 photos) | realism 0 | AVIF | +25.0% | +25.0% | +25.0% | +25.0% |" in comparison_block(tmp_path)


def test_the_default_realism_and_realism_0_are_rows_of_their_own(tmp_path: Path) -> None:
    write_rd(tmp_path / "bench" / "kodak_rd.json", 0.8, faithful_scale=1.25)
    block = comparison_block(tmp_path)
    assert "| Kodak (24) | realism 0.5 (default) | AVIF | \u221220.0% |" in block
    assert "| Kodak (24) | realism 0 | AVIF | +25.0% |" in block
    assert "| `sdpic` at realism 0 | 0.500 | 0.250 |" in block


def test_missing_results_are_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no RD results"):
        comparison_block(tmp_path)


def test_check_and_into(tmp_path: Path) -> None:
    write_rd(tmp_path / "results" / "bench" / "kodak_rd.json", 0.8)
    doc = tmp_path / "README.md"
    doc.write_text(f"a\n<!-- {BLOCK_NAME}: begin -->\nold\n<!-- {BLOCK_NAME}: end -->\nb\n")
    args = ["--results", str(tmp_path / "results")]
    assert main([*args, "--check", str(doc)]) == 1
    assert main([*args, "--into", str(doc)]) == 0
    assert main([*args, "--check", str(doc)]) == 0


def test_the_readme_block_matches_the_committed_results() -> None:
    outdated = outdated_columns(json.loads((RESULTS / "bench" / "kodak_rd.json").read_text()))
    if outdated:
        pytest.skip(f"results/bench/kodak_rd.json: {outdated}; then benchmarks/readme_tables.py --into README.md")
    assert main(["--check", str(README)]) == 0, "run: .venv/bin/python benchmarks/readme_tables.py --into README.md"
