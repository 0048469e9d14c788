"""benchmarks/web_decoder.py: results/web/README.md is what its JSON files say (regenerate with
`benchmarks/web_decoder.py readme` after a step), and the steps' records have what the README reads."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.web_decoder import RESULTS, render


def test_readme_is_current() -> None:
    assert (RESULTS / "README.md").read_text() == render(RESULTS)


def test_agreement_records_every_kodak_file() -> None:
    for path in RESULTS.glob("agreement_*.json"):
        data = json.loads(path.read_text())
        assert data["summary"]["files"] == len(data["files"]) == 72
        assert set(data["by_quality"]) == {"10", "50", "90"} and data["saliency"] == "auto"
        assert data["command"].startswith(".venv/bin/python benchmarks/web_decoder.py agreement")


def test_fuzz_and_alpha_records_say_what_the_readme_reads() -> None:
    """Every fuzz case has the Python decoder's outcome; the version-2 corpus decoded alpha planes, each Python's."""
    for name in ("fuzz.json", "fuzz_version_2.json"):
        data = json.loads((RESULTS / name).read_text())
        assert data["same_outcome_as_python"] == data["cases"] == sum(data["js_outcomes"].values())
        assert data["untyped_exceptions"] == [] and data["disagreements"] == []
        assert data["images_with_python_alpha_plane"] == data["images_with_alpha_plane"]
    assert json.loads((RESULTS / "fuzz_version_2.json").read_text())["images_with_alpha_plane"] > 100
    alpha = json.loads((RESULTS / "alpha.json").read_text())["summary"]
    assert alpha["alpha_equal"] == alpha["modes_equal"] == alpha["files"] > 0 and alpha["max_difference"] <= 1


def test_render_without_results_is_only_the_header(tmp_path: Path) -> None:
    assert render(tmp_path).count("\n## ") == 0
