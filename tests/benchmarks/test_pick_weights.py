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
