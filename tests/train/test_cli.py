"""`sdpic train` stops cleanly on SIGINT (even when started in the background) and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train.test_data import _ecssd_like


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_checkpoint(tmp_path: Path, signum: int) -> None:
    _ecssd_like(tmp_path / "data", n=1, size=(128, 128))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sdpic.cli", "train", "--run-dir", str(run_dir), "--data",
           str(tmp_path / "data" / "images"), "--batch-size", "1", "--crop", "64", "--threads", "1",
           "--warmup-steps", "1", "--snapshot-every", "1", "--no-bf16"]
    # Started like `cmd &` from a script: SIGINT ignored on entry.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "snapshots").is_dir() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (run_dir / "snapshots").is_dir(), "training never took a step"
        proc.send_signal(signum)
        assert proc.wait(timeout=60) != 0
    finally:
        proc.kill()
    ckpt = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] >= 1


@pytest.mark.parametrize("decay", ["-0.1", "1", "1.5"])
def test_an_out_of_range_ema_decay_is_refused_before_training(tmp_path: Path, decay: str,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    from sdpic.cli import main

    monkeypatch.setenv("SDPIC_NO_REEXEC", "1")  # validate here, without re-executing for the allocator settings
    assert main(["train", "--run-dir", str(tmp_path / "run"), "--ema-decay", decay]) == 1
    assert "--ema-decay" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bounds", [["0", "0.08"], ["0.08", "0.001"], ["-1", "0.08"]])
def test_a_lambda_range_out_of_order_is_refused_before_training(tmp_path: Path, bounds: list[str],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    from sdpic.cli import main

    monkeypatch.setenv("SDPIC_NO_REEXEC", "1")
    assert main(["train", "--run-dir", str(tmp_path / "run"), "--lambda-range", *bounds]) == 1
    assert "--lambda-range" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
