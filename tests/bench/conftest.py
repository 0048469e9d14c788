"""Small synthetic images for the bench tests (no shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A natural-ish test image: smooth gradients plus a little texture (codecs behave normally on it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(xx / 13.0) * np.cos(yy / 17.0)
    g = 128 + 80 * np.cos((xx + yy) / 21.0)
    b = 100 + 0.4 * xx + 0.3 * yy
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture
def small_rgb() -> np.ndarray:
    return smooth_image(48, 64)


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(176, 192, seed=i)).save(folder / f"img{i}.png")
    return folder
