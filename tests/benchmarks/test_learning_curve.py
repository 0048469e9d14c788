"""benchmarks/learning_curve.py: recipe marks persist in the JSON and merge by step."""

from __future__ import annotations

import pytest

from benchmarks.learning_curve import merge_marks


def test_new_marks_join_the_stored_ones_in_step_order() -> None:
    assert merge_marks(["9435:fresh Adam", "6394:decay"], ["36716:fresh Adam, lr 1e-4"]) == [
        "6394:decay", "9435:fresh Adam", "36716:fresh Adam, lr 1e-4"]


def test_a_new_label_at_a_marked_step_replaces_the_old_one() -> None:
    assert merge_marks(["6394:decay", "9435:old"], ["9435:new: with a colon"]) == [
        "6394:decay", "9435:new: with a colon"]


@pytest.mark.parametrize("bad", ["no step", "12:", "x:label", ":label"])
def test_malformed_marks_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="STEP:LABEL"):
        merge_marks([], [bad])
