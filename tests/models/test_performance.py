"""Estimated (CBPE) and realised performance of scored dates; the silent flag's follow-up."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from configs import DEMO_CONFIG, parse_config
from models.metrics import probability_metrics
from models.performance import (
    estimated_performance,
    expected_average_precision,
    expected_roc_auc,
    matured_dates,
    realised_performance,
    silent_follow_up,
)

CAPACITY = 500


def _config(tmp_path, horizon_days: int = 30, grace_days: int = 0):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["churn"] |= {"horizon_days": horizon_days, "grace_days": grace_days}
    raw["training"]["step_days"] = max(raw["training"]["step_days"], horizon_days + grace_days)
    return parse_config(raw, base=tmp_path)


def _scores(prob: np.ndarray, as_of: date = date(2025, 6, 1), version: str = "1", capacity: int = CAPACITY, prefix: str = "C"):
    """churn_scores rows as the scorer writes them: ranked by probability, the top ``capacity`` high."""
    order = np.argsort(-prob, kind="stable")
    rank = np.empty(len(prob), dtype=np.int64)
    rank[order] = np.arange(1, len(prob) + 1)
    return pl.DataFrame(
        {
            "as_of": [as_of] * len(prob),
            "customer_id": [f"{prefix}{i:05d}" for i in range(len(prob))],
            "churn_probability": prob,
            "risk_rank": rank,
            "risk_tier": np.where(rank <= capacity, "high", "low"),
            "model_version": [version] * len(prob),
        }
    )


def _outcomes(scores: pl.DataFrame, churned: np.ndarray) -> pl.DataFrame:
    return scores.select("as_of", "customer_id").with_columns(churned=pl.Series(churned, dtype=pl.Boolean))


def _metric(frame: pl.DataFrame, metric: str, **keys) -> float:
    rows = frame.filter(pl.col("metric") == metric, *[pl.col(k) == v for k, v in keys.items()])
    return rows["value"].item()


def test_expected_roc_auc_by_hand():
    # concordant: .9 x .5 + .9 x .9 + .5 x .9 = 1.71; pairs: 1.5 x 1.5 - (.09 + .25 + .09) = 1.82
    assert expected_roc_auc(np.array([0.9, 0.5, 0.1])) == pytest.approx(1.71 / 1.82, rel=1e-12)
    # equal scores rank nothing: one half, whatever the probabilities
    assert expected_roc_auc(np.array([0.3, 0.3, 0.3])) == pytest.approx(0.5, rel=1e-12)
    assert np.isnan(expected_roc_auc(np.zeros(4)))  # no positive is possible: undefined, not a number


def _enumerate(prob: np.ndarray):
    """Every label vector with its probability: the exact expectations the estimators approximate."""
    for labels in itertools.product([0, 1], repeat=len(prob)):
        y = np.array(labels)
        yield y, float(np.prod(np.where(y == 1, prob, 1 - prob)))


def test_expected_metrics_are_exact_ratios_of_expectations():
    """The numerators and denominators are exact: checked against all 2^8 label vectors."""
    prob = np.array([0.95, 0.7, 0.62, 0.4, 0.4, 0.21, 0.1, 0.03])
    order = np.argsort(-prob, kind="stable")
    concordant = pairs = ap_sum = positives = 0.0
    for y, weight in _enumerate(prob):
        pos, neg = prob[y == 1], prob[y == 0]
        concordant += weight * sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
        pairs += weight * len(pos) * len(neg)
        hits = np.cumsum(y[order])
        ap_sum += weight * float(np.sum(hits / np.arange(1, 9) * y[order]))
        positives += weight * y.sum()
    assert expected_roc_auc(prob) == pytest.approx(concordant / pairs, rel=1e-12)
    assert expected_average_precision(prob) == pytest.approx(ap_sum / positives, rel=1e-12)


def _world(seed: int, n: int = 20_000) -> np.ndarray:
    """Churn probabilities shaped like the model's: a few % on average, a long right tail."""
    return np.random.default_rng(seed).beta(0.6, 12.0, n)


@pytest.mark.parametrize("seed", range(5))
def test_estimate_holds_when_labels_follow_the_probabilities(seed):
    prob = _world(seed)
    scores = _scores(prob)
    churned = np.random.default_rng(100 + seed).random(len(prob)) < prob
    estimated = estimated_performance(scores)
    realised = realised_performance(scores, _outcomes(scores, churned), _config(None), date(2026, 1, 1))
    sd = _metric(estimated, "precision_at_capacity_sd")
    assert abs(_metric(estimated, "precision_at_capacity") - _metric(realised, "precision_at_capacity")) < 3 * sd
    assert _metric(estimated, "positives_at_capacity") == pytest.approx(_metric(estimated, "precision_at_capacity") * CAPACITY)
    assert abs(_metric(estimated, "roc_auc") - _metric(realised, "roc_auc")) < 0.03
    assert abs(_metric(estimated, "recall_at_capacity") - _metric(realised, "recall_at_capacity")) < 0.05


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("truth", [lambda p: p**2, lambda p: np.minimum(3 * p, 1.0)], ids=["p_squared", "three_p"])
def test_estimate_misses_when_calibration_does_not_hold(seed, truth):
    """The assumption is visible: labels drawn from another probability than the published one."""
    prob = _world(seed)
    scores = _scores(prob)
    churned = np.random.default_rng(100 + seed).random(len(prob)) < truth(prob)
    estimated = estimated_performance(scores)
    realised = realised_performance(scores, _outcomes(scores, churned), _config(None), date(2026, 1, 1))
    sd = _metric(estimated, "precision_at_capacity_sd")
    assert abs(_metric(estimated, "precision_at_capacity") - _metric(realised, "precision_at_capacity")) > 3 * sd


@pytest.mark.parametrize(
    ("as_of", "horizon", "grace", "today", "matured"),
    [
        (date(2025, 6, 1), 30, 0, date(2025, 7, 1), True),  # the horizon ends at the start of today
        (date(2025, 6, 1), 30, 0, date(2025, 6, 30), False),  # its last day is not over yet
        (date(2025, 6, 1), 30, 5, date(2025, 7, 1), False),  # grace: a renewal may still come
        (date(2025, 6, 1), 30, 5, date(2025, 7, 6), True),
        (date(2025, 6, 1), 30, 0, date(2025, 6, 1), False),  # scored today
    ],
)
def test_matured_dates_truth_table(tmp_path, as_of, horizon, grace, today, matured):
    assert matured_dates([as_of], _config(tmp_path, horizon, grace), today) == ([as_of] if matured else [])


def test_realised_uses_matured_dates_only_per_model_version(tmp_path):
    """Outcomes exist for every date (a careless caller), yet only matured dates are scored, and two
    model versions on one date are two groups with their own figures."""
    dates = [date(2025, 5, 1), date(2025, 5, 31), date(2025, 6, 10)]  # today 2025-07-01: the third is immature
    rng = np.random.default_rng(7)
    parts = []
    for d in dates:
        for version, prefix in [("3", "A"), ("4", "B")]:
            parts.append(_scores(rng.uniform(size=40), as_of=d, version=version, capacity=10, prefix=prefix))
    scores = pl.concat(parts)
    churned = rng.random(scores.height) < scores["churn_probability"].to_numpy()
    realised = realised_performance(scores, _outcomes(scores, churned), _config(tmp_path), date(2025, 7, 1))
    assert realised.select("as_of", "model_version").unique().sort(pl.all()).rows() == [
        (date(2025, 5, 1), "3"), (date(2025, 5, 1), "4"), (date(2025, 5, 31), "3"), (date(2025, 5, 31), "4"),
    ]
    assert set(realised["kind"]) == {"realised"}
    for version in ["3", "4"]:
        rows = scores.with_columns(churned=pl.Series(churned)).filter(pl.col("as_of") == dates[0], pl.col("model_version") == version)
        by_rank = rows.sort("risk_rank")
        expected_ece = probability_metrics(by_rank["churned"].to_numpy(), by_rank["churn_probability"].to_numpy())["ece"]
        assert _metric(realised, "ece", as_of=dates[0], model_version=version) == pytest.approx(expected_ece)
        assert _metric(realised, "roc_auc", as_of=dates[0], model_version=version) == pytest.approx(
            roc_auc_score(rows["churned"], rows["churn_probability"])
        )


def test_realised_figures_by_hand(tmp_path):
    prob = np.array([0.9, 0.8, 0.6, 0.4, 0.2, 0.1])
    scores = _scores(prob, capacity=2)
    outcomes = _outcomes(scores, np.array([True, False, True, False, False, False]))[:5]  # the last has no outcome
    realised = realised_performance(scores, outcomes, _config(tmp_path), date(2025, 8, 1))
    expected = {
        "precision_at_capacity": (0.5, 5),  # 1 of the 2 highest churned
        "positives_at_capacity": (1.0, 5),
        "recall_at_capacity": (0.5, 5),  # 1 of 2 churners reached
        "base_rate": (0.4, 5),
        "lift_at_capacity": (0.5 / 0.4, 5),
        "roc_auc": (5 / 6, 5),  # churners at .9 and .6 above 3 and 2 of the 3 others
        "outcome_coverage": (5 / 6, 6),
    }
    for metric, (value, n) in expected.items():
        row = realised.filter(pl.col("metric") == metric)
        assert (row["value"].item(), row["n"].item()) == (pytest.approx(value), n), metric


def test_a_single_class_gives_null_not_nan(tmp_path):
    scores = _scores(np.array([0.3, 0.2, 0.1]), capacity=1)
    realised = realised_performance(scores, _outcomes(scores, np.zeros(3, dtype=bool)), _config(tmp_path), date(2025, 8, 1))
    assert _metric(realised, "roc_auc") is None
    assert realised["value"].is_nan().sum() == 0


def test_missing_columns_are_named(tmp_path):
    scores = _scores(np.array([0.3, 0.2]), capacity=1)
    with pytest.raises(ValueError, match=r"churn_scores lacks column\(s\) \['risk_tier'\].*docs/monitoring\.md"):
        estimated_performance(scores.drop("risk_tier"))
    with pytest.raises(ValueError, match=r"outcomes lacks column\(s\) \['churned'\]"):
        realised_performance(scores, scores.select("as_of", "customer_id"), _config(tmp_path), date(2025, 8, 1))
    twice = pl.concat([_outcomes(scores, np.array([True, False]))] * 2)
    with pytest.raises(ValueError, match=r"more than one row for an \(as_of, customer_id\)"):
        realised_performance(scores, twice, _config(tmp_path), date(2025, 8, 1))
    # the right columns and one outcome each: accepted
    assert realised_performance(scores, twice[:2], _config(tmp_path), date(2025, 8, 1)).height > 0


def _at(d: date, days: float) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=days)


def test_silent_follow_up_counts_answers_inside_the_window_only(tmp_path):
    june, july = date(2025, 6, 1), date(2025, 7, 15)  # today 2025-08-01: July is not matured
    scores = pl.DataFrame(
        {
            "as_of": [june] * 6 + [july],
            "customer_id": ["F1", "F2", "F3", "F4", "U1", "U2", "F1"],
            "silent_dissatisfied": [True, True, True, True, False, False, True],
            "model_version": ["2"] * 7,
        }
    )
    surveys = pl.DataFrame(
        {
            "customer_id": ["F1", "F1", "F2", "F3", "F4", "U1", "U2", "F1"],
            "responded_at": [
                _at(june, 3), _at(june, 10),  # F1: first answer in the window decides (3 = dissatisfied)
                _at(june, 29.9),  # F2: inside, satisfied
                _at(june, -1),  # F3: before as_of: known when scoring, not a follow-up
                _at(june, 30),  # F4: the horizon has ended
                _at(june, 5), _at(june, 6),  # unflagged: one dissatisfied, one not
                _at(july, 2),  # July's answer: not matured, never counted
            ],
            "score": [3.0, 9.0, 8.0, 1.0, 1.0, 5.0, 9.0, 0.0],
        }
    )
    follow_up = silent_follow_up(scores, surveys, _config(tmp_path), date(2025, 8, 1))
    assert set(follow_up["as_of"]) == {june}
    values = {row["metric"]: (row["value"], row["n"]) for row in follow_up.iter_rows(named=True)}
    assert values == {
        "silent_answered_share": (pytest.approx(2 / 4), 4),
        "silent_dissatisfied_share": (pytest.approx(1 / 2), 2),
        "unflagged_dissatisfied_share": (pytest.approx(1 / 2), 2),
    }


def test_silent_follow_up_without_answers_is_null_not_zero(tmp_path):
    scores = pl.DataFrame({"as_of": [date(2025, 6, 1)], "customer_id": ["F1"], "silent_dissatisfied": [True], "model_version": ["2"]})
    surveys = pl.DataFrame({"customer_id": ["X"], "responded_at": [_at(date(2025, 6, 1), 1)], "score": [9.0]})
    follow_up = silent_follow_up(scores, surveys, _config(tmp_path), date(2025, 8, 1))
    assert _metric(follow_up, "silent_answered_share") == 0.0
    assert _metric(follow_up, "silent_dissatisfied_share") is None


def test_a_realised_pr_auc_under_the_threshold_alarms_only_beyond_sampling_noise(tmp_path):
    """The same weak model (realised PR-AUC ~0.6 x the test's) on a small and a large company: the small
    one's interval still reaches 0.8 x test, so no alarm; the large one's does not."""
    from flows.monitor_tasks import realised_checks

    def check(n: int) -> dict:
        rng = np.random.default_rng(3)
        prob = rng.random(n) * 0.06
        churned = rng.random(n) < 0.01 + 0.3 * prob  # a faint signal: PR-AUC a little over the base rate
        scores = _scores(prob, capacity=n // 20)
        realised = realised_performance(scores, _outcomes(scores, churned), _config(tmp_path), date(2025, 8, 1))
        test_pr_auc = _metric(realised, "pr_auc") / 0.6
        [found] = realised_checks(realised, {"1": test_pr_auc}, 0.8)
        assert found["pr_auc"] < 0.8 * test_pr_auc < found["pr_auc_upper"] or n > 10_000
        return found

    assert check(1_500)["below"] is False
    large = check(200_000)
    assert large["below"] is True and large["pr_auc"] < large["pr_auc_upper"] < 0.8 * large["pr_auc"] / 0.6


@pytest.mark.parametrize(
    ("metrics", "upper", "below"),
    [
        ({"pr_auc": 0.05, "pr_auc_upper": 0.07}, 0.07, True),  # even the bound is under 0.8 x 0.1
        ({"pr_auc": 0.05, "pr_auc_upper": 0.09}, 0.09, False),  # low, but within sampling noise
        ({"pr_auc": 0.05}, 0.05, True),  # rows written before the bound existed: the PR-AUC is its own bound
        ({"pr_auc": None, "pr_auc_upper": None}, None, None),  # one class only: nothing to judge
    ],
)
def test_every_realised_check_holds_its_upper_bound(metrics, upper, below):
    from flows.monitor_tasks import realised_checks

    realised = pl.DataFrame(
        [{"as_of": date(2025, 6, 1), "model_version": "1", "metric": m, "value": v} for m, v in metrics.items()],
        schema={"as_of": pl.Date, "model_version": pl.String, "metric": pl.String, "value": pl.Float64},
    )
    [found] = realised_checks(realised, {"1": 0.1}, 0.8)
    assert (found["pr_auc_upper"], found["below"]) == (upper, below)
