"""Shared fixtures: a synthetic photo with one obvious salient object, and the ECSSD location."""

from __future__ import annotations

import os

# Spinning OpenMP workers collapse on a shared, busy CPU (observed: 98 s instead of 16 s for this folder).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from sdpic.saliency.data import default_ecssd_dir
from sdpic.saliency.learned import default_weights_path


@pytest.fixture(scope="session")
def object_image() -> tuple[np.ndarray, np.ndarray]:
    """A 96x128 grey, slightly noisy background with a saturated red disc in the middle; returns (rgb, mask)."""
    rng = np.random.default_rng(0)
    h, w = 96, 128
    rgb = np.clip(rng.normal(128, 6, size=(h, w, 3)), 0, 255)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < 22**2
    rgb[mask] = (220, 30, 30)
    return rgb.astype(np.uint8), mask


@pytest.fixture(scope="session")
def ecssd_dir() -> Path:
    root = default_ecssd_dir()
    if root is None or not (root / "images").is_dir():
        pytest.skip("ECSSD not available (../shared/data/ecssd or $SDPIC_ECSSD)")
    return root


@pytest.fixture(scope="session")
def learned_weights() -> Path:
    path = default_weights_path()
    if not path.is_file():
        pytest.skip(f"shipped saliency weights missing: {path}")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run the learned model on one thread in tests: fast and stable however loaded the machine is."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
