"""The training loop's wiring (two steps on tiny crops, not training to any quality)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from sdpic.errors import ParameterError
from sdpic.train.loop import TrainConfig, train
from tests.train.test_data import _ecssd_like


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_perceptual_run_checkpoints_resumes_and_refuses_another_objective(tmp_path: Path) -> None:
    _ecssd_like(tmp_path / "data", n=2, size=(128, 128))
    cfg = TrainConfig(run_dir=tmp_path / "run", folders=[tmp_path / "data" / "images"], steps=2, batch_size=1,
                      crop=64, warmup_steps=1, bf16=False, threads=1, snapshot_every=2, seed=0,
                      objective="perceptual")
    ckpt = train(cfg)
    assert ckpt.is_file() and (tmp_path / "run" / "saliency_maps.npz").is_file()
    with safe_open(str(tmp_path / "run" / "snapshots" / "step_0000002.safetensors"), framework="pt") as fh:
        assert fh.metadata()["objective"] == "perceptual" and fh.metadata()["steps"] == "2"
    cfg.steps = 3
    train(cfg)  # resumes from step 2
    cfg.objective = "mse"
    with pytest.raises(ParameterError, match="objective"):
        train(cfg)
