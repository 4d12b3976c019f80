"""Model selection over time: embargoed folds, the one-standard-error choice, paired differences, the gate."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.backtest import CANDIDATES, choose, paired_difference, run_backtest
from models.calibration import Calibrator
from models.registry import gate
from models.split import walk_forward
from models.train import train_models
from tests.models.conftest import make_training_frame, model_config

MONTHLY = [date(2025, 1, 1) + timedelta(days=30 * i) for i in range(6)]  # 30 days apart


# --- embargo: a snapshot trains a fold only when its label window closed by the fold's as-of ----------


@pytest.mark.parametrize(
    ("label_days", "folds", "expected"),
    [
        # label window [D, D+30) closes exactly at the next snapshot: every earlier snapshot trains
        (30, 3, {MONTHLY[3]: MONTHLY[:3], MONTHLY[4]: MONTHLY[:4], MONTHLY[5]: MONTHLY[:5]}),
        # one day longer: the window of the snapshot just before reaches the as-of, so it is left out
        (31, 3, {MONTHLY[3]: MONTHLY[:2], MONTHLY[4]: MONTHLY[:3], MONTHLY[5]: MONTHLY[:4]}),
        # 60 days (horizon 30 + grace 30): two snapshots back; the first fold with data is MONTHLY[2]
        (60, 5, {MONTHLY[2]: MONTHLY[:1], MONTHLY[3]: MONTHLY[:2], MONTHLY[4]: MONTHLY[:3], MONTHLY[5]: MONTHLY[:4]}),
        # nothing before the first snapshot: fewer folds than asked
        (150, 3, {MONTHLY[5]: MONTHLY[:1]}),
        (151, 3, {}),
    ],
    ids=["closes-at-next", "one-day-over", "with-grace", "only-last", "none"],
)
def test_folds_train_only_on_snapshots_whose_label_window_closed_by_the_as_of(label_days, folds, expected):
    got = walk_forward(MONTHLY, label_days, folds)
    assert {f.as_of: list(f.train) for f in got} == expected
    for fold in got:  # the invariant, stated directly
        assert all(d + timedelta(days=label_days) <= fold.as_of for d in fold.train)
        assert fold.as_of not in fold.train


def test_folds_are_the_last_ones_and_order_of_dates_does_not_matter():
    assert [f.as_of for f in walk_forward(list(reversed(MONTHLY)) + MONTHLY[:2], 30, 2)] == MONTHLY[-2:]


# --- the choice: best mean PR-AUC, but the simplest within one standard error ------------------------


@pytest.mark.parametrize(
    ("per_fold", "chosen"),
    [
        ({"regularised": [0.10, 0.11, 0.12], "default": [0.20, 0.21, 0.22]}, "default"),  # clearly better wins
        ({"regularised": [0.10, 0.12, 0.14], "default": [0.11, 0.12, 0.14]}, "regularised"),  # within one SE: simpler
        ({"regularised": [0.10, 0.10, 0.10], "default": [0.10, 0.10, 0.10]}, "regularised"),  # exact tie: simpler
        ({"default": [0.10, 0.10, 0.10], "flexible": [0.30, 0.30, 0.30], "linear_tree": [0.31, 0.31, 0.31]}, "linear_tree"),
        ({"default": [0.2, 0.3, 0.4], "flexible": [0.3, 0.35, 0.4]}, "flexible"),  # 0.30 < 0.35 - SE 0.029: the better one
    ],
    ids=["clear-winner", "within-one-se", "tie", "zero-se", "noisy"],
)
def test_choose_truth_table(per_fold, chosen):
    means = {k: np.mean(v) for k, v in per_fold.items()}
    best = max(means, key=means.get)
    se = np.std(per_fold[best], ddof=1) / np.sqrt(len(per_fold[best]))
    assert chosen == next(k for k in per_fold if means[k] >= means[best] - se)  # the rule, by hand
    assert choose(per_fold) == chosen


def test_candidates_are_listed_simplest_first_and_match_the_config_choices():
    from typing import get_args

    from configs.schema import CandidateName

    assert [c.name for c in CANDIDATES] == list(get_args(CandidateName))
    assert [c.name for c in CANDIDATES if not c.monotone] == ["unconstrained", "linear_tree"]


# --- paired differences ------------------------------------------------------------------------------


def test_paired_difference_against_hand_computed_values():
    out = paired_difference([0.30, 0.32, 0.34], [0.28, 0.31, 0.30])  # differences 0.02, 0.01, 0.04
    sd = np.std([0.02, 0.01, 0.04], ddof=1)
    half = 4.302652729911275 * sd / np.sqrt(3)  # t(0.975, 2)
    assert out["mean"] == pytest.approx(0.07 / 3)
    assert (out["low"], out["high"]) == (pytest.approx(0.07 / 3 - half), pytest.approx(0.07 / 3 + half))
    assert out["folds"] == 3


def test_one_paired_snapshot_gives_a_mean_but_no_interval():
    out = paired_difference([0.3], [0.2])
    assert out["mean"] == pytest.approx(0.1) and np.isnan(out["low"]) and np.isnan(out["high"])


# --- the gate on constructed cases -------------------------------------------------------------------


def deltas(**means: float) -> dict[str, float]:
    out = {"backtest_pr_auc": 0.1}
    for name, mean in means.items():
        out |= {f"backtest_delta_{name}_pr_auc_mean": mean, f"backtest_delta_{name}_pr_auc_low": mean - 0.01, f"backtest_delta_{name}_pr_auc_high": mean + 0.01}
    return out


@pytest.mark.parametrize(
    ("metrics", "champion", "promoted"),
    [
        (deltas(recency=0.05, survey=0.08, logreg=0.02), None, True),  # clearly better than every baseline
        (deltas(recency=0.05, survey=0.08, logreg=-0.02), None, False),  # clearly worse than one
        (deltas(recency=-0.05, survey=-0.08, logreg=-0.02), None, False),  # worse than all
        (deltas(recency=0.05, survey=0.08, logreg=0.0), None, False),  # a tie refuses
        (deltas(recency=0.05, survey=0.08, logreg=0.02), {"mean": 0.01, "low": -0.01, "high": 0.03}, True),
        (deltas(recency=0.05, survey=0.08, logreg=0.02), {"mean": -0.01, "low": -0.03, "high": 0.01}, False),  # champion better
        (deltas(recency=0.05, survey=0.08, logreg=float("nan")), None, False),  # no verdict is no promotion
        ({"backtest_pr_auc": 0.1}, None, False),  # nothing compared: refused
    ],
    ids=["better", "worse-than-logreg", "worse", "tie", "beats-champion", "loses-to-champion", "nan", "no-rivals"],
)
def test_gate_on_paired_differences(tmp_path, metrics, champion, promoted):
    decision = gate(model_config(tmp_path), metrics, champion, "champion v1")
    assert decision.promoted is promoted, decision.reason
    if not promoted and "logreg" in decision.compared and decision.compared["logreg"] <= 0:
        assert "logreg" in decision.reason


def test_min_improvement_raises_the_bar(tmp_path):
    config = model_config(tmp_path, training__gate={"metric": "test_pr_auc", "min_improvement": 0.03})
    assert not gate(config, deltas(recency=0.05, survey=0.08, logreg=0.02), None, "").promoted
    assert gate(config, deltas(recency=0.05, survey=0.08, logreg=0.04), None, "").promoted


# --- a real backtest on the tiny world ---------------------------------------------------------------


@pytest.fixture(scope="module")
def world():
    return make_training_frame(seed=5, n=2000, dates=5)


def two_candidates(tmp_path, seed=42):
    return model_config(tmp_path, training__backtest={"candidates": ["regularised", "default"]}, training__seed=seed)


def test_selection_is_deterministic_for_a_seed(tmp_path, world, spec):
    folds = walk_forward(world["as_of"].unique().to_list(), 30, 3)
    a = run_backtest(world, folds, spec, two_candidates(tmp_path))
    b = run_backtest(world, folds, spec, two_candidates(tmp_path))
    assert a.chosen == b.chosen and a.per_fold == b.per_fold and a.rounds == b.rounds
    assert_frame_equal(a.scores, b.scores)
    assert list(a.per_fold) == ["regularised", "default"] and all(len(v) == 3 for v in a.per_fold.values())
    assert a.scores["as_of"].unique().sort().to_list() == [f.as_of for f in folds]
    assert {"model", "baseline_recency", "baseline_logreg", "baseline_survey"} <= set(a.scores.columns)


def test_the_final_model_is_calibrated_on_out_of_fold_scores(tmp_path, world, spec):
    config = model_config(tmp_path)
    result = train_models(world, spec, config)
    scores = result.backtest.scores
    expected = Calibrator(random_state=config.training.seed).fit(scores["model"].to_numpy(), scores["churned"].cast(pl.Int8).to_numpy())
    raw = np.linspace(0.001, 0.6, 50)
    assert np.allclose(result.bundle.churn.calibrator_.predict(raw), expected.predict(raw))
    # the out-of-fold rows are the folds' snapshots, none of them the test snapshot
    assert result.split.test not in scores["as_of"].to_list() and scores.height == world.filter(pl.col("as_of").is_in(scores["as_of"].unique().to_list())).height
    # the final model trains on every snapshot before test, for the median of the folds' early-stopping rounds
    assert result.metrics["best_iteration"] == result.metrics["backtest_rounds"] > 0
    assert result.bundle.metadata["backtest_candidate"] == "default"
    for key in ("backtest_pr_auc", "backtest_delta_logreg_pr_auc_mean", "backtest_delta_logreg_pr_auc_low", "backtest_delta_recency_pr_auc_high"):
        assert np.isfinite(result.metrics[key]), key


def test_the_recency_rule_reads_the_activity_that_counts_as_staying():
    """With churn.activity_event_types, the rule sorts by the last qualifying event (the smallest of their
    recencies, null only when none happened); without, or when none has a column, by any event."""
    from features.catalog import FeatureSchema, FeatureSpec, Vocabulary
    from models.baselines import recency_days
    from models.inputs import RECENCY_FEATURE, recency_features

    def spec(name):
        return FeatureSpec(name, "history", "events", name, "{value:days}", 1, "Int32", None)

    names = ["days_since_last_event", "days_since_last_purchase", "days_since_last_refund", "days_since_last_page_view"]
    schema = FeatureSchema([spec(n) for n in names], Vocabulary(), ("events",))
    assert recency_features(schema, None) == (RECENCY_FEATURE,)
    assert recency_features(schema, ["purchase"]) == ("days_since_last_purchase",)
    assert recency_features(schema, ["purchase", "refund", "gift card"]) == ("days_since_last_purchase", "days_since_last_refund")
    assert recency_features(schema, ["gift card"]) == (RECENCY_FEATURE,)  # no column for it: any event
    frame = pl.DataFrame({"days_since_last_purchase": [200, None, 5, None], "days_since_last_refund": [30, 40, None, None]})
    assert np.array_equal(recency_days(frame, ["days_since_last_purchase", "days_since_last_refund"]), [30, 40, 5, np.nan], equal_nan=True)
