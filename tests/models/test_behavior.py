"""Behavioral model tests: directional checks from the catalog, invariance, calibration that keeps the ranking."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.calibration import Calibrator
from models.churn import monotone_directions
from models.train import train_models
from tests.models.conftest import make_training_frame, model_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spec):
    world = make_training_frame(seed=3, n=3000, dates=6)
    result = train_models(world, spec, model_config(tmp_path_factory.mktemp("behavior")))
    return result, world.filter(pl.col("as_of") == result.split.test)


@pytest.mark.parametrize(
    ("feature", "step", "direction"),
    [("tickets_30d", 1.0, +1), ("tickets_30d", 5.0, +1), ("days_since_last_event", 10.0, +1), ("last_survey_score", 3.0, -1)],
)
def test_moving_a_feature_along_its_catalog_direction_never_moves_risk_against_it(trained, feature, step, direction):
    result, test = trained
    before = result.bundle.predict(test)["churn_probability"].to_numpy()
    after = result.bundle.predict(test.with_columns(pl.col(feature) + step))["churn_probability"].to_numpy()
    assert np.all(direction * (after - before) >= -1e-12)
    assert np.any(direction * (after - before) > 0)  # and the feature is actually used


def test_a_free_feature_may_move_risk_either_way(trained):
    # usage_trend has direction 0 (the world's churn is non-monotone in it): no constraint is imposed
    result, _ = trained
    assert monotone_directions(result.bundle.features, result.bundle.categorical, result.bundle.catalog)[1] == 0


def test_renaming_customers_changes_no_score(trained):
    result, test = trained
    renamed = test.with_columns(pl.concat_str(pl.lit("X-"), pl.col("customer_id")).alias("customer_id"))
    assert_frame_equal(result.bundle.predict(renamed), result.bundle.predict(test))


@pytest.mark.parametrize(
    ("catalog", "categorical", "expected"),
    [
        ([{"name": "a", "direction": 1}, {"name": "b", "direction": -1}, {"name": "c", "direction": 0}], [], [1, -1, 0]),
        ([{"name": "a", "direction": 1}, {"name": "b", "direction": -1}], ["b"], [1, 0, 0]),  # categoricals and unknowns are free
        ([{"name": "a", "direction": 2}, {"name": "b"}], [], [1, 0, 0]),  # only the sign counts; no direction = free
    ],
)
def test_monotone_directions_truth_table(catalog, categorical, expected):
    assert monotone_directions(["a", "b", "c"], categorical, catalog) == expected


def test_isotonic_calibration_keeps_the_raw_ranking_and_the_probabilities():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 0.2, 5000)
    y = (rng.random(5000) < raw).astype(int)
    calibrator = Calibrator(method="isotonic").fit(raw, y)
    calibrated = calibrator.predict(raw)
    assert len(np.unique(calibrated)) == len(np.unique(raw))  # a plain step function would tie most rows
    assert np.all(np.diff(calibrated[np.argsort(raw)]) > 0)
    plain = calibrator.fitted_.predict(raw)
    assert np.max(np.abs(calibrated - plain)) < 1e-6
    assert calibrated.min() >= 0 and calibrated.max() <= 1
