"""Drift against the training reference: PSI / JS on constructed distributions with hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from models.drift import (
    DRIFT_COLUMNS,
    PSI_EPSILON,
    DriftThresholds,
    drift_status,
    drift_summary,
    feature_drift,
    importance_ranks,
    js_distance,
    psi,
    reference_summary,
)
from tests.models.conftest import FEATURES, make_training_frame

EPS = PSI_EPSILON
# ten equally common values 0..9: the reference's ten equal-frequency bins hold one value each
DECILES = np.repeat(np.arange(10.0), 100)
# values 0..4 at 5% each, 5..9 at 15% each: the known shift of the tests below
SHIFTED = np.concatenate([np.repeat(np.arange(5.0), 50), np.repeat(np.arange(5.0, 10.0), 150)])
# by hand: 5 bins (0.05 - 0.1) ln(0.05 / 0.1) + 5 bins (0.15 - 0.1) ln(0.15 / 0.1)
SHIFT_PSI = 5 * 0.05 * math.log(2) + 5 * 0.05 * math.log(1.5)
# by hand: M = 0.075 / 0.125; JS = (KL(P||M) + KL(Q||M)) / 2 in bits, distance = its square root
SHIFT_JS = math.sqrt(
    (0.5 * math.log2(0.1 / 0.075) + 0.5 * math.log2(0.1 / 0.125) + 0.25 * math.log2(0.05 / 0.075) + 0.75 * math.log2(0.15 / 0.125)) / 2
)


def _reference(frame: pl.DataFrame, numeric=("x",), categorical=(), **kwargs) -> dict:
    ranks = {c: i for i, c in enumerate([*numeric, *categorical], start=1)}
    return reference_summary(frame, list(numeric), list(categorical), importance=ranks, **kwargs)


def _value(drift: pl.DataFrame, feature: str) -> float:
    return drift.filter(pl.col("feature") == feature)["value"].item()


@pytest.mark.parametrize("shares", [[0.1] * 10, [0.5, 0.5, 0.0], [1.0, 0.0], [0.2, 0.0, 0.3, 0.5]])
@pytest.mark.parametrize("measure", [psi, js_distance])
def test_identical_distributions_have_no_drift(shares, measure):
    assert measure(np.array(shares), np.array(shares)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("reference", "current", "expected_psi", "expected_js"),
    [
        ([0.5, 0.5], [0.25, 0.75], 0.25 * math.log(2) + 0.25 * math.log(1.5), SHIFT_JS),
        # an empty bucket counts as epsilon in PSI (finite), and JS of disjoint buckets is exactly 1
        ([1.0, 0.0], [0.0, 1.0], 2 * (1 - EPS) * math.log(1 / EPS), 1.0),
    ],
)
def test_a_known_shift_gives_the_value_computed_by_hand(reference, current, expected_psi, expected_js):
    assert psi(np.array(reference), np.array(current)) == pytest.approx(expected_psi, rel=1e-9)
    assert js_distance(np.array(reference), np.array(current)) == pytest.approx(expected_js, rel=1e-9)
    # PSI and JS are symmetric: which side is the reference does not matter
    assert psi(np.array(current), np.array(reference)) == pytest.approx(expected_psi, rel=1e-9)


def test_reference_bins_are_equal_frequency_with_open_ends_and_a_null_bucket():
    reference = _reference(pl.DataFrame({"x": DECILES}))
    entry = reference["columns"]["x"]
    assert entry["edges"] == [float(v) for v in range(9)]  # x <= 0, (0, 1], ..., (7, 8], > 8
    assert entry["shares"] == pytest.approx([0.1] * 10 + [0.0])  # ten bins, then nulls


@pytest.mark.parametrize(
    ("values", "edges", "shares"),
    [
        ([3.0] * 10, [3.0], [1.0, 0.0, 0.0]),  # constant: one edge, nothing above it
        ([0.0] * 7 + [1.0] * 3, [0.0, 1.0], [0.7, 0.3, 0.0, 0.0]),  # discrete: repeated quantiles merged
        ([None] * 10, [], [0.0, 1.0]),  # all null: one open bin (empty) and the null bucket
        ([1.0, float("nan"), None, 2.0], [1.0], [0.25, 0.25, 0.5]),  # NaN is missing, like null
    ],
)
def test_reference_layout_of_degenerate_columns(values, edges, shares):
    entry = _reference(pl.DataFrame({"x": values}, schema={"x": pl.Float64}))["columns"]["x"]
    assert (entry["edges"], entry["shares"]) == (edges, pytest.approx(shares))


@pytest.mark.parametrize(("metric", "expected"), [("psi", SHIFT_PSI), ("js", SHIFT_JS)])
def test_drift_of_a_known_shift_through_the_frames(metric, expected):
    reference = _reference(pl.DataFrame({"x": DECILES}))
    drift = feature_drift(pl.DataFrame({"x": SHIFTED}), reference, metric=metric)
    assert _value(drift, "x") == pytest.approx(expected, rel=1e-9)
    assert feature_drift(pl.DataFrame({"x": DECILES[::-1]}), reference, metric=metric)["value"].item() == pytest.approx(0.0, abs=1e-12)


def test_unseen_categories_fall_in_their_own_bucket():
    reference = _reference(pl.DataFrame({"plan": ["a"] * 50 + ["b"] * 50}), numeric=(), categorical=("plan",))
    assert reference["columns"]["plan"]["categories"] == ["a", "b"]
    drift = feature_drift(pl.DataFrame({"plan": ["a"] * 50 + ["z"] * 50}), reference)
    # buckets a, b, unseen, null: [.5, .5, 0, 0] -> [.5, 0, .5, 0]
    assert _value(drift, "plan") == pytest.approx(2 * (0.5 - EPS) * math.log(0.5 / EPS), rel=1e-9)
    # the same categories in another order are no drift
    assert _value(feature_drift(pl.DataFrame({"plan": ["b", "a"] * 50}), reference), "plan") == pytest.approx(0.0, abs=1e-12)


def test_integer_codes_read_alike_as_ints_or_floats():
    """A categorical stored as Int codes at training and Float codes (after a null) today is the same column."""
    reference = _reference(pl.DataFrame({"plan": [0, 1, 2, 2]}), numeric=(), categorical=("plan",))
    assert reference["columns"]["plan"]["categories"] == ["0", "1", "2"]
    current = pl.DataFrame({"plan": [0.0, 1.0, 2.0, 2.0]})
    assert _value(feature_drift(current, reference), "plan") == pytest.approx(0.0, abs=1e-12)


# all-null current vs a ten-bin reference: ten bins 0.1 -> eps, nulls 0 -> 1
ALL_NULL_PSI = 10 * (EPS - 0.1) * math.log(EPS / 0.1) + (1 - EPS) * math.log(1 / EPS)


@pytest.mark.parametrize(
    ("reference_values", "current", "expected", "status"),
    [
        (DECILES, pl.DataFrame({"x": [None] * 20}, schema={"x": pl.Float64}), ALL_NULL_PSI, "fail"),
        (DECILES, pl.DataFrame({"other": [1.0] * 20}), ALL_NULL_PSI, "fail"),  # a column gone is all null to the model
        ([None] * 100, pl.DataFrame({"x": [None] * 20}, schema={"x": pl.Float64}), 0.0, "ok"),
        ([None] * 100, pl.DataFrame({"x": [1.0] * 20}), 2 * (1 - EPS) * math.log(1 / EPS), "fail"),
        ([4.0] * 100, pl.DataFrame({"x": [4.0] * 20}), 0.0, "ok"),  # constant stays constant
        ([4.0] * 100, pl.DataFrame({"x": [5.0] * 20}), 2 * (1 - EPS) * math.log(1 / EPS), "fail"),  # moves above it
    ],
)
def test_all_null_missing_and_constant_columns(reference_values, current, expected, status):
    reference = _reference(pl.DataFrame({"x": reference_values}, schema={"x": pl.Float64}))
    drift = feature_drift(current, reference)
    assert _value(drift, "x") == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert drift["status"].item() == status


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, "ok"), (0.0999, "ok"), (0.1, "warn"), (0.2499, "warn"), (0.25, "fail"), (7.0, "fail"), (None, "ok")],
)
def test_status_truth_table(value, status):
    frame = pl.DataFrame({"value": [value]}, schema={"value": pl.Float64})
    assert frame.select(drift_status(pl.col("value"), DriftThresholds(0.1, 0.25)).alias("status"))["status"].item() == status


def test_thresholds_out_of_order_are_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"monitoring\.drift.*warn=0\.3.*fail=0\.2"):
        DriftThresholds(warn=0.3, fail=0.2)


def test_configured_thresholds_decide_the_status():
    reference = _reference(pl.DataFrame({"x": DECILES}))
    drift = feature_drift(pl.DataFrame({"x": SHIFTED}), reference, thresholds=DriftThresholds(0.3, 0.5))
    assert drift["status"].item() == "ok"  # 0.27 is a fail under the defaults (test above), ok under 0.3 / 0.5


def test_scores_come_first_then_features_by_importance():
    rng = np.random.default_rng(0)
    train = pl.DataFrame({name: rng.normal(size=200) for name in ["a", "b", "c"]})
    ranks = importance_ranks(["a", "b", "c"], [5.0, 20.0, 5.0])  # b most important; a, c tie in order
    assert ranks == {"b": 1, "a": 2, "c": 3}
    scores = pl.DataFrame({"churn_probability": rng.uniform(size=200), "dissatisfaction_probability": [None] * 200})
    reference = reference_summary(train, ["a", "b", "c"], importance=ranks, scores=scores)
    # a score that is null throughout (no satisfaction model) has no reference and is not monitored
    assert "dissatisfaction_probability" not in reference["columns"]
    drift = feature_drift(train.with_columns(scores["churn_probability"]), reference)
    assert drift["feature"].to_list() == ["churn_probability", "b", "a", "c"]
    assert drift["importance_rank"].to_list() == [None, 1, 2, 3]


def _drift_with(statuses: dict[str, tuple[float, str, int | None]]) -> pl.DataFrame:
    rows = [{"feature": f, "metric": "psi", "value": v, "importance_rank": r, "status": s} for f, (v, s, r) in statuses.items()]
    return pl.DataFrame(rows, schema=DRIFT_COLUMNS)


@pytest.mark.parametrize(
    ("rows", "status"),
    [
        ({"churn_probability": (0.01, "ok", None), "f1": (0.05, "ok", 1), "f11": (0.9, "fail", 11)}, "ok"),  # outside the top ten
        ({"churn_probability": (0.01, "ok", None), "f3": (0.3, "fail", 3)}, "fail"),
        ({"churn_probability": (0.12, "warn", None), "f1": (0.05, "ok", 1)}, "warn"),  # score drift counts
        ({"churn_probability": (0.12, "warn", None), "f10": (0.3, "fail", 10)}, "fail"),
    ],
)
def test_summary_status_is_decided_by_the_scores_and_the_top_ten(rows, status):
    assert drift_summary(_drift_with(rows))["status"] == status


def test_summary_is_json_and_names_the_worst_features():
    scores = pl.DataFrame({"churn_probability": DECILES / 10})
    reference = _reference(pl.DataFrame({"x": DECILES, "y": DECILES}), numeric=("x", "y"), scores=scores)
    # the reference survives a JSON round trip (it is stored with the model version)
    reference = json.loads(json.dumps(reference, allow_nan=False))
    drift = feature_drift(pl.DataFrame({"x": DECILES, "y": SHIFTED, "churn_probability": DECILES / 10}), reference)
    summary = json.loads(json.dumps(drift_summary(drift), allow_nan=False))
    assert summary["status"] == "fail"
    assert [w["feature"] for w in summary["worst_features"]] == ["y", "x"]
    assert summary["score_drift"] == {"churn_probability": {"value": pytest.approx(0.0, abs=1e-12), "status": "ok"}}
    assert (summary["features_checked"], summary["features_warn"], summary["features_fail"]) == (2, 0, 1)


def test_bad_inputs_are_refused_with_what_is_wrong():
    reference = _reference(pl.DataFrame({"x": DECILES}))
    with pytest.raises(ValueError, match="no rows"):
        feature_drift(pl.DataFrame({"x": []}, schema={"x": pl.Float64}), reference)
    with pytest.raises(ValueError, match=r"monitoring\.drift\.metric.*'kl'"):
        feature_drift(pl.DataFrame({"x": DECILES}), reference, metric="kl")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['y'\]"):
        reference_summary(pl.DataFrame({"x": DECILES}), ["x", "y"])
    with pytest.raises(ValueError, match="version"):
        feature_drift(pl.DataFrame({"x": DECILES}), {**reference, "version": 0})


def test_a_model_world_is_calm_until_one_feature_moves():
    """Mixed columns as the feature builder writes them (float counts, integer-coded plan, survey
    scores mostly null): a later date of the same world is ok everywhere; shifting one feature
    fails that feature only."""
    world = make_training_frame(seed=3, n=3000, dates=4)
    dates = world["as_of"].unique().sort()
    numeric = [f for f in FEATURES if f != "plan"]
    ranks = importance_ranks(FEATURES, list(range(len(FEATURES), 0, -1)))  # in the order listed
    reference = reference_summary(world.filter(pl.col("as_of") < dates[3]), numeric, ["plan"], importance=ranks)
    today = world.filter(pl.col("as_of") == dates[3])
    calm = feature_drift(today, reference)
    assert calm["status"].unique().to_list() == ["ok"], calm
    moved = feature_drift(today.with_columns(pl.col("tickets_30d") + 2), reference)
    assert moved.filter(pl.col("status") != "ok")["feature"].to_list() == ["tickets_30d"]
