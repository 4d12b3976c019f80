"""Time-split integrity and metric truth tables."""

from datetime import date, timedelta

import numpy as np
import pytest

from models.metrics import expected_calibration_error, ranking_metrics, top_k_mask
from models.split import split_by_time

D = [date(2025, 1, 1) + timedelta(days=30 * i) for i in range(6)]


def test_split_is_by_time_with_embargo():
    split = split_by_time(list(reversed(D)), label_days=30)
    assert split.test == D[-1] and split.valid == D[-2]
    assert split.train == tuple(D[:-2])
    assert max(split.train) < split.valid < split.test
    for d in split.train:
        assert split.label_end(d) <= split.valid  # no outcome after the validation as_of informs training
    assert split.label_end(split.valid) <= split.test


def test_training_dates_that_break_the_embargo_are_left_out():
    late = D[3] + timedelta(days=15)  # its labels run 15 days into the validation window
    split = split_by_time(D + [late], label_days=30)
    assert all(split.label_end(d) <= split.valid for d in split.train)
    assert late not in split.train and D[3] in split.train


def test_split_refuses_overlapping_validation_and_test():
    close = [D[0], D[1], D[2], D[2] + timedelta(days=10)]
    with pytest.raises(ValueError, match="step_days"):
        split_by_time(close, label_days=30)


def test_split_needs_four_dates():
    with pytest.raises(ValueError, match="at least 4"):
        split_by_time(D[:3], label_days=30)


@pytest.mark.parametrize(
    ("y", "score", "capacity", "expected"),
    [
        ([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], 1, {"base_rate": 0.25, "roc_auc": 1.0, "lift_at_capacity": 4.0, "recall_at_capacity": 1.0}),
        ([1, 0, 1, 0], [0.9, 0.8, 0.1, 0.2], 2, {"base_rate": 0.5, "roc_auc": 0.5, "lift_at_capacity": 1.0, "recall_at_capacity": 0.5}),
        ([0, 0, 1, 1], [0.9, 0.8, 0.1, 0.2], 2, {"roc_auc": 0.0, "recall_at_capacity": 0.0}),
    ],
)
def test_ranking_metrics_truth_table(y, score, capacity, expected):
    got = ranking_metrics(np.array(y), np.array(score), capacity)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)


def test_ece_is_zero_when_calibrated_and_positive_when_not():
    p = np.repeat(np.linspace(0.05, 0.95, 10), 100)
    y = np.concatenate([np.r_[np.ones(round(q * 100)), np.zeros(100 - round(q * 100))] for q in np.linspace(0.05, 0.95, 10)])
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=0.01)
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15


def test_top_k_ties_are_broken_by_the_tiebreak_key():
    mask = top_k_mask(np.array([0.5, 0.5, 0.5]), 1, tiebreak=np.array([2, 0, 1]))
    assert mask.tolist() == [False, True, False]
