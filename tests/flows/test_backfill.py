"""`quietchurn run backfill`: the dates of a range, a range the data does not cover refused before
anything is written, per-date volumes from one snapshot, and (slow) a backfill run twice leaving one
set of rows per date in every table it writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from configs import load_config
from features.sufficiency import DataCoverageError
from flows.backfill_tasks import _require_range, backfill_dates, dated_manifests, rows_before
from flows.cli import app
from flows.tasks import PipelineError

D = date(2025, 3, 3)


@pytest.mark.parametrize(
    ("start", "end", "every", "expected"),
    [
        (D, D, 7, [D]),
        (D, D + timedelta(days=14), 7, [D, D + timedelta(days=7), D + timedelta(days=14)]),
        (D, D + timedelta(days=13), 7, [D, D + timedelta(days=7)]),  # the end is included only on the step
        (D, D + timedelta(days=2), 1, [D, D + timedelta(days=1), D + timedelta(days=2)]),
        (D, D + timedelta(days=6), 30, [D]),
    ],
)
def test_backfill_dates(start, end, every, expected):
    assert backfill_dates(start, end, every) == expected


@pytest.mark.parametrize(("start", "end", "every", "message"), [(D, D - timedelta(days=1), 7, "is after --to"), (D, D, 0, "at least 1 day")])
def test_a_bad_range_is_refused(start, end, every, message):
    with pytest.raises(PipelineError, match=message):
        backfill_dates(start, end, every)


def _utc(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dates", "option", "named"),
    [
        ([D - timedelta(days=60), D], "--from", "before the data"),  # the first event is D - 30
        ([D, D + timedelta(days=3)], "--to", "beyond the data"),  # the newest event is D, 48 h staleness allowed
    ],
)
def test_a_range_outside_the_events_names_the_option_to_change(make_config, dates, option, named):
    config = make_config()
    bounds = (_utc(D - timedelta(days=30)), _utc(D))
    with pytest.raises(DataCoverageError, match=rf"cannot backfill {dates[0]} to {dates[-1]}; nothing was written: .*{named}.*use {option} "):
        _require_range(bounds, dates, config)
    _require_range(bounds, [D - timedelta(days=29), D + timedelta(days=1)], config)  # inside: no error


def test_rows_before_each_date_count_only_earlier_rows():
    tables = {
        "events": pl.LazyFrame({"customer_id": ["a", "b", "c"], "ts": [_utc(D, 0), _utc(D + timedelta(days=1), 23), _utc(D + timedelta(days=7))]}),
        "tickets": pl.LazyFrame({"customer_id": ["a"], "opened_at": [_utc(D - timedelta(days=1))]}),
        "not_a_contract_table": pl.LazyFrame({"x": [1]}),
    }
    counts = rows_before(tables, [D, D + timedelta(days=1), D + timedelta(days=2), D + timedelta(days=8)], "UTC")
    assert counts == {
        D: {"events": 0, "tickets": 1},  # an event at 00:00 of the date is not before it
        D + timedelta(days=1): {"events": 1, "tickets": 1},
        D + timedelta(days=2): {"events": 2, "tickets": 1},
        D + timedelta(days=8): {"events": 3, "tickets": 1},
    }
    manifest = {"tables": {"events": {"read": 5, "accepted": 3, "rejected": 2}, "tickets": {"read": 1, "accepted": 1, "rejected": 0}}}
    dated = dated_manifests(manifest, {D: counts[D]})
    assert dated[D]["tables"] == {"events": {"read": 5, "accepted": 0, "rejected": 2}, "tickets": {"read": 1, "accepted": 1, "rejected": 0}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-03-10", "--to", "2025-03-03"], "is after --to"),
        (["--from", "2025-03-03", "--to", "2025-03-10", "--every", "weekly"], "expected a step like 7d"),
        (["--from", "2025-03-03", "--to", "2025-03-10", "--every", "0d"], "at least one day"),
        (["--from", "March 3", "--to", "2025-03-10"], "expected a date YYYY-MM-DD"),
    ],
)
def test_cli_refuses_a_bad_range_before_any_work(tmp_path, args, message):
    config = tmp_path / "config.yaml"
    config.write_text("name: t\nsource: {kind: files, path: data}\nsink: {kind: duckdb, path: scores.duckdb}\n")
    result = CliRunner().invoke(app, ["run", "backfill", "--config", str(config), *args], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "scores.duckdb").exists()


@pytest.mark.usefixtures("prefect_api")
def test_a_range_beyond_the_data_writes_nothing(flow_config, tiny_world):
    """Refused before the champion is even looked for: no snapshot, no sink, no MLflow store."""
    from flows import pipeline

    path = flow_config()
    config = load_config(path)
    today = tiny_world[1]
    with pytest.raises(DataCoverageError, match=r"beyond the data.*use --to"):
        pipeline.backfill(str(path), today - timedelta(days=14), today + timedelta(days=10), 7)
    assert not (config.workspace / "snapshots").exists() and not config.sink.path.exists()
    assert not (path.parent / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_backfilling_twice_leaves_one_set_of_rows_per_date(flow_config, tiny_world):
    from flows import pipeline
    from models.registry import client_for, promote
    from sinks import open_sink

    path = flow_config(monitoring={"drift": {"warn": 5.0, "fail": 10.0}})
    config = load_config(path)
    trained = pipeline.train(str(path))
    if not trained.promoted:
        promote(client_for(config), config.registered_model_name, trained.version)
    today = tiny_world[1]
    horizon = config.churn.horizon_days
    start = today - timedelta(days=horizon)  # 3 dates; only the first matures (as_of + horizon <= today) by the last one
    step = horizon // 2
    first = pipeline.backfill(str(path), start, today, step)
    sink = open_sink(config.sink)

    def tables() -> dict[str, pl.DataFrame]:
        return {
            "churn_scores": pl.concat([sink.read_scores(d.as_of) for d in first.dates]).drop("scored_at", "flow_run_id"),
            "score_runs": sink.read_score_runs().select("as_of", "model_version", "customers_scored", "high_risk"),
            "feature_drift": sink.read_feature_drift(),
            "score_performance": sink.read_score_performance(),
        }

    once = tables()
    second = pipeline.backfill(str(path), start, today, step)
    twice = tables()
    dates = [start, start + timedelta(days=step), today]
    assert [d.as_of for d in first.dates] == [d.as_of for d in second.dates] == dates
    for name, frame in twice.items():
        keys = {"churn_scores": ["as_of", "customer_id"], "score_runs": ["as_of"], "feature_drift": ["as_of", "feature"],
                "score_performance": ["as_of", "kind", "metric"]}[name]
        assert not frame.select(keys).is_duplicated().any(), name
        assert frame.height == once[name].height, name
    assert sorted(twice["score_runs"]["as_of"]) == dates and sorted(twice["feature_drift"]["as_of"].unique()) == dates
    realised = twice["score_performance"].filter(pl.col("kind") == "realised")["as_of"].unique().to_list()
    assert realised == [dates[0]]  # matured (as_of + horizon) by the last date: judged with outcomes observed by then
    assert first.dates[-1].realised_dates == [dates[0]] and second.dates[-1].realised_dates == [dates[0]]
    runs = sink.read_score_runs()
    assert runs["drift_summary"].null_count() == 0 and runs["flow_run_id"].n_unique() == 1  # the second run's
