"""The satisfaction model: the response model judged on the newest invitations, monotone directions, metrics in MLflow."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from models.boosting import to_matrix
from models.registry import client_for, log_and_register
from models.satisfaction import SatisfactionModel
from models.train import train_models
from tests.models.conftest import make_survey_frame, make_training_frame, model_config

RESPONSE_METRICS = ("response_roc_auc", "response_brier", "response_ece", "response_base_rate")


@pytest.fixture(scope="module")
def snapshots():
    world = make_training_frame(seed=0, n=2000, dates=6)
    return world


@pytest.fixture(scope="module")
def surveys():
    return make_survey_frame(n=6000)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, snapshots, spec, surveys):
    config = model_config(tmp_path_factory.mktemp("satisfaction"))
    return config, train_models(snapshots, spec, config, surveys)


def test_training_reports_the_response_model_and_the_held_out_satisfaction_auc(trained):
    _, result = trained
    m = result.metrics
    for name in (*RESPONSE_METRICS, "satisfaction_roc_auc"):
        assert np.isfinite(m[name]), name
    # in this world the unhappy answer less and the features say who is unhappy: response is predictable
    assert m["response_roc_auc"] > 0.6
    assert 0 < m["response_brier"] < m["response_base_rate"] * (1 - m["response_base_rate"])  # better than the base rate alone
    assert m["response_ece"] < 0.1
    assert m["satisfaction_roc_auc"] > 0.7


def test_the_satisfaction_booster_keeps_the_catalogs_directions(trained, spec):
    """More tickets never lowers the estimate, a higher last score never raises it, whatever else the row holds."""
    _, result = trained
    satisfaction = result.bundle.satisfaction
    rng = np.random.default_rng(3)
    base = to_matrix(make_survey_frame(seed=4, n=400)[0], spec.features)
    base[:, spec.features.index("last_survey_score")] = rng.integers(0, 11, len(base))
    for feature, direction in (("tickets_30d", 1), ("last_survey_score", -1)):
        more = base.copy()
        more[:, spec.features.index(feature)] += 2
        change = satisfaction.predict_proba(more) - satisfaction.predict_proba(base)
        assert (direction * change >= -1e-12).all(), feature


def test_a_held_out_part_with_one_answer_class_gives_no_auc_rather_than_a_crash(spec, surveys):
    happy = surveys.with_columns(score=pl.when(pl.int_range(pl.len()) > 0.7 * pl.len()).then(pl.lit(10.0)).otherwise(pl.col("score")))
    X = to_matrix(happy, spec.features)
    model = SatisfactionModel(spec.features, spec.categorical, dissatisfied_cut=6).fit(
        X, happy["responded"].to_numpy(), happy["score"].fill_null(np.nan).to_numpy()
    )
    assert np.isnan(model.held_out_roc_auc_)
    assert np.isfinite(model.predict_proba(X)).all()


def test_the_new_metrics_reach_mlflow(trained):
    config, result = trained
    test = make_training_frame(seed=0, n=2000, dates=6).filter(pl.col("as_of") == result.split.test)
    registered = log_and_register(config, result, test)
    client: MlflowClient = client_for(config)
    logged = client.get_run(registered.run_id).data.metrics
    for name in (*RESPONSE_METRICS, "satisfaction_roc_auc"):
        assert name in logged and logged[name] == pytest.approx(result.metrics[name]), name


def test_above_the_cap_the_response_model_fits_a_uniform_sample_and_every_answer_still_trains(spec, surveys, monkeypatch):
    """RESPONSE_MAX_ROWS: a seeded uniform sample of invitations for the response model (its answer
    rate kept, so its propensities stay calibrated); the satisfaction model still sees every answer."""
    import models.satisfaction as satisfaction

    X = to_matrix(surveys, spec.features)
    responded, score = surveys["responded"].to_numpy(), surveys["score"].fill_null(np.nan).to_numpy()
    whole = SatisfactionModel(spec.features, spec.categorical, dissatisfied_cut=6).fit(X, responded, score)
    monkeypatch.setattr(satisfaction, "RESPONSE_MAX_ROWS", 3000)
    sampled = SatisfactionModel(spec.features, spec.categorical, dissatisfied_cut=6).fit(X, responded, score)
    assert whole.response_rows_ == len(surveys) and sampled.response_rows_ == 3000
    assert sampled.invitations_ == len(surveys) and sampled.respondents_ == whole.respondents_ == int(responded.sum())
    # a uniform sample keeps the answer rate: the mean propensity stays near the observed rate
    assert abs(sampled.response_propensity(X).mean() - responded.mean()) < 0.02
    assert sampled.response_metrics_["response_roc_auc"] > 0.6
