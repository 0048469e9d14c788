"""`sdpic train` under torchrun (DistributedDataParallel): two CPU workers over gloo, three steps on tiny
crops (the wiring of a multi-GPU run, checked where no GPU is; not training to any quality)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
from PIL import Image

from tests.train.test_data import _ecssd_like

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="this PyTorch build has no gloo backend for CPU workers")


def test_two_workers_train_one_model_and_only_rank_0_writes(tmp_path: Path) -> None:
    _ecssd_like(tmp_path / "ecssd", n=2, size=(128, 128))  # ground-truth masks
    plain = tmp_path / "plain"  # no masks: the learned saliency model's maps, computed once by rank 0
    plain.mkdir()
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(plain / f"{i}.png")
    run = tmp_path / "run"
    env = {**os.environ, "SDPIC_NO_REEXEC": "1", "OMP_NUM_THREADS": "1"}

    def torchrun(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
             "-m", "sdpic.cli", "train", "--run-dir", str(run), "--data", str(tmp_path / "ecssd" / "images"),
             str(plain), "--objective", "perceptual", "--batch-size", "1", "--crop", "64", "--threads", "1",
             "--snapshot-every", "2", "--seed", "0", "--no-bf16", *extra],
            capture_output=True, text=True, timeout=300, env=env)

    result = torchrun("--steps", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("checkpoint:") == 1, result.stdout
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [
        "step_0000002-ema.safetensors", "step_0000002.safetensors",
        "step_0000003-ema.safetensors", "step_0000003.safetensors"]
    with np.load(run / "saliency_maps.npz") as cache:
        assert len(cache.files) == 4
    assert not list(run.glob("*.tmp*")), "no temporary files left behind"

    # --max-minutes: the workers agree on the step to stop at (one stopping alone would leave the other
    # waiting in the gradient all-reduce); the resumed run stops on time and exits cleanly.
    resumed = torchrun("--steps", "100000", "--max-minutes", "0.05")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("checkpoint:") == 1, resumed.stdout
