"""benchmarks/pick_weights.py: a candidate stands in for the shipped file during the bench, which always
gets its file back, also when the bench fails or is interrupted."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import pick_weights as pick
from sdpic.errors import ParameterError


@pytest.fixture
def fake_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shipped = tmp_path / "zoo" / "model.safetensors"
    shipped.parent.mkdir()
    shipped.write_bytes(b"shipped weights")
    monkeypatch.setattr(pick, "entry_by_name", lambda name: SimpleNamespace(path=shipped))
    return shipped


def _candidate(tmp_path: Path) -> Path:
    path = tmp_path / "candidate.safetensors"
    path.write_bytes(b"candidate weights")
    return path


def test_the_bench_sees_the_candidate_and_the_shipped_file_comes_back(
        fake_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake_bench(model: str, reference: str, images: Path, limit: int, out: Path) -> None:
        seen.append(fake_zoo.read_bytes())
        out.write_text(json.dumps({"bd_rate": {"psnr": {model: -12.5, reference: 0.0}}}))

    monkeypatch.setattr(pick, "_run_bench", fake_bench)
    bd = pick.measure("m", "webp", _candidate(tmp_path), tmp_path, 8, ["psnr", "ms_ssim"], tmp_path)
    assert seen == [b"candidate weights"]
    assert bd == {"psnr": -12.5, "ms_ssim": None}  # a metric the run lacks is reported as missing
    assert fake_zoo.read_bytes() == b"shipped weights"
    assert not fake_zoo.with_name(fake_zoo.name + ".pick-backup").exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_a_failed_or_interrupted_bench_restores_the_shipped_file(
        fake_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]) -> None:
    def failing_bench(*args: object) -> None:
        raise error("stop")

    monkeypatch.setattr(pick, "_run_bench", failing_bench)
    with pytest.raises(error):
        pick.measure("m", "webp", _candidate(tmp_path), tmp_path, 8, ["psnr"], tmp_path)
    assert fake_zoo.read_bytes() == b"shipped weights"


def test_a_left_over_backup_stops_the_next_run(fake_zoo: Path, tmp_path: Path) -> None:
    fake_zoo.with_name(fake_zoo.name + ".pick-backup").write_bytes(b"shipped weights")
    with pytest.raises(ParameterError, match="move it back"):
        pick.main([str(_candidate(tmp_path)), "--model", "m"])


def test_a_missing_candidate_is_refused_before_anything_moves(fake_zoo: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no such weights file"):
        pick.main([str(tmp_path / "absent.safetensors"), "--model", "m"])
    assert fake_zoo.read_bytes() == b"shipped weights"


def _row(hash_: str, steps: int, kind: str, lpips_vgg: float) -> dict:
    return {"weights": f"w{steps}", "hash": hash_, "steps": steps, "kind": kind, "measured": "2026-12-03",
            "bd_rate": {"lpips_vgg": lpips_vgg, "psnr": None}}


def test_the_history_replaces_a_remeasured_hash_and_keeps_its_known_kind(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    pick.update_history(history, "avif", 8, [_row("aa", 200, "average", 30.0), _row("bb", 100, "raw", 40.0)])
    # The shipped file comes back as kind "other": the history already knows it is a weight average.
    doc = pick.update_history(history, "avif", 8, [_row("aa", 200, "other", 29.5), _row("cc", 300, "other", 28.0)])
    assert [(r["hash"], r["kind"], r["bd_rate"]["lpips_vgg"]) for r in doc["rows"]] == [
        ("bb", "raw", 40.0), ("aa", "average", 29.5), ("cc", "other", 28.0)]  # sorted by steps
    assert json.loads(history.read_text()) == doc


def test_the_history_refuses_rows_of_another_reference_or_image_count(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    pick.update_history(history, "avif", 8, [_row("aa", 200, "average", 30.0)])
    with pytest.raises(ParameterError, match="vs avif on 8 images"):
        pick.update_history(history, "webp", 8, [_row("bb", 300, "raw", 10.0)])
    with pytest.raises(ParameterError, match="vs avif on 8 images"):
        pick.update_history(history, "avif", 24, [_row("bb", 300, "raw", 10.0)])


def test_plot_alone_redraws_the_history(tmp_path: Path) -> None:
    history, plot = tmp_path / "history.json", tmp_path / "curve.png"
    pick.update_history(history, "avif", 8, [_row("aa", 200, "average", 30.0), _row("bb", 300, "raw", 25.0)])
    assert pick.main(["--model", "m", "--history", str(history), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="give both"):
        pick.main(["--model", "m", "--plot", str(plot)])


@pytest.mark.parametrize(("name", "kind"), [("step_0052953-ema", "average"), ("step_0052953", "raw"),
                                            ("sdpic-perc-s17-export", "other")])
def test_weights_kind_follows_the_snapshot_names(name: str, kind: str) -> None:
    assert pick.weights_kind(Path(f"runs/x/snapshots/{name}.safetensors")) == kind


def test_metrics_the_bench_does_not_measure_are_refused_before_anything_moves(fake_zoo: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="unknown --metrics percep_eval"):
        pick.main([str(_candidate(tmp_path)), "--model", "m", "--metrics", "psnr,percep_eval"])
    assert fake_zoo.read_bytes() == b"shipped weights"
    assert pick.DEFAULT_METRICS == "psnr,ms_ssim,lpips_alex,lpips_vgg,dists,psnr_salient"
