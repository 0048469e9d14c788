"""The training loop's wiring (two steps on tiny crops, not training to any quality)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from sdpic.errors import ParameterError
from sdpic.train.loop import TrainConfig, WeightAverage, learning_rate, train
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


def test_weight_average_is_an_exponential_moving_average_of_the_parameters() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average = WeightAverage(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(5.0)
    average.update(model)  # 0.75 * 1 + 0.25 * 5
    twin = average.averaged_copy(model)
    assert torch.equal(twin.weight, torch.full((1, 2), 2.0))
    assert torch.equal(model.weight, torch.full((1, 2), 5.0))  # the live model is untouched
    with pytest.raises(ParameterError, match="decay"):
        WeightAverage(model, decay=1.0)
    with pytest.raises(ParameterError, match="match"):
        WeightAverage(model, decay=0.5, state={"weight": model.weight.detach()})


def test_averaged_run_snapshots_both_weights_and_resumes_its_average(tmp_path: Path) -> None:
    from sdpic.zoo import load_model_file

    _ecssd_like(tmp_path / "data", n=2, size=(96, 96))
    cfg = TrainConfig(run_dir=tmp_path / "run", folders=[tmp_path / "data" / "images"], steps=2, batch_size=1, crop=64,
                      warmup_steps=1, bf16=False, threads=1, snapshot_every=2, seed=0, ema_decay=0.5,
                      export=tmp_path / "export.safetensors")
    ckpt_path = train(cfg)
    snapshots = tmp_path / "run" / "snapshots"
    raw = load_model_file(snapshots / "step_0000002.safetensors", prepare=False).state_dict()
    averaged = load_model_file(snapshots / "step_0000002-ema.safetensors", prepare=False).state_dict()
    shipped = load_model_file(tmp_path / "export.safetensors", prepare=False).state_dict()
    assert not torch.equal(raw["g_a.convs.0.weight"], averaged["g_a.convs.0.weight"])
    assert torch.equal(shipped["g_a.convs.0.weight"], averaged["g_a.convs.0.weight"])  # --export ships the average
    stored = torch.load(ckpt_path, weights_only=True)["weight_average"]
    cfg.steps = 3
    train(cfg)  # resumes: the stored average goes on, one more 0.5 step toward the new weights
    resumed = torch.load(ckpt_path, weights_only=True)
    # the stopping step (3, not a multiple of snapshot_every) is snapshotted too, both kinds
    assert (snapshots / "step_0000003.safetensors").is_file() and (snapshots / "step_0000003-ema.safetensors").is_file()
    name = "g_a.convs.0.weight"
    expected = 0.5 * stored[name] + 0.5 * resumed["model"][name]
    assert torch.allclose(resumed["weight_average"][name], expected, rtol=0, atol=1e-7)


def test_a_resumed_runs_first_log_line_averages_only_the_steps_it_ran(tmp_path: Path) -> None:
    import json

    _ecssd_like(tmp_path / "data", n=1, size=(96, 96))
    cfg = TrainConfig(run_dir=tmp_path / "run", folders=[tmp_path / "data" / "images"], steps=3, batch_size=1, crop=64,
                      warmup_steps=1, bf16=False, threads=1, seed=0, log_every=2)
    train(cfg)  # logs step 2 (2 steps), stops at 3
    cfg.steps = 4
    train(cfg)  # resumes at 3, logs step 4 after one step
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["averaged_steps"]) for r in lines] == [(2, 2), (4, 1)]


def test_lambda_range_is_recorded_in_the_weights_and_kept_on_resume_and_init(tmp_path: Path) -> None:
    import json

    _ecssd_like(tmp_path / "data", n=2, size=(128, 128))
    folders = [tmp_path / "data" / "images"]
    cfg = TrainConfig(run_dir=tmp_path / "run", folders=folders, steps=1, batch_size=1, crop=64, warmup_steps=1,
                      bf16=False, threads=1, snapshot_every=1, seed=0, lambda_range=(0.0002, 0.08))

    def lambdas(path: Path) -> tuple[float, float]:
        with safe_open(str(path), framework="pt") as fh:
            config = json.loads(fh.metadata()["config"])
        return config["lambda_min"], config["lambda_max"]

    train(cfg)
    assert lambdas(tmp_path / "run" / "snapshots" / "step_0000001.safetensors") == (0.0002, 0.08)
    cfg.steps, cfg.lambda_range = 2, None  # resumed without the flag: the checkpoint's range
    train(cfg)
    first_run = tmp_path / "run" / "snapshots" / "step_0000002.safetensors"
    assert lambdas(first_run) == (0.0002, 0.08)
    # a new run from those weights inherits their range, unless told otherwise
    train(replace(cfg, run_dir=tmp_path / "init", steps=3, init_from=first_run))
    assert lambdas(tmp_path / "init" / "snapshots" / "step_0000003.safetensors") == (0.0002, 0.08)
    train(replace(cfg, run_dir=tmp_path / "other", steps=3, init_from=first_run, lambda_range=(0.001, 0.05)))
    assert lambdas(tmp_path / "other" / "snapshots" / "step_0000003.safetensors") == (0.001, 0.05)
    # a checkpoint from before the config was stored resumes with the range it was trained with
    checkpoint = tmp_path / "other" / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    del state["config"]
    torch.save(state, checkpoint)
    train(replace(cfg, run_dir=tmp_path / "other", steps=4))
    assert lambdas(tmp_path / "other" / "snapshots" / "step_0000004.safetensors") == (0.0015, 0.08)

