"""Shared fixtures: small natural-looking test images and the path to ../shared when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SDPIC_SHARED", ROOT.parent / "shared"))


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic smooth colour image with an edge (compresses like a photo, not like noise)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([
        128 + 60 * np.sin(xs / 17.0 + rng.uniform(0, 6)) + 30 * np.cos(ys / 11.0),
        128 + 50 * np.cos((xs + ys) / 23.0 + rng.uniform(0, 6)),
        100 + 0.2 * xs - 0.1 * ys,
    ], axis=2)
    img[ys > height / 2] += 40
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def photo() -> np.ndarray:
    return smooth_image(96, 128)


@pytest.fixture
def kodak_dir() -> Path:
    path = SHARED / "data" / "kodak"
    if not path.is_dir():
        pytest.skip(f"Kodak images not found at {path} (set SDPIC_SHARED)")
    return path


@pytest.fixture
def realism_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sdpic model given a realism decoder (the base g_s with a perturbed realism encoder) and a default
    realism of 0.5, as a shipped one would be."""
    from dataclasses import replace

    import torch

    from sdpic import zoo
    from sdpic.codec.realism import RealismDecoder

    decoder = RealismDecoder.from_base(zoo.load_model("sdpic"))
    with torch.no_grad():
        torch.manual_seed(0)
        decoder.realism_encoder.net[-1].weight.normal_(0, 0.5)
    path = tmp_path / "realism.safetensors"
    zoo.save_realism_file(decoder, path, zoo.REGISTRY["sdpic"].path)
    monkeypatch.setitem(zoo.REGISTRY, "sdpic", replace(zoo.REGISTRY["sdpic"], realism_filename=str(path),
                                                      default_realism=0.5))
    monkeypatch.setattr(zoo, "_realism", {})
    return path
