"""The output sinks: every date replaced atomically, appends kept, frames validated, DuckDB's lock respected."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi as pg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from configs.schema import SinkConfig
from sinks import CHURN_SCORES, REJECTS, SCORE_RUNS, Sink, SinkSchemaError, conform, open_sink
from sinks.duckdb_sink import DuckDBLockedError, DuckDBSink
from sinks.parquet_sink import ParquetSink
from sinks.postgres_sink import PostgresSink
from sinks.schema import conform_scores

SINK_DSN_ENV = "QUIETCHURN_TEST_SINK_DSN"
D = date(2026, 3, 1)
NEXT_D = D + timedelta(days=1)


def make_scores(as_of: date, customers: list[str], *, shift: float = 0.0) -> pl.DataFrame:
    """A small churn_scores frame with every column, nulls where docs/output-tables.md allows them."""
    n = len(customers)
    probability = [round(0.9 - 0.1 * i + shift, 6) for i in range(n)]
    silent = [i % 2 == 0 for i in range(n)]
    return pl.DataFrame(
        {
            "as_of": [as_of] * n,
            "customer_id": customers,
            "churn_probability": probability,
            "risk_rank": list(range(1, n + 1)),
            "risk_percentile": [100.0 * (n - i) / n for i in range(n)],
            "risk_tier": ["high" if i == 0 else "low" for i in range(n)],
            "dissatisfaction_probability": [None if i == 1 else 0.5 + shift for i in range(n)],
            "survey_status": ["ignored", "responded", "not_asked"][:1] * n,
            "last_survey_score": [None] * n,
            "silent_dissatisfied": silent,
            "silent_rank": [i + 1 if flagged else None for i, flagged in enumerate(silent)],
            "reason_1": ["3 support tickets in the last 30 days (usual: 0)" if flagged else None for flagged in silent],
            "reason_2": [None] * n,
            "reason_3": [None] * n,
            "reason_source": ["churn" if flagged else None for flagged in silent],
            "reasons": [json.dumps([{"feature": "tickets_30d", "value": 3, "usual": 0, "contribution": 0.4}])] * n,
            "value_at_risk": [p * 20.0 for p in probability],
            "model_name": ["quietchurn-test"] * n,
            "model_version": ["3"] * n,
            "mlflow_run_id": ["abc123"] * n,
            "flow_run_id": [f"run-{as_of}-{shift}"] * n,
            "scored_at": [datetime(2026, 3, 1, 2, 30, tzinfo=UTC) + timedelta(days=(as_of - D).days)] * n,
        },
        schema_overrides={"last_survey_score": pl.Float64, "reason_2": pl.String, "reason_3": pl.String},
    )


def make_score_run(as_of: date, flow_run_id: str, **overrides: object) -> dict[str, object]:
    started = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    return {
        "as_of": as_of,
        "flow_run_id": flow_run_id,
        "model_name": "quietchurn-test",
        "model_version": "3",
        "customers_scored": 4,
        "high_risk": 1,
        "silent_dissatisfied": 2,
        "survey_response_rate": 0.25,
        "respondent_score": 7.5,
        "estimated_population_score": 6.1,
        "rejects": 0,
        "drift_summary": None,
        "started_at": started,
        "finished_at": started + timedelta(minutes=3),
        **overrides,
    }


def make_rejects(flow_run_id: str, reasons: list[str], table: str = "events") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table_name": [table] * len(reasons),
            "reason": reasons,
            "row": [json.dumps({"customer_id": None, "event_type": "login", "i": i}) for i in range(len(reasons))],
            "flow_run_id": [flow_run_id] * len(reasons),
            "ingested_at": [datetime(2026, 3, 1, 1, 0, tzinfo=UTC)] * len(reasons),
        }
    )


def assert_same_rows(actual: pl.DataFrame, expected: pl.DataFrame, by: list[str]) -> None:
    assert_frame_equal(actual.sort(by), expected.sort(by))


@pytest.fixture(params=["duckdb", "parquet", pytest.param("postgres", marks=pytest.mark.postgres)])
def sink(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sink:
    """A fresh, empty sink of each kind, built from config the way the flows build it."""
    if request.param == "duckdb":
        config = SinkConfig(kind="duckdb", path=tmp_path / "scores.duckdb")
    elif request.param == "parquet":
        config = SinkConfig(kind="parquet", path=tmp_path / "scores")
    else:
        monkeypatch.setenv(SINK_DSN_ENV, request.getfixturevalue("sinks_postgres_dsn"))
        # A schema name that only survives if every identifier is quoted.
        config = SinkConfig(kind="postgres", dsn_env=SINK_DSN_ENV, schema=f'Quiet "Churn" {uuid.uuid4().hex[:6]}')
    return open_sink(config)


def read_latest_relation(sink: Sink) -> pl.DataFrame:
    """latest_churn_scores as a BI tool would read it, straight from storage."""
    if isinstance(sink, DuckDBSink):
        with duckdb.connect(str(sink.path), read_only=True) as connection:
            return conform(connection.sql("SELECT * FROM latest_churn_scores").pl(), CHURN_SCORES)
    if isinstance(sink, ParquetSink):
        return conform(pl.read_parquet(sink.path / "latest_churn_scores" / "*.parquet"), CHURN_SCORES)
    assert isinstance(sink, PostgresSink)
    return sink._select(CHURN_SCORES, f"SELECT * FROM {sink._name('latest_churn_scores')}")


# --- churn_scores: one date replaced atomically --------------------------------------------------------


def test_written_date_reads_back_equal(sink: Sink) -> None:
    scores = make_scores(D, ["c1", "c2", "c3", "c4"])
    sink.write_scores(scores, D)
    assert_same_rows(sink.read_scores(D), scores, ["customer_id"])
    assert_same_rows(sink.read_scores(), scores, ["customer_id"])


def test_rewriting_a_date_replaces_its_rows(sink: Sink) -> None:
    sink.write_scores(make_scores(D, ["c1", "c2", "c3", "c4"]), D)
    rewritten = make_scores(D, ["c2", "c3", "c4", "c5"], shift=0.05)
    sink.write_scores(rewritten, D)
    stored = sink.read_scores(D)
    assert stored["customer_id"].is_unique().all()
    assert_same_rows(stored, rewritten, ["customer_id"])


def test_next_date_becomes_latest_and_previous_date_stays(sink: Sink) -> None:
    first, second = make_scores(D, ["c1", "c2", "c3"]), make_scores(NEXT_D, ["c1", "c2", "c4"], shift=0.02)
    sink.write_scores(first, D)
    sink.write_scores(second, NEXT_D)
    assert_same_rows(read_latest_relation(sink), second, ["customer_id"])
    assert_same_rows(sink.read_scores(), second, ["customer_id"])
    assert_same_rows(sink.read_scores(D), first, ["customer_id"])
    # Re-running an older date does not move "latest" back.
    sink.write_scores(make_scores(D, ["c1"], shift=0.01), D)
    assert_same_rows(read_latest_relation(sink), second, ["customer_id"])


def test_failure_during_rewrite_keeps_previous_rows(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = make_scores(D, ["c1", "c2", "c3"])
    sink.write_scores(previous, D)

    def fail(as_of: date) -> None:
        raise RuntimeError(f"injected failure while replacing {as_of}")

    monkeypatch.setattr(sink, "before_publish", fail)
    with pytest.raises(RuntimeError, match="injected failure"):
        sink.write_scores(make_scores(D, ["c1", "c2", "c3", "c9"], shift=0.05), D)
    assert_same_rows(sink.read_scores(D), previous, ["customer_id"])
    assert_same_rows(read_latest_relation(sink), previous, ["customer_id"])
    monkeypatch.undo()
    if isinstance(sink, ParquetSink):
        assert not any((sink.path / ".staging").iterdir()), "staging left behind after a failed write"


def test_invalid_scores_are_refused_and_previous_rows_kept(sink: Sink) -> None:
    previous = make_scores(D, ["c1", "c2"])
    sink.write_scores(previous, D)
    with pytest.raises(SinkSchemaError, match=r"churn_scores: missing required column\(s\) \['risk_tier'\]"):
        sink.write_scores(make_scores(D, ["c1"]).drop("risk_tier"), D)
    assert_same_rows(sink.read_scores(D), previous, ["customer_id"])


def test_empty_sink_reads_empty_tables_with_their_schema(sink: Sink) -> None:
    assert sink.read_scores().schema == CHURN_SCORES.schema and sink.read_scores().is_empty()
    assert sink.read_scores(D).is_empty()
    assert sink.read_score_runs().schema == SCORE_RUNS.schema and sink.read_score_runs().is_empty()
    assert sink.read_rejects().schema == REJECTS.schema and sink.read_rejects().is_empty()


# --- score_runs appended, rejects replaced per (as_of, table) --------------------------------------------------------------------


def test_score_runs_append_and_read_back(sink: Sink) -> None:
    drift = {"psi_max": 0.12, "drifted_features": ["tickets_30d"]}
    sink.append_score_run(make_score_run(D, "run-1"))
    sink.append_score_run(pl.DataFrame([make_score_run(NEXT_D, "run-2", drift_summary=json.dumps(drift))]))
    sink.append_score_run(make_score_run(NEXT_D, "run-3", drift_summary=drift, respondent_score=None))
    runs = sink.read_score_runs().sort("flow_run_id")
    assert runs["flow_run_id"].to_list() == ["run-1", "run-2", "run-3"]
    assert runs["as_of"].to_list() == [D, NEXT_D, NEXT_D]
    assert runs["drift_summary"][0] is None
    assert [json.loads(text) for text in runs["drift_summary"][1:]] == [drift, drift]
    assert runs["respondent_score"].to_list() == [7.5, 7.5, None]
    expected_first = conform(pl.DataFrame([make_score_run(D, "run-1")]), SCORE_RUNS)
    assert_frame_equal(runs.head(1), expected_first)


def dated(rejects: pl.DataFrame, as_of: date) -> pl.DataFrame:
    return conform(rejects.with_columns(as_of=pl.lit(as_of)), REJECTS)


def test_rejects_of_a_date_are_replaced_per_table_and_other_dates_kept(sink: Sink) -> None:
    events, tickets = make_rejects("run-1", ["null customer_id", "ts in the future"]), make_rejects("run-1", ["negative wait"], "tickets")
    other_day = make_rejects("run-0", ["negative value"])
    sink.replace_rejects(other_day, NEXT_D, ["events", "tickets"])
    sink.replace_rejects(pl.concat([events, tickets]), D, ["events", "tickets"])
    assert_same_rows(sink.read_rejects(), pl.concat([dated(other_day, NEXT_D), dated(events, D), dated(tickets, D)]), ["as_of", "table_name", "reason"])

    # the same date ingested again: one copy of its events rejects, and tickets (clean now) hold none
    again = make_rejects("run-2", ["null customer_id", "ts in the future"])
    sink.replace_rejects(again, D, ["events", "tickets"])
    sink.replace_rejects(again, D, ["events", "tickets"])
    assert_same_rows(sink.read_rejects(), pl.concat([dated(other_day, NEXT_D), dated(again, D)]), ["as_of", "table_name", "reason"])

    # a run that read only tickets leaves the date's events rejects alone
    sink.replace_rejects(make_rejects("run-3", []), D, ["tickets"])
    assert sink.read_rejects().filter(pl.col("as_of") == D)["flow_run_id"].to_list() == ["run-2", "run-2"]


def test_rejects_for_a_table_not_being_replaced_are_refused_and_nothing_changes(sink: Sink) -> None:
    first = make_rejects("run-1", ["null customer_id"])
    sink.replace_rejects(first, D, ["events"])
    with pytest.raises(SinkSchemaError, match=r"rejects.table_name: rows for \['tickets'\], not among the tables replaced \['events'\]"):
        sink.replace_rejects(make_rejects("run-2", ["negative wait"], "tickets"), D, ["events"])
    assert_same_rows(sink.read_rejects(), dated(first, D), ["reason"])


def test_a_failed_rejects_write_keeps_the_previous_rows(sink: Sink) -> None:
    first = make_rejects("run-1", ["null customer_id"])
    sink.replace_rejects(first, D, ["events"])
    with pytest.raises(SinkSchemaError, match=r"rejects.row: 1 null value"):
        sink.replace_rejects(make_rejects("run-2", ["bad"]).with_columns(row=pl.lit(None, pl.String)), D, ["events"])
    assert_same_rows(sink.read_rejects(), dated(first, D), ["reason"])


def test_duckdb_rejects_table_from_before_as_of_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "scores.duckdb"
    with duckdb.connect(str(path)) as connection:  # the table as earlier versions created it
        connection.execute(
            'CREATE TABLE rejects (table_name VARCHAR NOT NULL, reason VARCHAR NOT NULL, "row" VARCHAR NOT NULL, '
            "flow_run_id VARCHAR NOT NULL, ingested_at TIMESTAMPTZ NOT NULL)"
        )
        connection.execute("INSERT INTO rejects VALUES ('events', 'old', '{}', 'run-0', TIMESTAMPTZ '2026-01-01 00:00:00+00')")
    sink = DuckDBSink(path)
    sink.replace_rejects(make_rejects("run-1", ["null customer_id"]), D, ["events"])
    stored = sink.read_rejects().sort("flow_run_id")
    assert stored["as_of"].to_list() == [None, D] and stored["reason"].to_list() == ["old", "null customer_id"]


@pytest.mark.postgres
def test_postgres_rejects_table_from_before_as_of_gains_the_column(sinks_postgres_dsn: str) -> None:
    sink = PostgresSink(sinks_postgres_dsn, db_schema=f"old_{uuid.uuid4().hex[:6]}")
    with pg.connect(sinks_postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{sink.db_schema}"')
        cursor.execute(
            f'CREATE TABLE "{sink.db_schema}".rejects (table_name text NOT NULL, reason text NOT NULL, "row" text NOT NULL, '
            "flow_run_id text NOT NULL, ingested_at timestamptz NOT NULL)"
        )
        cursor.execute(f"INSERT INTO \"{sink.db_schema}\".rejects VALUES ('events', 'old', '{{}}', 'run-0', '2026-01-01 00:00:00+00')")
        connection.commit()
    sink.replace_rejects(make_rejects("run-1", ["null customer_id"]), D, ["events"])
    sink.replace_rejects(make_rejects("run-2", ["null customer_id"]), D, ["events"])
    stored = sink.read_rejects().sort("flow_run_id")
    assert stored["as_of"].to_list() == [None, D] and stored["flow_run_id"].to_list() == ["run-0", "run-2"]


def test_parquet_rejects_live_in_one_file_per_date(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path / "scores")
    sink.replace_rejects(make_rejects("run-1", ["null customer_id"]), D, ["events"])
    sink.replace_rejects(make_rejects("run-2", ["negative wait"], "tickets"), D, ["tickets"])
    sink.replace_rejects(make_rejects("run-2", ["negative wait"], "tickets"), D, ["tickets"])
    files = sorted(p.relative_to(sink.path).as_posix() for p in sink.path.rglob("*.parquet"))
    assert files == ["rejects/as_of=2026-03-01/part-0.parquet"]
    assert not any((sink.path / ".staging").iterdir())
    assert sorted(pl.read_parquet(sink.path / files[0])["flow_run_id"].to_list()) == ["run-1", "run-2"]


def test_score_run_missing_a_required_column_names_it(sink: Sink) -> None:
    row = make_score_run(D, "run-1")
    del row["customers_scored"]
    with pytest.raises(SinkSchemaError, match=r"score_runs: missing required column\(s\) \['customers_scored'\]"):
        sink.append_score_run(row)
    assert sink.read_score_runs().is_empty()


# --- validation (independent of storage) -----------------------------------------------------------------

GOOD = make_scores(D, ["c1", "c2"])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (GOOD.drop("customer_id"), r"churn_scores: missing required column\(s\) \['customer_id'\]"),
        (GOOD.with_columns(extra=pl.lit(1)), r"churn_scores: unknown column\(s\) \['extra'\]"),
        (GOOD.with_columns(pl.col("risk_rank").cast(pl.String)), r"churn_scores\.risk_rank: expected Int64, found String"),
        (GOOD.with_columns(pl.col("churn_probability").cast(pl.String)), r"churn_scores\.churn_probability: expected Float64"),
        (GOOD.with_columns(pl.col("as_of").cast(pl.Datetime)), r"churn_scores\.as_of: expected Date"),
        (GOOD.with_columns(pl.col("scored_at").dt.replace_time_zone(None)), r"churn_scores\.scored_at: expected a UTC timestamp"),
        (GOOD.with_columns(risk_tier=pl.lit(None, pl.String)), r"churn_scores\.risk_tier: 2 null value\(s\)"),
        (GOOD.with_columns(customer_id=pl.lit("c1")), r"churn_scores\.customer_id: 1 customer\(s\) appear more than once"),
        (GOOD.with_columns(as_of=pl.lit(NEXT_D)), r"churn_scores\.as_of: write_scores\(as_of=2026-03-01\) got rows for other dates"),
    ],
    ids=["missing", "unknown", "int-as-text", "float-as-text", "datetime-as-date", "naive-ts", "null", "duplicate", "other-date"],
)
def test_bad_scores_frame_names_table_and_column(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(SinkSchemaError, match=message):
        conform_scores(frame, D)


def test_lossless_differences_are_cast_and_missing_nullable_columns_filled() -> None:
    loose = GOOD.with_columns(
        pl.col("risk_rank").cast(pl.Int32),
        pl.col("risk_percentile").cast(pl.Float32),
        pl.col("risk_tier").cast(pl.Categorical),
        pl.col("scored_at").dt.convert_time_zone("Europe/Paris").cast(pl.Datetime("ns", "Europe/Paris")),
    ).drop("reason_2", "reason_3")
    assert_frame_equal(conform_scores(loose, D), GOOD)


# --- DuckDB: one writer at a time ------------------------------------------------------------------------

HOLD_FILE = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""


def hold_duckdb_file(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that opens the file for writing and keeps it for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FILE, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_duckdb_write_fails_after_bounded_retry_while_another_process_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "scores.duckdb"
    sink = DuckDBSink(path, lock_timeout_s=0.6)
    sink.write_scores(make_scores(D, ["c1"]), D)
    holder = hold_duckdb_file(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(DuckDBLockedError, match=r"another process holds a lock on the DuckDB file.*read-only") as error:
            sink.write_scores(make_scores(D, ["c1", "c2"]), D)
        waited = time.monotonic() - started
        assert "Could not set lock" in str(error.value)
        assert 0.6 <= waited < 5, f"waited {waited:.2f} s for a 0.6 s retry budget"
    finally:
        holder.kill()
        holder.wait()
    assert sink.read_scores(D)["customer_id"].to_list() == ["c1"]


def test_duckdb_write_succeeds_when_the_other_process_lets_go_within_the_window(tmp_path: Path) -> None:
    path = tmp_path / "scores.duckdb"
    sink = DuckDBSink(path, lock_timeout_s=20)
    sink.write_scores(make_scores(D, ["c1"]), D)
    holder = hold_duckdb_file(path, 1.0)
    try:
        started = time.monotonic()
        sink.write_scores(make_scores(D, ["c1", "c2"]), D)
        assert time.monotonic() - started >= 0.5, "the write should have waited for the other process"
    finally:
        holder.wait(timeout=30)
    assert sink.read_scores(D)["customer_id"].sort().to_list() == ["c1", "c2"]


# --- storage layout and types that readers outside quietchurn rely on --------------------------------------


def test_parquet_layout_is_a_hive_dataset_other_tools_can_read(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path / "scores")
    sink.write_scores(make_scores(D, ["c1", "c2"]), D)
    sink.write_scores(make_scores(NEXT_D, ["c1"]), NEXT_D)
    sink.write_scores(make_scores(D, ["c3"]), D)
    sink.append_score_run(make_score_run(D, "run-1"))
    assert sorted(p.relative_to(sink.path).parent.as_posix() for p in sink.path.rglob("*.parquet")) == [
        "churn_scores/as_of=2026-03-01",
        "churn_scores/as_of=2026-03-02",
        "latest_churn_scores",
        "score_runs/as_of=2026-03-01",
    ]
    assert not any((sink.path / ".staging").iterdir())
    pattern = (sink.path / "churn_scores" / "**" / "*.parquet").as_posix()
    counts = duckdb.sql(f"SELECT as_of, count(*) FROM read_parquet('{pattern}', hive_partitioning = true) GROUP BY 1 ORDER BY 1")
    assert counts.fetchall() == [(D, 1), (NEXT_D, 1)]


@pytest.mark.postgres
def test_postgres_columns_have_the_product_types(sinks_postgres_dsn: str) -> None:
    sink = PostgresSink(sinks_postgres_dsn, db_schema=f"types_{uuid.uuid4().hex[:6]}")
    sink.write_scores(make_scores(D, ["c1"]), D)
    sink.append_score_run(make_score_run(D, "run-1"))
    query = f"SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = '{sink.db_schema}'"
    with pg.connect(sinks_postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        types = {(table, column): kind for table, column, kind in cursor.fetchall()}
    expected = {
        ("churn_scores", "as_of"): "date",
        ("churn_scores", "customer_id"): "text",
        ("churn_scores", "churn_probability"): "double precision",
        ("churn_scores", "risk_rank"): "bigint",
        ("churn_scores", "silent_dissatisfied"): "boolean",
        ("churn_scores", "scored_at"): "timestamp with time zone",
        ("latest_churn_scores", "reasons"): "text",
        ("score_runs", "customers_scored"): "bigint",
        ("score_runs", "drift_summary"): "text",
        ("rejects", "row"): "text",
    }
    assert {key: types.get(key) for key in expected} == expected
    assert len([key for key in types if key[0] == "churn_scores"]) == len(CHURN_SCORES.columns)


def test_postgres_sink_without_its_dsn_variable_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SINK_DSN_ENV, raising=False)
    with pytest.raises(ValueError, match=f"environment variable {SINK_DSN_ENV} \\(named by sink.dsn_env\\) is not set"):
        open_sink(SinkConfig(kind="postgres", dsn_env=SINK_DSN_ENV))
