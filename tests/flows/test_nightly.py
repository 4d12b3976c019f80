"""The flows end to end on a tiny simulated world, under one Prefect test harness."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from configs import load_config
from flows import pipeline
from models.registry import CHAMPION, champion_version, client_for, promote
from sinks import open_sink
from sinks.schema import CHURN_SCORES

pytestmark = pytest.mark.usefixtures("prefect_api")


def _train_and_crown(config_path) -> dict:
    """Train once; on a world this small the gate may refuse, so crown by hand (what `model promote` does)."""
    trained = pipeline.train(str(config_path))
    if not trained.promoted:
        config = load_config(config_path)
        promote(client_for(config), config.registered_model_name, trained.version)
    return trained


def assert_scores_hold_their_invariants(scores: pl.DataFrame, capacity: int, silent_threshold: float) -> None:
    assert scores.schema == CHURN_SCORES.schema
    n = scores.height
    assert scores["customer_id"].n_unique() == n
    assert scores["churn_probability"].is_between(0, 1).all()
    assert scores["dissatisfaction_probability"].drop_nulls().is_between(0, 1).all()
    assert sorted(scores["risk_rank"].to_list()) == list(range(1, n + 1))
    ordered = scores.sort("risk_rank")
    probabilities = ordered["churn_probability"].to_list()
    assert probabilities == sorted(probabilities, reverse=True)
    assert scores["risk_percentile"].is_between(0, 100).all()
    tiers = dict(scores.group_by("risk_tier").len().iter_rows())
    assert tiers["high"] == min(capacity, n) and tiers.get("medium", 0) == min(2 * capacity, n - capacity)
    expected_silent = (pl.col("survey_status") != "responded") & (
        (pl.col("risk_tier") == "high") | (pl.col("dissatisfaction_probability").fill_null(-1) >= silent_threshold)
    )
    assert scores.select((pl.col("silent_dissatisfied") == expected_silent).all()).item()
    flagged = scores.filter("silent_dissatisfied")
    assert sorted(flagged["silent_rank"].to_list()) == list(range(1, flagged.height + 1))
    assert scores.filter(~pl.col("silent_dissatisfied"))["silent_rank"].null_count() == n - flagged.height
    high = scores.filter(pl.col("risk_tier") == "high")
    assert (high["reason_source"] == "churn").all()
    assert high["reasons"].null_count() == 0 and high["reason_1"].null_count() < high.height
    for payload in high["reasons"].head(20):
        for driver in json.loads(payload):
            assert driver["contribution"] > 0 and set(driver) == {"feature", "value", "usual", "contribution"}
    assert not any("email" in r or "name" in r.split('"feature"')[0] for r in scores["reasons"].drop_nulls().head(50))


def test_nightly_scores_every_eligible_customer_with_lineage(flow_config):
    path = flow_config()
    config = load_config(path)
    _train_and_crown(path)
    result = pipeline.nightly(str(path))
    assert result.train is None and result.train_reason is None  # a fresh champion is not retrained

    sink = open_sink(config.sink)
    scores = sink.read_scores()
    assert scores.height == result.score.customers_scored == result.features.rows
    assert_scores_hold_their_invariants(scores, capacity=50, silent_threshold=config.scoring.silent_threshold)

    client = client_for(config)
    version = client.get_model_version(config.registered_model_name, scores["model_version"][0])
    assert version.run_id == scores["mlflow_run_id"][0]
    assert str(champion_version(client, config.registered_model_name).version) == scores["model_version"][0]
    assert scores["flow_run_id"].n_unique() == 1 and scores["flow_run_id"][0] not in ("", "local")

    runs = sink.read_score_runs()
    assert runs.height == 1
    run = runs.row(0, named=True)
    assert run["customers_scored"] == scores.height
    assert run["silent_dissatisfied"] == scores["silent_dissatisfied"].sum()
    assert run["high_risk"] == 50
    assert json.loads(run["drift_summary"])["status"] == result.monitor.status  # filled by the monitor step
    assert 0 < run["survey_response_rate"] <= 1
    assert run["estimated_population_score"] is not None


def test_rescoring_a_date_replaces_its_rows(flow_config):
    path = flow_config()
    config = load_config(path)
    _train_and_crown(path)
    first = pipeline.score_flow(str(path))
    second = pipeline.score_flow(str(path))
    scores = open_sink(config.sink).read_scores()
    assert scores.height == first.customers_scored == second.customers_scored
    assert scores["customer_id"].n_unique() == scores.height
    assert scores["flow_run_id"].unique().to_list() == [second.flow_run_id]
    assert open_sink(config.sink).read_score_runs().height == 2


def test_nightly_trains_only_when_asked_missing_or_stale(flow_config):
    import time

    path = flow_config()
    config = load_config(path)
    needs = pipeline.tasks.needs_training.fn
    assert needs(config, False) == f"no champion for {config.registered_model_name}"
    assert needs(config, True) == "asked with retrain=True"

    trained = _train_and_crown(path)
    assert needs(config, False) is None  # fresh champion
    # the last attempt finished 40 days ago: older than training.max_model_age_days (30)
    client = client_for(config)
    forty_days_ago = int((time.time() - 40 * 86400) * 1000)
    client.set_terminated(trained.run_id, end_time=forty_days_ago)
    assert "40 days old" in needs(config, False)


def test_scores_land_in_postgresql(flow_config, postgres_dsn, monkeypatch):
    monkeypatch.setenv("QC_FLOW_TEST_DSN", postgres_dsn)
    path = flow_config(sink={"kind": "postgres", "dsn_env": "QC_FLOW_TEST_DSN", "schema": "flowtest", "path": None})
    config = load_config(path)
    _train_and_crown(path)
    result = pipeline.score_flow(str(path))
    scores = open_sink(config.sink).read_scores()
    assert scores.height == result.customers_scored
    assert_scores_hold_their_invariants(scores, capacity=50, silent_threshold=config.scoring.silent_threshold)


def test_a_reject_limit_breach_records_rejects_then_fails(flow_config, tiny_world, tmp_path):
    import shutil

    data = tmp_path / "bad-data"
    shutil.copytree(tiny_world[0], data)
    tickets = pl.read_parquet(data / "tickets.parquet")
    broken = tickets.with_columns(
        wait_seconds=pl.when(pl.int_range(pl.len()) % 10 == 0).then(-1.0).otherwise(pl.col("wait_seconds"))
    )
    broken.write_parquet(data / "tickets.parquet")
    path = flow_config(source={"path": str(data)})
    config = load_config(path)
    with pytest.raises(Exception, match="monitoring.max_reject_share"):
        pipeline.ingest(str(path))
    rejects = open_sink(config.sink).read_rejects()
    assert rejects.height == (tickets.height + 9) // 10
    assert set(rejects["table_name"]) == {"tickets"}
    assert rejects["reason"].str.contains("negative wait_seconds").all()
    assert rejects["flow_run_id"].null_count() == 0
    # nothing of the refused snapshot is left: no snapshot for the date, no staging folder
    snapshots = config.workspace / "snapshots"
    assert not snapshots.exists() or not any(snapshots.iterdir())


def test_ingest_streams_batches_into_one_snapshot_with_batch_independent_fingerprints(flow_config, monkeypatch):
    """A snapshot ingested in small batches holds the same rows, counts and fingerprints as one ingested whole."""
    from sources import base as sources
    from flows import workspace

    path = flow_config()
    config = load_config(path)
    whole = pipeline.ingest(str(path))
    whole_manifest = workspace.read_manifest(Path(whole.snapshot))
    whole_tables = {name: frame.collect() for name, frame in workspace.read_snapshot(Path(whole.snapshot)).items()}

    monkeypatch.setattr(sources, "BATCH_ROWS", 997)
    batched = pipeline.ingest(str(path))
    assert batched.snapshot == whole.snapshot and batched.tables == whole.tables
    manifest = workspace.read_manifest(Path(batched.snapshot))
    assert {t: m["fingerprint"] for t, m in manifest["tables"].items()} == {t: m["fingerprint"] for t, m in whole_manifest["tables"].items()}
    for name, frame in workspace.read_snapshot(Path(batched.snapshot)).items():
        assert_frame_equal(frame.collect(), whole_tables[name])
    # events are bucketed by customer: each bucket's file gets at most one row group per batch
    row_groups = [pq.ParquetFile(f).metadata.num_row_groups for f in (Path(batched.snapshot) / "events").glob("bucket=*/*.parquet")]
    assert len(row_groups) == config.engine.partitions and max(row_groups) == -(-whole.tables["events"].read // 997)
    assert [p.name for p in (config.workspace / "snapshots").iterdir()] == [Path(whole.snapshot).name]  # no staging left


# --- refusals before any work -------------------------------------------------------------------------


def _nothing_written(config, tmp_path) -> None:
    snapshots = config.workspace / "snapshots"
    assert not snapshots.exists() or not any(snapshots.iterdir()), "a snapshot was taken"
    assert not config.sink.path.exists(), "the sink was written"
    assert not (tmp_path / "mlflow.db").exists(), "MLflow was touched"


@pytest.mark.parametrize("name", ["ingest", "build_features", "train", "score_flow", "nightly"])
def test_an_as_of_beyond_the_data_is_refused_by_every_flow_before_any_work(flow_config, tiny_world, tmp_path, name):
    from datetime import timedelta

    from features.sufficiency import DataCoverageError

    path = flow_config()
    config = load_config(path)
    beyond = tiny_world[1] + timedelta(days=30)
    with pytest.raises(DataCoverageError) as refused:
        getattr(pipeline, name)(str(path), beyond)
    newest = pl.read_parquet(tiny_world[0] / "events.parquet")["ts"].max()
    assert f"as-of {beyond} is beyond the data: the newest event is {newest:%Y-%m-%d %H:%M} UTC" in str(refused.value)
    assert "monitoring.max_staleness_hours (48)" in str(refused.value)
    _nothing_written(config, tmp_path)


def test_an_as_of_before_the_data_is_refused_and_the_simulated_today_accepted(flow_config, tiny_world, tmp_path):
    from datetime import date

    from features.sufficiency import DataCoverageError

    path = flow_config()
    config = load_config(path)
    with pytest.raises(DataCoverageError, match="as-of 2017-01-01 is before the data: the first event is 2025-01-01"):
        pipeline.train(str(path), date(2017, 1, 1))
    _nothing_written(config, tmp_path)
    assert pipeline.ingest(str(path)).as_of == tiny_world[1]  # default as-of: the simulated today


def test_score_without_a_champion_fails_before_ingesting(flow_config, tmp_path):
    path = flow_config()
    config = load_config(path)
    with pytest.raises(pipeline.PipelineError, match=r"no model holds the alias quietchurn-demo@champion: run `quietchurn run train --config"):
        pipeline.score_flow(str(path))
    snapshots = config.workspace / "snapshots"
    assert not snapshots.exists() or not any(snapshots.iterdir())
    assert not config.sink.path.exists()


def test_rejects_carry_the_as_of_and_reingesting_a_date_keeps_one_copy(flow_config, tiny_world, tmp_path):
    import shutil

    data = tmp_path / "some-bad-data"
    shutil.copytree(tiny_world[0], data)
    tickets = pl.read_parquet(data / "tickets.parquet")
    tickets.with_columns(wait_seconds=pl.when(pl.int_range(pl.len()) < 7).then(-1.0).otherwise(pl.col("wait_seconds"))).write_parquet(
        data / "tickets.parquet"
    )
    path = flow_config(source={"path": str(data)})
    config = load_config(path)
    first = pipeline.ingest(str(path))
    second = pipeline.ingest(str(path))
    rejects = open_sink(config.sink).read_rejects()
    assert first.rejects == second.rejects == rejects.height == 7
    assert rejects["as_of"].unique().to_list() == [tiny_world[1]]
    assert rejects["flow_run_id"].n_unique() == 1  # the second run's rows replaced the first's

    tickets.write_parquet(data / "tickets.parquet")  # fixed at the source: the date's rejects go
    assert pipeline.ingest(str(path)).rejects == 0
    assert open_sink(config.sink).read_rejects().height == 0


def test_scoring_no_one_is_an_error_and_an_emptied_optional_table_warns(flow_config, tiny_world, tmp_path):
    import shutil

    path = flow_config()
    config = load_config(path)
    _train_and_crown(path)
    sink = open_sink(config.sink)

    # tickets emptied at the source: scored, but as loudly warned as a missing table
    no_tickets = tmp_path / "no-tickets"
    shutil.copytree(tiny_world[0], no_tickets)
    pl.read_parquet(no_tickets / "tickets.parquet").head(0).write_parquet(no_tickets / "tickets.parquet")
    empty_path = flow_config(source={"path": str(no_tickets)}, workspace=str(tmp_path / "workspace-no-tickets"))
    result = pipeline.score_flow(str(empty_path))
    assert result.customers_scored > 0
    assert any("table 'tickets' was present when model was trained but holds no rows now" in w for w in result.warnings)
    assert not any("'customers'" in w or "'events'" in w for w in result.warnings)
    runs = sink.read_score_runs().height

    # every subscription ended long before the as-of: no one is eligible, nothing is written
    gone = tmp_path / "all-gone"
    shutil.copytree(tiny_world[0], gone)
    subscriptions = pl.read_parquet(gone / "subscriptions.parquet")
    subscriptions.with_columns(ended_at=pl.col("started_at") + pl.duration(seconds=1)).write_parquet(gone / "subscriptions.parquet")
    gone_path = flow_config(source={"path": str(gone)}, workspace=str(tmp_path / "workspace-gone"))
    scores_before = sink.read_scores()
    with pytest.raises(pipeline.PipelineError, match=f"no customer is eligible at as-of {tiny_world[1]}, so nothing was scored or written"):
        pipeline.score_flow(str(gone_path))
    assert_frame_equal(sink.read_scores(), scores_before)
    assert sink.read_score_runs().height == runs


def test_training_with_no_one_eligible_at_any_snapshot_refuses_in_words(flow_config, tiny_world, tmp_path):
    import shutil

    from features.sufficiency import CannotTrain

    gone = tmp_path / "all-gone"
    shutil.copytree(tiny_world[0], gone)
    subscriptions = pl.read_parquet(gone / "subscriptions.parquet")
    subscriptions.with_columns(ended_at=pl.col("started_at") + pl.duration(seconds=1)).write_parquet(gone / "subscriptions.parquet")
    path = flow_config(source={"path": str(gone)})
    with pytest.raises(CannotTrain, match=f"cannot train: no customer is eligible at any training snapshot before {tiny_world[1]}"):
        pipeline.train(str(path))
    config = load_config(path)
    assert not client_for(config).search_registered_models()  # nothing registered
