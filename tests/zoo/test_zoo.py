"""sdpic.zoo: the training steps a weights file records."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from sdpic.zoo import REGISTRY, weights_steps


def test_weights_steps_reads_the_recorded_steps_and_is_zero_without_them(tmp_path: Path) -> None:
    tensors = {"w": torch.zeros(2)}
    save_file(tensors, str(tmp_path / "with.safetensors"), metadata={"steps": "54500"})
    save_file(tensors, str(tmp_path / "without.safetensors"))
    assert weights_steps(tmp_path / "with.safetensors") == 54500
    assert weights_steps(tmp_path / "without.safetensors") == 0


def test_shipped_weights_record_their_steps() -> None:
    for entry in REGISTRY.values():
        if entry.path.exists():
            assert weights_steps(entry.path) > 0, entry.name
