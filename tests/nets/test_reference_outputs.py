"""The merged MobileNetV2 (sdpic.nets.mobilenet_v2) must give what the three former copies gave.

``reference_outputs.json`` was written by ``reference_outputs.py --write`` on the code before the merge:
the learned saliency map and the ImageNet classifier's logits
on a fixed closed-form image. Tolerances allow float rounding differences between CPUs only.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .reference_outputs import REFERENCE_FILE, compute


@pytest.fixture(scope="module")
def values() -> tuple[dict, dict]:
    from sdpic.errors import WeightsNotFoundError

    try:
        now = compute()
    except WeightsNotFoundError as exc:
        pytest.skip(f"pretrained weights not installed: {exc}")
    return json.loads(REFERENCE_FILE.read_text()), now


@pytest.mark.parametrize(
    "key",
    [
        "saliency_map_mean",
        "saliency_map_samples",
        "classifier_top5_logit",
    ],
)
def test_same_values_as_before_the_merge(values: tuple[dict, dict], key: str) -> None:
    before, now = values
    np.testing.assert_allclose(np.asarray(now[key]), np.asarray(before[key]), rtol=2e-5, atol=2e-6)


def test_same_classifier_ranking(values: tuple[dict, dict]) -> None:
    before, now = values
    assert now["classifier_top5_index"] == before["classifier_top5_index"]
