"""benchmarks/roi_strength_sweep.py: strengths read from the bench JSONs, incomparable runs refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import roi_strength_sweep as sweep
from sdpic.errors import ParameterError


def _bench_json(path: Path, strength: float | None, salient_bd: float, dataset: str = "coco16") -> Path:
    options = {} if strength is None else {"saliency": "auto", "roi_strength": strength}
    doc = {"dataset": dataset, "images": 2, "reference": "avif",
           "codecs": {"sdpic": {"version": "v", "config": "model=sdpic,saliency=auto", "options": options,
                                "points": [{"bpp": 0.2}, {"bpp": 0.9}]}},
           "bd_rate": {"psnr_salient": {"sdpic": salient_bd}, "psnr": {"sdpic": 50.0}}}
    path.write_text(json.dumps(doc))
    return path


def test_rows_are_keyed_and_sorted_by_the_strength_in_the_codec_options(tmp_path: Path) -> None:
    files = [_bench_json(tmp_path / "a.json", 0.5, -4.7), _bench_json(tmp_path / "b.json", 0.25, 10.6)]
    doc = sweep.gather(files, "sdpic")
    assert list(doc["strengths"]) == ["0.25", "0.5"]
    assert doc["strengths"]["0.5"]["bd_rate"]["psnr_salient"] == -4.7
    assert doc["strengths"]["0.5"]["bd_rate"]["ms_ssim"] is None  # not measured: reported as missing
    assert doc["strengths"]["0.5"]["bpp_range"] == [0.2, 0.9]
    assert "| 0.5 | -4.7% | n/a |" in sweep.markdown(doc)
    # the held-out distances come right after the salient PSNR the strength trades for
    assert sweep.markdown(doc).startswith("| ROI strength | BD-rate psnr_salient | BD-rate lpips_vgg | BD-rate dists |")


def test_runs_on_other_photos_repeated_strengths_or_unrecorded_options_are_refused(tmp_path: Path) -> None:
    a = _bench_json(tmp_path / "a.json", 0.5, 1.0)
    with pytest.raises(ParameterError):
        sweep.gather([a, _bench_json(tmp_path / "b.json", 0, 2.0, dataset="kodak")], "sdpic")
    with pytest.raises(ParameterError):
        sweep.gather([a, _bench_json(tmp_path / "c.json", 0.5, 2.0)], "sdpic")
    with pytest.raises(ParameterError):
        sweep.gather([a], "sdpic-mse")
    with pytest.raises(ParameterError, match="options"):
        sweep.gather([_bench_json(tmp_path / "d.json", None, 2.0)], "sdpic")
