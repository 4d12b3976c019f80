"""feature_drift and score_performance in every sink: replaced per date (and kind), never duplicated;
score_runs.drift_summary filled on the newest run of a date."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sinks import SCORE_RUNS, Sink, SinkSchemaError
from sinks.schema import FEATURE_DRIFT, SCORE_PERFORMANCE, conform
from tests.sinks.test_sinks import NEXT_D, D, make_score_run, sink  # noqa: F401 - the sink fixture, every kind


def drift_rows(as_of, value: float = 0.05, status: str = "ok") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "as_of": [as_of] * 3,
            "model_version": ["3"] * 3,
            "feature": ["churn_probability", "tickets_30d", "plan"],
            "metric": ["psi"] * 3,
            "value": [0.01, value, 0.02],
            "importance_rank": [None, 1, 2],
            "status": ["ok", status, "ok"],
        },
        schema_overrides={"importance_rank": pl.Int64},
    )


def performance_rows(as_of, kind: str, value: float = 0.7) -> pl.DataFrame:
    return pl.DataFrame(
        {"as_of": [as_of] * 2, "model_version": ["3"] * 2, "kind": [kind] * 2, "metric": ["roc_auc", "ece"], "value": [value, None], "n": [100, 100]},
        schema_overrides={"value": pl.Float64},
    )


def by(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys)


def test_a_date_of_drift_is_replaced_and_other_dates_kept(sink: Sink) -> None:
    sink.replace_monitoring(FEATURE_DRIFT, drift_rows(NEXT_D))
    sink.replace_monitoring(FEATURE_DRIFT, drift_rows(D))
    sink.replace_monitoring(FEATURE_DRIFT, drift_rows(D, 0.4, "fail"))  # the date monitored again
    stored = sink.read_feature_drift()
    assert stored.schema == FEATURE_DRIFT.schema
    expected = conform(pl.concat([drift_rows(NEXT_D), drift_rows(D, 0.4, "fail")]), FEATURE_DRIFT)
    assert_frame_equal(by(stored, ["as_of", "feature"]), by(expected, ["as_of", "feature"]))


def test_performance_is_replaced_per_date_and_kind(sink: Sink) -> None:
    sink.replace_monitoring(SCORE_PERFORMANCE, performance_rows(D, "estimated", 0.7))
    sink.replace_monitoring(SCORE_PERFORMANCE, performance_rows(D, "realised", 0.6))
    sink.replace_monitoring(SCORE_PERFORMANCE, performance_rows(D, "realised", 0.65))  # realised again: estimate kept
    stored = sink.read_score_performance()
    assert stored.schema == SCORE_PERFORMANCE.schema
    expected = conform(pl.concat([performance_rows(D, "estimated", 0.7), performance_rows(D, "realised", 0.65)]), SCORE_PERFORMANCE)
    assert_frame_equal(by(stored, ["kind", "metric"]), by(expected, ["kind", "metric"]))


def test_an_empty_frame_with_keys_clears_those_keys_only(sink: Sink) -> None:
    sink.replace_monitoring(FEATURE_DRIFT, pl.concat([drift_rows(D), drift_rows(NEXT_D)]))
    sink.replace_monitoring(FEATURE_DRIFT, FEATURE_DRIFT.empty(), keys=pl.DataFrame({"as_of": [D]}))
    assert sink.read_feature_drift()["as_of"].unique().to_list() == [NEXT_D]


def test_rows_outside_the_keys_or_of_another_table_are_refused_and_nothing_changes(sink: Sink) -> None:
    sink.replace_monitoring(FEATURE_DRIFT, drift_rows(D))
    with pytest.raises(SinkSchemaError, match=r"feature_drift: 3 row\(s\) outside the keys replaced"):
        sink.replace_monitoring(FEATURE_DRIFT, drift_rows(NEXT_D), keys=pl.DataFrame({"as_of": [D]}))
    with pytest.raises(SinkSchemaError, match=r"feature_drift.status: 3 null value"):
        sink.replace_monitoring(FEATURE_DRIFT, drift_rows(D, 0.9).with_columns(status=pl.lit(None, pl.String)))
    with pytest.raises(SinkSchemaError, match="replace_monitoring writes only"):
        sink.replace_monitoring(SCORE_RUNS, drift_rows(D))
    assert sink.read_feature_drift().height == 3 and sink.read_feature_drift()["value"].to_list().count(0.05) == 1


def test_drift_summary_fills_the_newest_run_of_the_date_only(sink: Sink) -> None:
    older = make_score_run(D, "run-1")
    newer = make_score_run(D, "run-2", finished_at=older["finished_at"] + timedelta(hours=1))
    for run in (older, newer, make_score_run(NEXT_D, "run-3")):
        sink.append_score_run(run)
    summary = {"status": "warn", "worst_features": [{"feature": "tickets_30d", "value": 0.12}]}
    assert sink.set_drift_summary(D, summary) is True
    runs = {row["flow_run_id"]: row["drift_summary"] for row in sink.read_score_runs().iter_rows(named=True)}
    assert json.loads(runs["run-2"]) == summary
    assert runs["run-1"] is None and runs["run-3"] is None


def test_drift_summary_of_a_date_never_scored_changes_nothing(sink: Sink) -> None:
    sink.append_score_run(make_score_run(D, "run-1"))
    assert sink.set_drift_summary(NEXT_D, {"status": "ok"}) is False
    assert sink.read_score_runs()["drift_summary"].to_list() == [None]


def test_empty_sink_reads_empty_monitoring_tables(sink: Sink) -> None:
    assert sink.read_feature_drift().schema == FEATURE_DRIFT.schema and sink.read_feature_drift().is_empty()
    assert sink.read_score_performance().schema == SCORE_PERFORMANCE.schema and sink.read_score_performance().is_empty()
