"""Real (tiny) trainings: calibration, satisfaction correction, reproducibility, the gate, the pyfunc round-trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from polars.testing import assert_frame_equal

from models.pyfunc import load_bundle
from models.registry import CHAMPION, client_for, log_and_register, promote, rollback
from models.train import train_models
from tests.models.conftest import make_survey_frame, make_training_frame, model_config


@pytest.fixture(scope="module")
def world():
    return make_training_frame(seed=0, n=3000, dates=8)


@pytest.fixture(scope="module")
def surveys():
    return make_survey_frame()


def first_six(world):
    dates = world["as_of"].unique().sort().to_list()
    return world.filter(pl.col("as_of").is_in(dates[:6]))


def test_model_beats_baselines_and_reports_every_contract_metric(tmp_path, world, spec, surveys):
    result = train_models(first_six(world), spec, model_config(tmp_path), surveys[0])
    m = result.metrics
    for prefix in ("test_", "baseline_recency_", "baseline_survey_", "baseline_logreg_"):
        for name in ("base_rate", "roc_auc", "pr_auc", "lift_at_capacity", "recall_at_capacity"):
            assert np.isfinite(m[prefix + name]), prefix + name
    for name in ("test_brier", "test_ece", "satisfaction_roc_auc", "respondent_score", "estimated_population_score"):
        assert np.isfinite(m[name]), name
    assert m["test_pr_auc"] > max(m["baseline_recency_pr_auc"], m["baseline_survey_pr_auc"], m["baseline_logreg_pr_auc"])


def test_calibration_lowers_test_ece_compared_with_the_raw_booster(tmp_path, world, spec):
    # an up-weighted positive class inflates the raw probabilities; the calibrator must undo it
    config = model_config(tmp_path, training__lightgbm={"scale_pos_weight": 5.0})
    result = train_models(first_six(world), spec, config)
    assert result.metrics["test_ece"] < result.metrics["test_uncalibrated_ece"]
    assert result.metrics["test_ece"] < 0.5 * result.metrics["test_base_rate"]


def test_weighted_population_score_is_closer_to_the_truth_than_respondents(tmp_path, world, spec, surveys):
    frame, true_score = surveys
    result = train_models(first_six(world), spec, model_config(tmp_path), frame)
    recent = (frame["sent_at"] >= frame["sent_at"].max() - __import__("datetime").timedelta(days=90)).to_numpy()
    truth = true_score[recent].mean()
    m = result.metrics
    assert abs(m["estimated_population_score"] - truth) < abs(m["respondent_score"] - truth)
    assert m["respondent_score"] > truth  # the unhappy answer less: respondents look happier


def test_without_surveys_the_churn_model_still_trains_and_says_why(tmp_path, world, spec):
    result = train_models(first_six(world), spec, model_config(tmp_path), None)
    assert result.bundle.satisfaction is None
    assert any("no satisfaction model" in note for note in result.notes)
    scored = result.bundle.predict(first_six(world).head(10))
    assert scored["dissatisfaction_probability"].null_count() == 10
    assert scored["churn_probability"].is_between(0, 1).all()


def test_training_is_reproducible(tmp_path, world, spec, surveys):
    a = train_models(first_six(world), spec, model_config(tmp_path), surveys[0]).metrics
    b = train_models(first_six(world), spec, model_config(tmp_path), surveys[0]).metrics
    assert a == b


def test_gate_pyfunc_roundtrip_promote_and_rollback(tmp_path, world, spec, surveys):
    config = model_config(tmp_path)
    early = first_six(world)
    good = train_models(early, spec, config, surveys[0])
    test_early = early.filter(pl.col("as_of") == good.split.test)
    first = log_and_register(config, good, test_early)
    assert first.decision.promoted, first.decision.reason
    client: MlflowClient = client_for(config)
    assert str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION).version) == first.version

    # load by alias -> predict equals the in-process bundle's predict
    loaded = load_bundle(f"models:/{config.registered_model_name}@{CHAMPION}")
    assert_frame_equal(loaded.predict(test_early), good.bundle.predict(test_early))

    # a crippled model, tested two snapshots later (champion re-evaluated there), is refused
    later = world.filter(pl.col("as_of") >= world["as_of"].unique().sort()[2])
    weak_config = model_config(tmp_path, training__lightgbm={"num_leaves": 2, "learning_rate": 0.001, "max_depth": 1})
    weak = train_models(later, spec, weak_config, surveys[0])
    test_late = later.filter(pl.col("as_of") == weak.split.test)
    refused = log_and_register(weak_config, weak, test_late, history=later)
    assert not refused.decision.promoted
    assert "champion" in refused.decision.compared
    assert str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION).version) == first.version

    assert client.get_model_version(config.registered_model_name, first.version).tags["promoted_by"] == "gate"

    # moved by hand onto the weak version (which says so), the champion is then beaten by a good model on the same test
    promote(client, config.registered_model_name, refused.version, by_hand=True)
    overridden = client.get_model_version(config.registered_model_name, refused.version).tags
    assert (overridden["promoted_by"], overridden["gate"]) == ("hand", refused.decision.reason)
    better = train_models(later, spec, config, surveys[0])
    accepted = log_and_register(config, better, test_late, history=later)
    assert accepted.decision.promoted, accepted.decision.reason
    assert accepted.decision.compared["champion"] > 0  # mean paired difference better − champion
    assert str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION).version) == accepted.version

    # rollback walks back through the champions in order
    assert rollback(client, config.registered_model_name) == refused.version
    assert rollback(client, config.registered_model_name) == first.version
    assert str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION).version) == first.version


def test_logged_catalog_is_plain_json_naming_every_feature_family_and_reason(tmp_path, world, spec):
    import json

    import mlflow

    config = model_config(tmp_path)
    early = first_six(world)
    result = train_models(early, spec, config)
    registered = log_and_register(config, result, early.filter(pl.col("as_of") == result.split.test))
    client_for(config)
    text = (__import__("pathlib").Path(mlflow.artifacts.download_artifacts(f"runs:/{registered.run_id}/catalog.json"))).read_text()
    logged = json.loads(text)  # raises on Python reprs
    assert "FeatureSpec(" not in text
    by_name = {f["name"]: f for f in logged["features"]}
    assert list(by_name) == spec.features
    for feature in spec.catalog:
        assert (by_name[feature.name]["family"], by_name[feature.name]["reason"]) == (feature.family, feature.reason)
    assert logged["vocabulary"]["categories"] == {"plan": ["basic", "standard", "premium"]}


def test_prediction_in_chunks_equals_prediction_whole(tmp_path, world, spec, surveys, monkeypatch):
    """Scoring a million customers predicts PREDICT_ROWS rows at a time; the rows must not notice."""
    from models import bundle as bundle_module

    early = first_six(world)
    result = train_models(early, spec, model_config(tmp_path), surveys[0])
    rows = early.filter(pl.col("as_of") == result.split.test)
    whole = result.bundle.predict(rows)
    propensity = result.bundle.response_propensity(rows)
    monkeypatch.setattr(bundle_module, "PREDICT_ROWS", 7)
    assert rows.height > 7 * 3
    assert_frame_equal(result.bundle.predict(rows), whole)
    assert (result.bundle.response_propensity(rows) == propensity).all() and len(propensity) == rows.height
    assert result.bundle.predict(rows.head(0)).height == 0


def test_the_logistic_baseline_fits_on_a_sample_when_training_rows_are_many(tmp_path, world, spec, monkeypatch):
    from models import train as train_module

    early = first_six(world)
    monkeypatch.setattr(train_module, "LOGREG_MAX_ROWS", 500)
    result = train_models(early, spec, model_config(tmp_path))
    assert any("logistic baseline fit on a sample of 500 of the" in note for note in result.notes)
    assert 0.5 < result.metrics["baseline_logreg_roc_auc"] <= 1 and np.isfinite(result.metrics["baseline_logreg_pr_auc"])


def test_above_training_max_rows_the_churn_model_refits_on_a_customer_sample_and_says_so(tmp_path, world, spec):
    """training.max_rows: the final refit sees every snapshot of a seeded share of customers, about
    max_rows rows; under the cap (or null) it sees every row and nothing is said."""
    from models import boosting

    early = first_six(world)
    seen: list[int] = []

    def counting(X, y, *args, **kwargs):
        seen.append(len(y))
        return boosting.train_booster(X, y, *args, **kwargs)

    full = train_models(early, spec, model_config(tmp_path / "all", training__max_rows=None), fit_booster=counting)
    assert not any("refit on every snapshot of a seeded sample" in note for note in full.notes)
    everything = seen.pop(0)  # the churn refit comes first, then the response and satisfaction models
    seen.clear()
    capped = train_models(early, spec, model_config(tmp_path / "cap", training__max_rows=100_000), fit_booster=counting)
    assert seen[0] == everything  # 100,000 is above this tiny world: every row
    config = model_config(tmp_path / "half")  # a cap under this tiny world's rows (the config's floor is 100,000)
    config = config.model_copy(update={"training": config.training.model_copy(update={"max_rows": everything // 2})})
    seen.clear()
    half = train_models(early, spec, config, fit_booster=counting)
    assert 0.4 * everything < seen[0] < 0.6 * everything
    assert any("churn model refit on every snapshot of a seeded sample of customers" in note for note in half.notes)
    assert np.isfinite(half.metrics["test_pr_auc"]) and np.isfinite(capped.metrics["test_pr_auc"])


# --- refusals: degenerate histories never reach a fit, NaN metrics never reach the registry ----------------


@pytest.mark.parametrize(
    ("degrade", "expected"),
    [
        (lambda w: w.filter(pl.col("customer_id") == "C00000"), "holds 1 eligible customer"),
        (lambda w: w.with_columns(churned=pl.lit(False)), "no customer churned within churn.horizon_days"),
        (lambda w: w.with_columns(churned=pl.lit(True)), "every customer churned"),
        (lambda w: w.filter(pl.col("as_of") >= w["as_of"].unique().sort()[3]), "need at least 4 snapshot dates with labels"),
    ],
    ids=["one-customer", "no-churners", "everyone-churns", "three-snapshots"],
)
def test_degenerate_histories_are_refused_before_fitting_with_what_is_missing(tmp_path, world, spec, degrade, expected):
    from features.sufficiency import CannotTrain

    with pytest.raises(CannotTrain, match=r"^cannot train: ") as refused:
        train_models(degrade(first_six(world)), spec, model_config(tmp_path))
    assert expected in str(refused.value)


def test_healthy_history_passes_the_same_checks(tmp_path, world, spec):
    result = train_models(first_six(world), spec, model_config(tmp_path))
    assert np.isfinite(result.metrics["test_pr_auc"])


@pytest.mark.parametrize(
    ("churned", "expected"),
    [
        ([False] * 40, "test_pr_auc is NaN or infinite because the test snapshot 2025-06-30 has no churners (0 of 40 customers churned)"),
        ([True] * 40, "has only churners (40 of 40 customers churned)"),
        ([True] * 4 + [False] * 36, "(4 of 40 customers churned) gave non-finite values"),
        ([], "the test snapshot 2025-06-30 holds no customers"),
    ],
)
def test_nan_metric_refusal_says_which_metric_and_why(tmp_path, churned, expected):
    from features.sufficiency import CannotTrain
    from models.registry import refuse_unusable_metrics

    test = pl.DataFrame({"churned": churned}, schema={"churned": pl.Boolean})
    with pytest.raises(CannotTrain, match="cannot register the model") as refused:
        refuse_unusable_metrics(model_config(tmp_path), {"test_pr_auc": float("nan"), "baseline_survey_pr_auc": float("nan")}, test, __import__("datetime").date(2025, 6, 30))
    assert expected in str(refused.value) and "baseline_survey" not in str(refused.value)
    refuse_unusable_metrics(model_config(tmp_path), {"test_pr_auc": 0.3, "baseline_survey_pr_auc": float("nan")}, test, None)


def test_a_nan_metric_registers_no_version_and_leaves_the_champion(tmp_path, world, spec):
    from datetime import date

    from features.sufficiency import CannotTrain

    config = model_config(tmp_path)
    early = first_six(world)
    good = train_models(early, spec, config)
    test = early.filter(pl.col("as_of") == good.split.test)
    first = log_and_register(config, good, test, as_of=date(2025, 8, 1))
    client = client_for(config)
    run = client.get_run(first.run_id)
    assert run.info.run_name == "train-2025-08-01" and run.data.params["training_as_of"] == "2025-08-01"  # not the test date
    experiment = client.get_experiment_by_name(config.experiment_name).experiment_id
    runs_before = len(client.search_runs([experiment]))

    good.metrics["test_roc_auc"] = float("nan")
    with pytest.raises(CannotTrain, match=r"cannot register the model: test_roc_auc is NaN"):
        log_and_register(config, good, test, as_of=date(2025, 8, 2))
    versions = client.search_model_versions(f"name='{config.registered_model_name}'")
    assert [str(v.version) for v in versions] == [first.version]
    assert str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION).version) == first.version
    assert len(client.search_runs([experiment])) == runs_before
