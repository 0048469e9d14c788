"""The realism decoder's training: the step's wiring, the schedule, and resuming (tiny crops, a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sdpic.codec.realism import realism_map
from sdpic.errors import ModelMismatchError, ParameterError
from sdpic.train.realism import (
    RealismConfig,
    RealismTrainer,
    adversarial_scale,
    sample_quality_maps,
    sample_realism,
    train_realism,
)
from sdpic.zoo import REGISTRY, load_realism_file
from tests.train.test_data import _ecssd_like


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def _config(tmp_path: Path, **kw) -> RealismConfig:
    return RealismConfig(run_dir=tmp_path / "run", base=REGISTRY["sdpic"].path, folders=[tmp_path / "data" / "images"],
                         steps=3, batch_size=2, crop=64, disc_warmup_steps=1, adversarial_ramp_steps=1,
                         warmup_steps=1, bf16=False, threads=1, snapshot_every=3, log_every=1, seed=0, **kw)


def test_a_run_logs_both_players_writes_snapshots_and_resumes_with_the_discriminator(tmp_path: Path) -> None:
    _ecssd_like(tmp_path / "data", n=2, size=(96, 96))
    cfg = _config(tmp_path, save_state=tmp_path / "state.safetensors")
    train_realism(cfg)
    log = [json.loads(line) for line in (cfg.run_dir / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3]
    assert "g_adv" not in log[0] and {"g_adv", "loss_d", "d_real", "d_fake"} <= set(log[2])
    decoder = load_realism_file(cfg.run_dir / "snapshots" / "step_0000003.safetensors", cfg.base)
    assert decoder.g_s is not None

    saved = torch.load(cfg.run_dir / "checkpoint.pt", weights_only=True)
    resumed = RealismTrainer(cfg)
    resumed.load_checkpoint(saved)
    assert resumed.step == 3
    for name, value in resumed.disc.state_dict().items():
        assert torch.equal(value, saved["discriminator"][name]), name
    fresh = RealismTrainer(cfg)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.disc.state_dict().values(),
                                                      resumed.disc.state_dict().values(), strict=True))

    # the state file (what the repository keeps) restores decoder, average and discriminator, not Adam
    from_state = RealismTrainer(cfg)
    from_state.load_state_file(cfg.save_state)
    assert from_state.step == 3 and from_state.optimizer_start == 3
    for a, b in ((from_state.disc, resumed.disc), (from_state.decoder, resumed.decoder)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), name
    cfg.steps = 4
    train_realism(cfg)  # continues from the checkpoint in the run folder
    assert torch.load(cfg.run_dir / "checkpoint.pt", weights_only=True)["step"] == 4


def test_a_state_for_other_base_weights_is_refused(tmp_path: Path) -> None:
    _ecssd_like(tmp_path / "data", n=1, size=(96, 96))
    trainer = RealismTrainer(_config(tmp_path))
    trainer.save_state_file(tmp_path / "state.safetensors")
    other = RealismTrainer(_config(tmp_path))
    other.cfg.base = REGISTRY["sdpic-mse"].path
    other.base_hash = b"\0" * 8
    with pytest.raises(ModelMismatchError):
        other.load_state_file(tmp_path / "state.safetensors")
    with pytest.raises(ParameterError, match="state file"):
        other.load_state_file(REGISTRY["sdpic"].path)


def test_the_adversarial_weight_waits_for_the_discriminator_then_ramps() -> None:
    cfg = RealismConfig(run_dir=Path("unused"), base=Path("unused"), disc_warmup_steps=100,
                        adversarial_ramp_steps=50, adversarial_weight=8.0)
    assert adversarial_scale(cfg, 0) == adversarial_scale(cfg, 99) == 0.0
    assert adversarial_scale(cfg, 100) == pytest.approx(8.0 / 50)
    assert adversarial_scale(cfg, 124) == pytest.approx(4.0)
    assert adversarial_scale(cfg, 149) == adversarial_scale(cfg, 10_000) == 8.0


def test_quality_maps_come_with_the_base_level_a_file_would_carry() -> None:
    g = torch.Generator().manual_seed(0)
    saliency = torch.zeros(64, 1, 64, 64)
    saliency[:, :, :32, :32] = 1.0
    q, base = sample_quality_maps(saliency, g)
    levels = q * 64
    assert torch.equal(levels, levels.round()) and q.shape == (64, 1, 4, 4)
    # random maps: base = their lowest level; saliency-derived maps: the global level, which the salient
    # corner rises above and the rest falls below
    assert (levels.flatten(1).min(dim=1).values <= base).all()
    lifted = levels[:, 0, 0, 0] > base + 1
    assert lifted.sum() > 10
    r = realism_map(levels, base, 1.0)
    assert (r[lifted][:, 0, 0, 0] < 1.0).all() and (r[levels <= base.view(-1, 1, 1, 1)] == 1.0).all()


def test_realism_is_drawn_with_mass_at_both_ends() -> None:
    cfg = RealismConfig(run_dir=Path("unused"), base=Path("unused"))
    r = sample_realism(cfg, 10_000, torch.Generator().manual_seed(0))
    assert (r == 0).float().mean() == pytest.approx(0.2, abs=0.02)
    assert (r == 1).float().mean() == pytest.approx(0.3, abs=0.02)
    assert r.min() >= 0 and r.max() <= 1
