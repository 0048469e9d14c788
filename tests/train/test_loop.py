"""The training loop's wiring (two steps on tiny crops, not training to any quality)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from sdpic.errors import ParameterError
from sdpic.train.loop import TrainConfig, learning_rate, train
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


def test_warm_up_restarts_with_a_fresh_optimiser_then_the_rate_decays_to_a_tenth() -> None:
    cfg = TrainConfig(run_dir=Path("unused"), lr=1e-4, warmup_steps=100, lr_decay_start=2000, steps=3000)
    assert learning_rate(cfg, 0) == pytest.approx(1e-6)
    # resumed from shipped weights at step 1000: Adam starts from scratch, so it warms up again
    assert learning_rate(cfg, 1000, optimizer_start=1000) == pytest.approx(1e-6)
    assert learning_rate(cfg, 1099, optimizer_start=1000) == pytest.approx(1e-4)
    assert learning_rate(cfg, 1000) == learning_rate(cfg, 2000) == pytest.approx(1e-4)
    assert learning_rate(cfg, 2500) == pytest.approx(1e-4 * 0.55)
    assert learning_rate(cfg, 3000) == learning_rate(cfg, 9999) == pytest.approx(1e-5)
