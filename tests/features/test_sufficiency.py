"""Refusals before any work: as-of dates the events do not cover, histories and labels that cannot train."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from features.sufficiency import (
    MIN_PER_CLASS,
    CannotTrain,
    DataCoverageError,
    coverage_problem,
    history_facts,
    label_problem,
    require_coverage,
    require_history,
)

FIRST = datetime(2025, 1, 1, 0, 3, tzinfo=UTC)
LAST = datetime(2025, 12, 31, 23, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("as_of", "timezone", "hours", "expected"),
    [
        (date(2025, 6, 1), "UTC", 48, None),
        (date(2026, 1, 1), "UTC", 48, None),  # 2 minutes after the newest event
        (date(2026, 1, 2), "UTC", 48, None),  # 24 h 2 min
        (date(2026, 1, 3), "UTC", 48, "beyond the data: the newest event is 2025-12-31 23:58 UTC, more than monitoring.max_staleness_hours (48) before it; use --as-of 2026-01-02 or earlier"),
        (date(2026, 3, 1), "UTC", 48, "as-of 2026-03-01 is beyond the data"),
        (date(2026, 1, 2), "UTC", 24, "use --as-of 2026-01-01 or earlier"),
        (date(2026, 1, 2), "America/New_York", 48, None),  # 05:00 UTC: 29 h after
        (date(2026, 1, 3), "America/New_York", 48, "use --as-of 2026-01-02 or earlier"),
        (date(2025, 1, 2), "UTC", 48, None),
        (date(2025, 1, 1), "UTC", 48, "as-of 2025-01-01 is before the data: the first event is 2025-01-01 00:03 UTC"),
        (date(2017, 1, 1), "UTC", 48, "before the data: the first event is 2025-01-01 00:03 UTC, so nothing is known before it; use --as-of 2025-01-02 or later"),
    ],
)
def test_coverage_truth_table(make_config, as_of, timezone, hours, expected):
    config = make_config(schedule={"timezone": timezone}, monitoring={"max_staleness_hours": hours})
    problem = coverage_problem(FIRST, LAST, as_of, config)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem


@pytest.mark.parametrize(
    "bounds",
    [
        (datetime(2025, 1, 1, 0, 3), datetime(2025, 12, 31, 23, 58)),  # naive: source.timezone (UTC)
        ("2025-01-01 00:03:00", "2025-12-31T23:58:00Z"),  # CSV text
        ("2025-01-01T01:03:00+01:00", "2026-01-01T00:58:00+0100"),
        (date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_source_values_of_every_kind_are_read_as_utc(make_config, bounds):
    config = make_config(monitoring={"max_staleness_hours": 48})
    require_coverage(bounds, date(2026, 1, 2), config)
    with pytest.raises(DataCoverageError, match="beyond the data: the newest event is 2025-12-31"):
        require_coverage(bounds, date(2026, 3, 1), config)


def test_naive_source_times_are_wall_clock_in_the_source_time_zone(make_config):
    # 2025-12-31 23:58 in Auckland is 10:58 UTC: 2026-01-02 00:00 UTC is 37 h later, 2026-01-03 is 61 h
    config = make_config(source={"timezone": "Pacific/Auckland"})
    bounds = (datetime(2025, 1, 1, 12), datetime(2025, 12, 31, 23, 58))
    require_coverage(bounds, date(2026, 1, 2), config)
    with pytest.raises(DataCoverageError, match="newest event is 2025-12-31 10:58 UTC"):
        require_coverage(bounds, date(2026, 1, 3), config)


def test_no_events_table_or_no_rows_leaves_the_refusal_to_ingest(make_config):
    config = make_config()
    require_coverage(None, date(2030, 1, 1), config)
    require_coverage((None, None), date(2030, 1, 1), config)


def test_history_is_measured_to_the_newest_event_not_to_the_as_of(make_config):
    config = make_config()
    facts, _ = history_facts(config, date(2025, 1, 1), date(2026, 12, 1), last_activity=date(2025, 12, 31))
    assert facts.months_available == pytest.approx(365 / 30.44)
    assert facts.last_activity == date(2025, 12, 31)
    facts, _ = history_facts(config, date(2025, 1, 1), date(2025, 7, 1), last_activity=date(2025, 12, 31))
    assert facts.months_available == pytest.approx(181 / 30.44)  # an as-of inside the data bounds it


def test_training_refuses_a_short_history_and_no_events_with_the_fix(make_config):
    config = make_config()
    require_history(config, date(2025, 1, 1), date(2025, 12, 1))
    with pytest.raises(CannotTrain, match=r"^cannot train: history too short: .*Provide more history"):
        require_history(config, date(2025, 9, 1), date(2025, 12, 1))
    with pytest.raises(CannotTrain, match="cannot train: events holds no accepted rows"):
        require_history(config, None, date(2025, 12, 1))


DATES = [date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]
PARTS = {"training": DATES[:2], "validation": [DATES[2]], "test": [DATES[3]]}


def labels(per_date: int, churned_per_date: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"as_of": [d for d in DATES for _ in range(per_date)], "churned": [i < churned_per_date for _ in DATES for i in range(per_date)]}
    )


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (labels(200, 20), None),
        (labels(2 * MIN_PER_CLASS, MIN_PER_CLASS), None),  # exactly enough of each
        (labels(1, 0), "the test snapshot (2025-06-01) holds 1 eligible customer, 0 churned and 1 stayed; each part needs at least 5 customers who churned and 5 who stayed; provide more customers"),
        (labels(200, 0), "no customer churned within churn.horizon_days: check churn.definition"),
        (labels(200, 200), "every customer churned: check churn.definition and churn.activity_event_types"),
        (labels(200, 3), "the validation snapshot (2025-05-01) holds 200 eligible customers, 3 churned and 197 stayed; the test"),
        (labels(200, 3), "or lengthen churn.horizon_days so more churn falls inside it"),
        (labels(200, 2).filter(pl.col("as_of") != DATES[0]), "the training snapshots (2025-03-01, 2025-04-01) hold 200 customer-dates, 2 churned"),
        (labels(2 * MIN_PER_CLASS - 1, MIN_PER_CLASS), "4 stayed; each part needs at least 5 customers who churned and 5 who stayed; provide more customers (or more history)"),
    ],
    ids=["healthy", "just-enough", "one-customer", "no-churners", "everyone-churns", "few-churners", "few-churners-fix", "few-in-training", "few-stayers"],
)
def test_labels_that_cannot_train_are_named_with_the_fix(frame, expected):
    problem = label_problem(frame, PARTS)
    if expected is None:
        assert problem is None
    else:
        assert problem.startswith("cannot train: ") and expected in problem
        assert f"at least {MIN_PER_CLASS} customers who churned and {MIN_PER_CLASS} who stayed" in problem


# --- the bounds each source kind gives (sources.time_bounds) ---------------------------------------

EVENTS = pl.DataFrame(
    {"account": ["a", "b", "c"], "happened": [datetime(2025, 3, 1, 8), datetime(2025, 1, 1, 0, 3), datetime(2025, 12, 31, 23, 58)]}
)
MAPPED = {"tables": {"events": "app_events"}, "columns": {"events": {"customer_id": "account", "ts": "happened"}}}


def _bounds_and_refusal(config) -> None:
    from sources import time_bounds

    bounds = time_bounds(config.source, "events", "ts")
    assert [str(b)[:16].replace("T", " ") for b in bounds] == ["2025-01-01 00:03", "2025-12-31 23:58"]  # CSV gives ISO text
    with pytest.raises(DataCoverageError, match="the newest event is 2025-12-31 23:58 UTC"):
        require_coverage(bounds, date(2026, 3, 1), config)
    assert time_bounds(config.source.model_copy(update={"tables": {"events": "no_such_table"}}), "events", "ts") is None


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_file_sources_give_their_first_and_newest_time(make_config, tmp_path, suffix):
    (tmp_path / "data").mkdir()
    getattr(EVENTS, f"write_{suffix}")(tmp_path / "data" / f"app_events.{suffix}")
    _bounds_and_refusal(make_config(source=MAPPED))


def test_csv_text_that_is_no_time_is_left_out_of_the_bounds(make_config, tmp_path):
    (tmp_path / "data").mkdir()
    junk = pl.DataFrame({"account": ["x", "y", "z"], "happened": ["infinity", " n/a", ""]})
    pl.concat([EVENTS.with_columns(pl.col("happened").dt.to_string("%Y-%m-%d %H:%M:%S")), junk]).write_csv(tmp_path / "data" / "app_events.csv")
    _bounds_and_refusal(make_config(source=MAPPED))


def test_duckdb_sources_give_their_first_and_newest_time(make_config, tmp_path):
    import duckdb

    with duckdb.connect(str(tmp_path / "source.duckdb")) as connection:
        connection.register("incoming", EVENTS.to_arrow())
        connection.execute("CREATE TABLE app_events AS SELECT * FROM incoming")
    _bounds_and_refusal(make_config(source={"kind": "duckdb", "path": "source.duckdb", **MAPPED}))


def test_postgres_sources_give_their_first_and_newest_time(make_config, postgres_dsn, monkeypatch):
    from adbc_driver_postgresql import dbapi

    schema = "bounds_test"
    with dbapi.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(f"CREATE TABLE {schema}.app_events (account text, happened timestamp)")
        cursor.execute(
            f"INSERT INTO {schema}.app_events VALUES ('a', '2025-03-01 08:00'), ('b', '2025-01-01 00:03'), ('c', '2025-12-31 23:58')"
        )
        connection.commit()
    monkeypatch.setenv("QC_BOUNDS_DSN", postgres_dsn)
    _bounds_and_refusal(make_config(source={"kind": "postgres", "dsn_env": "QC_BOUNDS_DSN", "schema": schema, **MAPPED}))


@pytest.mark.parametrize(
    ("name", "content"),
    [("app_events.csv", b'account,happened\na,2025-01-01 00:03:00\nb,2025-01-02 00:00:00,extra\n"c,2025\n'), ("app_events.parquet", b"PAR1garbage")],
)
def test_an_unreadable_file_gives_no_bounds_and_is_left_to_ingest_to_name(make_config, tmp_path, name, content):
    from sources import time_bounds

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / name).write_bytes(content)
    assert time_bounds(make_config(source=MAPPED).source, "events", "ts") is None
