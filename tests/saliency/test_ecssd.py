"""Accuracy on a few held-out ECSSD images (skips without ../shared)."""

from __future__ import annotations

from sdpic.saliency.data import split_paths
from sdpic.saliency.evaluate import evaluate


def test_learned_beats_rc_on_validation_images(ecssd_dir, learned_weights) -> None:
    pairs = split_paths(ecssd_dir, "val")[:12]
    res = evaluate(pairs, ["learned", "hc"], progress=False)
    assert res["learned"]["mae"] < 0.1
    assert res["learned"]["max_f"] > 0.8
    assert res["learned"]["max_f"] > res["hc"]["max_f"] + 0.1
