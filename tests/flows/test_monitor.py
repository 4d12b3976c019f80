"""The monitor flow on a tiny simulated world: drift and performance tables, realised performance only
for matured dates, reruns that replace, a constructed drift that warns or fails the run, and the
retraining it triggers."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

from configs import load_config
from flows import pipeline
from flows.monitor_tasks import DriftFailure
from models.pyfunc import load_bundle
from models.registry import CHAMPION, client_for, promote
from sinks import open_sink
from sinks.schema import FEATURE_DRIFT, SCORE_PERFORMANCE

pytestmark = pytest.mark.usefixtures("prefect_api")

SCORES = {"churn_probability", "dissatisfaction_probability", "response_propensity"}


def _train_and_crown(config_path) -> dict:
    trained = pipeline.train(str(config_path))
    if not trained.promoted:
        config = load_config(config_path)
        promote(client_for(config), config.registered_model_name, trained.version)
    return trained


def _champion(config):
    return load_bundle(f"models:/{config.registered_model_name}@{CHAMPION}")


@pytest.fixture
def monitored_world(flow_config, tiny_world):
    """A crowned model and three scored dates: exactly matured by today (today - horizon), one day
    short of it, and today; lenient drift levels so the tiny world's natural drift never fails it."""
    path = flow_config(monitoring={"drift": {"warn": 5.0, "fail": 10.0}})
    config = load_config(path)
    today = tiny_world[1]
    horizon = config.churn.horizon_days
    _train_and_crown(path)
    matured, immature = today - timedelta(days=horizon), today - timedelta(days=horizon - 1)
    for day in (matured, immature):
        pipeline.score_flow(str(path), day)
    return path, config, today, matured, immature


def test_training_stores_a_reference_of_every_feature_and_score(flow_config):
    path = flow_config()
    _train_and_crown(path)
    bundle = _champion(load_config(path))
    columns = bundle.reference["columns"]
    assert set(bundle.features) | SCORES == set(columns)
    ranks = sorted(columns[f]["importance_rank"] for f in bundle.features)
    assert ranks == list(range(1, len(bundle.features) + 1))
    assert all(columns[s]["importance_rank"] is None and columns[s]["score"] for s in SCORES)
    assert all(abs(sum(entry["shares"]) - 1) < 1e-9 for entry in columns.values())
    # who answers surveys on the test snapshot, by the score run's own response-rate definition
    who = bundle.reference["who_answers"]
    assert who["as_of"] == bundle.metadata["split_test_date"] and who["response_rate_definition"] == "survey_response_rate"
    assert 0 < who["response_rate"] <= 1 and 0 < who["mean_propensity"] < 1


def test_nightly_monitors_today_and_realises_only_matured_dates(monitored_world):
    path, config, today, matured, immature = monitored_world
    result = pipeline.nightly(str(path), today)
    monitored = result.monitor
    assert monitored.realised_dates == [matured]  # today and the date one day short are not

    sink = open_sink(config.sink)
    drift = sink.read_feature_drift()
    assert drift.schema == FEATURE_DRIFT.schema
    assert drift["as_of"].unique().to_list() == [today]
    bundle = _champion(config)
    assert set(drift["feature"]) == set(bundle.features) | SCORES
    assert drift["model_version"].unique().to_list() == [result.score.model_version]
    ranked = drift.filter(pl.col("importance_rank").is_not_null()).sort("importance_rank")
    assert ranked["importance_rank"].to_list() == list(range(1, len(bundle.features) + 1))
    assert set(drift["status"]) <= {"ok", "warn"} and (drift["value"] >= 0).all() and set(drift["metric"]) == {"psi"}

    performance = sink.read_score_performance()
    assert performance.schema == SCORE_PERFORMANCE.schema
    kinds = {(row["as_of"], row["kind"]) for row in performance.select("as_of", "kind").unique().iter_rows(named=True)}
    assert kinds == {(today, "estimated"), (matured, "realised")}
    realised = {r["metric"]: r for r in performance.filter(pl.col("kind") == "realised").iter_rows(named=True)}
    assert {"roc_auc", "pr_auc", "ece", "precision_at_capacity", "outcome_coverage", "silent_answered_share"} <= set(realised)
    scored_then = sink.read_scores(matured).height
    assert realised["outcome_coverage"]["n"] == scored_then and realised["outcome_coverage"]["value"] == 1.0
    assert 0.5 < realised["roc_auc"]["value"] <= 1

    runs = sink.read_score_runs().filter(pl.col("as_of") == today)
    verdict = json.loads(runs["drift_summary"][0])
    assert verdict["status"] == monitored.status == "ok"
    assert verdict["failure"] is None and {"worst_features", "score_drift", "realised", "data_health"} <= set(verdict)
    assert [c["as_of"] for c in verdict["realised"]] == [matured.isoformat()]
    health = verdict["data_health"]
    assert health["status"] in ("ok", "warn") and health["tables"]["events"]["hours_old"] <= config.monitoring.max_staleness_hours
    # two earlier snapshots (the scored dates) give the volume its trailing median
    assert health["tables"]["events"]["trailing_median_rows"] > 0 and health["tables"]["events"]["volume_ratio"] >= 1
    # who answers: today's rate is the run's own, beside the figures stored at training
    who = verdict["who_answers"]
    assert who["today"]["response_rate"] == pytest.approx(runs["survey_response_rate"][0])
    assert who["training"] == bundle.reference["who_answers"] and 0 < who["today"]["mean_propensity"] < 1
    assert who["response_propensity_psi"] == pytest.approx(drift.filter(pl.col("feature") == "response_propensity")["value"][0])
    # the dates scored without monitoring keep a null summary
    assert sink.read_score_runs().filter(pl.col("as_of") != today)["drift_summary"].null_count() == 2


def test_monitoring_a_date_again_replaces_its_rows(monitored_world):
    path, config, today, matured, _ = monitored_world
    pipeline.score_flow(str(path), today)
    first = pipeline.monitor(str(path), today)
    sink = open_sink(config.sink)
    counts = (sink.read_feature_drift().height, sink.read_score_performance().height)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{path.parent / 'another.db'}")  # a standalone run finds the config's store itself
    second = pipeline.monitor(str(path), today)
    assert (sink.read_feature_drift().height, sink.read_score_performance().height) == counts
    assert first.realised_dates == [matured] and second.realised_dates == []  # evaluated once
    duplicated = sink.read_score_performance().select("as_of", "model_version", "kind", "metric").is_duplicated().any()
    assert not duplicated


def _shifted_features(config, tmp_path, day, feature: str):
    """The date's scoring frame with one feature moved far past anything seen in training."""
    from features.snapshots import build_scoring_frame
    from flows import workspace

    bundle = _champion(config)
    tables = workspace.read_snapshot(workspace.snapshot_dir(config, day))
    frame = build_scoring_frame(tables, config, day, schema=bundle.schema, with_usual=True)
    top = frame[feature].cast(pl.Float64).max()
    shifted = frame.with_columns((pl.col(feature).cast(pl.Float64).fill_null(0) + top + 1000.0).alias(feature))
    path = tmp_path / "shifted.parquet"
    shifted.write_parquet(path)
    return str(path)


def _most_important(config) -> str:
    bundle = _champion(config)
    columns = bundle.reference["columns"]
    return min((f for f in bundle.features if f not in bundle.categorical), key=lambda f: columns[f]["importance_rank"])


def test_a_shifted_feature_fails_the_run_after_writing_and_triggers_retraining(flow_config, tiny_world, tmp_path):
    path = flow_config()
    config = load_config(path)
    today = tiny_world[1]
    _train_and_crown(path)
    pipeline.score_flow(str(path), today)
    assert pipeline.tasks.needs_training.fn(config, False) is None
    feature = _most_important(config)
    shifted = _shifted_features(config, tmp_path, today, feature)

    state = pipeline.monitor(str(path), today, shifted, return_state=True)
    assert state.is_failed()
    with pytest.raises(DriftFailure, match=rf"{feature} has PSI .* >= monitoring\.drift\.fail=0\.25"):
        state.result()

    sink = open_sink(config.sink)
    row = sink.read_feature_drift().filter(pl.col("feature") == feature).row(0, named=True)
    assert row["status"] == "fail" and row["importance_rank"] == 1 and row["value"] >= 0.25
    assert sink.read_score_performance().filter(pl.col("kind") == "estimated").height > 0  # written before failing
    verdict = json.loads(sink.read_score_runs()["drift_summary"][0])
    assert verdict["status"] == "fail" and verdict["failure"]["feature"] == feature
    why = pipeline.tasks.needs_training.fn(config, False)
    assert why and feature in why and "monitoring.drift.fail" in why


def test_the_same_shift_only_warns_under_higher_fail_level(flow_config, tiny_world, tmp_path):
    path = flow_config(monitoring={"drift": {"warn": 0.1, "fail": 1000.0}})
    config = load_config(path)
    today = tiny_world[1]
    _train_and_crown(path)
    pipeline.score_flow(str(path), today)
    feature = _most_important(config)
    result = pipeline.monitor(str(path), today, _shifted_features(config, tmp_path, today, feature))
    assert result.status == "warn"
    assert result.drift_summary["failure"] is None
    assert pipeline.tasks.needs_training.fn(config, False) is None


def test_monitoring_a_date_never_scored_says_how_to_score_it(flow_config, tiny_world):
    path = flow_config()
    _train_and_crown(path)
    day = tiny_world[1] - timedelta(days=3)
    with pytest.raises(Exception, match=rf"churn_scores holds no rows for as-of {day}.*quietchurn run score --config .* --as-of {day}"):
        pipeline.monitor(str(path), day)


FAIL = {"status": "fail", "failure": {"feature": "tickets_30d", "value": 0.31, "importance_rank": 1}, "realised": []}
OK = {"status": "ok", "failure": None, "realised": []}
LOW = {**OK, "realised": [{"as_of": "2025-12-01", "model_version": "3", "pr_auc": 0.05, "test_pr_auc": 0.1, "below": True}]}
FINE = {**OK, "realised": [{"as_of": "2025-12-01", "model_version": "3", "pr_auc": 0.09, "test_pr_auc": 0.1, "below": False}]}


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([], None),
        ([("3", None)], None),  # scored, never monitored
        ([("3", FAIL)], "found tickets_30d drifted to PSI 0.310 (>= monitoring.drift.fail=0.25)"),
        ([("2", FAIL)], None),  # a verdict on an earlier champion
        ([("3", FAIL), ("3", OK)], None),  # the newest verdict counts
        ([("3", OK), ("3", FAIL)], "monitoring.drift.fail"),
        ([("3", LOW)], "realised PR-AUC of 2025-12-01 is 0.0500, below monitoring.min_realised_pr_auc_ratio=0.8 x the model's test PR-AUC 0.1000"),
        ([("3", FINE)], None),
    ],
)
def test_retraining_follows_the_newest_verdict_on_the_champion(make_config, runs, expected):
    from datetime import date

    from flows.monitor_tasks import retrain_reason
    from tests.sinks.test_sinks import make_score_run

    config = make_config()
    sink = open_sink(config.sink)
    for i, (version, verdict) in enumerate(runs):
        sink.append_score_run(make_score_run(date(2026, 1, 1) + timedelta(days=i), f"run-{i}", model_version=version, drift_summary=verdict))
    why = retrain_reason(config, "3")
    assert why == expected if expected is None else expected in why


def test_monitoring_lands_in_postgresql(flow_config, tiny_world, postgres_dsn, monkeypatch):
    monkeypatch.setenv("QC_MONITOR_TEST_DSN", postgres_dsn)
    path = flow_config(sink={"kind": "postgres", "dsn_env": "QC_MONITOR_TEST_DSN", "schema": "monitortest", "path": None})
    config = load_config(path)
    today = tiny_world[1]
    _train_and_crown(path)
    pipeline.score_flow(str(path), today)
    for _ in range(2):  # the second run replaces the first
        result = pipeline.monitor(str(path), today)
    sink = open_sink(config.sink)
    drift, performance = sink.read_feature_drift(), sink.read_score_performance()
    assert drift.height == result.feature_drift_rows == len(_champion(config).features) + len(SCORES)
    assert performance.height == result.estimated_rows and set(performance["kind"]) == {"estimated"}
    assert json.loads(sink.read_score_runs()["drift_summary"][0])["status"] == result.status
