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


def test_render_without_results_is_only_the_header(tmp_path: Path) -> None:
    assert render(tmp_path).count("\n## ") == 0
