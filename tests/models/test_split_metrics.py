"""Time-split integrity and metric truth tables."""

from datetime import date, timedelta

import numpy as np
import pytest

from sklearn.metrics import average_precision_score

from models.metrics import average_precision_upper, expected_calibration_error, ranking_metrics, top_k_mask
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


def _world(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), 2)  # many ties, as tiers and rounded probabilities give
    return rng.random(n) < 0.03 * (0.5 + score), score


def test_the_upper_bound_is_a_bootstrap_quantile_of_average_precision():
    y, score = _world(1500)
    brute = [average_precision_score(y, score, sample_weight=w) for w in np.random.default_rng(7).poisson(1.0, size=(300, len(y)))]
    upper = average_precision_upper(y, score)
    assert average_precision_score(y, score) < upper  # an upper bound lies above the point estimate
    assert upper == pytest.approx(np.quantile(brute, 0.95), abs=0.006)  # the same bootstrap, drawn by brute force
    assert average_precision_upper(y, score, level=0.5) == pytest.approx(np.median(brute), abs=0.004)


def test_the_upper_bound_narrows_with_more_customers_and_needs_both_classes():
    small_y, small_s = _world(1500)
    large_y, large_s = _world(200_000)
    small = average_precision_upper(small_y, small_s) - average_precision_score(small_y, small_s)
    large = average_precision_upper(large_y, large_s) - average_precision_score(large_y, large_s)
    assert large < small / 5  # ~sqrt(133) narrower
    assert np.isnan(average_precision_upper(np.zeros(5, bool), np.arange(5.0)))
    assert np.isnan(average_precision_upper(np.ones(5, bool), np.arange(5.0)))
