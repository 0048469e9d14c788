"""The evaluation metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sdpic.saliency.evaluate import Scores, binarise_mask, markdown_table, score, to_uint8


def test_two_by_two_by_hand() -> None:
    gt = np.array([[255, 255], [0, 0]], np.uint8)
    pred = np.array([[1.0, 0.5], [0.5, 0.0]], np.float32)  # -> uint8 255, 128, 128, 0
    res = score(pred, gt)
    # MAE: |1-1| + |128/255-1| + |128/255-0| + 0 = 1, over 4 pixels
    assert res["mae"] == pytest.approx(0.25)
    # thresholds above 128 keep one pixel: P=1, R=1/2 -> F = 1.3*0.5/(0.3+0.5) = 0.8125 (the best);
    # thresholds up to 128 keep three: P=2/3, R=1 -> F = 0.7222
    assert res["max_f"] == pytest.approx(1.3 * 0.5 / 0.8)


def test_perfect_and_uniform_maps() -> None:
    gt = np.zeros((16, 16), np.uint8)
    gt[4:12, 4:12] = 255
    perfect = score(gt / 255.0, gt)
    assert perfect["mae"] == 0.0
    assert perfect["max_f"] == pytest.approx(1.0)
    assert perfect["s_measure"] == pytest.approx(1.0)
    # a uniform map on an all-foreground mask: S-measure is the map's mean (128/255); MAE is 1 - 128/255
    uniform = score(np.full((8, 8), 128, np.uint8), np.full((8, 8), 255, np.uint8))
    assert uniform["s_measure"] == pytest.approx(128 / 255)
    assert uniform["mae"] == pytest.approx(1 - 128 / 255)


def test_e_measure_empty_mask_by_hand() -> None:
    # all-background mask, all-zero map, N = 16 pixels: every threshold t > 0 leaves all N pixels background,
    # E = N / (N - 1) (the reference implementation divides by N - 1); t = 0 marks everything foreground, E = 0.
    # The mean over the 256 thresholds is 255/256 * 16/15.
    res = score(np.zeros((4, 4)), np.zeros((4, 4), np.uint8))
    assert res["e_measure"] == pytest.approx(255 / 256 * 16 / 15)
    assert res["s_measure"] == pytest.approx(1.0)


def test_scores_average_over_images() -> None:
    gt = np.array([[255, 0], [255, 0]], np.uint8)
    s = Scores()
    s.add(np.array([[1.0, 0.0], [1.0, 0.0]]), gt)  # MAE 0
    s.add(np.array([[0.0, 1.0], [0.0, 1.0]]), gt)  # MAE 1
    assert s.result()["mae"] == pytest.approx(0.5)
    assert s.count == 2


def test_helpers() -> None:
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 0.5, 1.0, 2.0])), [0, 128, 255, 255])
    np.testing.assert_array_equal(binarise_mask(np.array([[0, 128, 129, 255]], np.uint8)), [[0, 0, 255, 255]])
    np.testing.assert_array_equal(binarise_mask(np.array([[0.2, 0.9]])), [[0, 255]])
    table = markdown_table(
        {"hc": {"mae": 0.3, "max_f": 0.5, "s_measure": 0.5, "e_measure": 0.5, "seconds_per_image": 0.1}},
        "t",
        "sdpic saliency eval",
    )
    assert "| hc | 0.3000 | 0.5000 |" in table and "sdpic saliency eval" in table
