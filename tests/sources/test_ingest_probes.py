"""What the adversarial probes of ingest found, each kept as a test: a polars panic on a data row,
out-of-range datetimes, unreadable files, misspelled tables, text in typed sources, ids with
whitespace, empty required tables (docs/input-contract.md)."""

from __future__ import annotations

import errno
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.exceptions import PanicException

from features.contract import ContractError, UnreadableSourceError, ValidationFailedError
from features.validation import TableValidator
from sources import base, files, ingest, quote_identifier, read_tables, time_bounds
from sources.ingest import load_tables

INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
CUSTOMERS = pl.DataFrame({"customer_id": ["C1", "C2"], "signup_at": [datetime(2025, 1, 1), datetime(2025, 1, 2)]})
EVENTS = pl.DataFrame({"customer_id": ["C1", "C2"], "ts": [datetime(2025, 6, 1), datetime(2025, 6, 2)], "event_type": ["login"] * 2})


def write(folder: Path, **frames: pl.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def chunked(*frames: pl.DataFrame) -> pl.DataFrame:
    """One frame made of several chunks, as polars' CSV reader hands over a batch."""
    return pl.concat(frames, rechunk=False)


# --- the panic: pl.format on a column whose first chunk a filter emptied -----------------------------


def test_the_layout_that_made_polars_panic_is_built_here():
    """The trigger, at the level of polars: a two-chunk frame filtered by a mask that empties the
    first chunk; polars 2.1's pl.format panicked on it (binview/mod.rs `i < self.len()`). Validation
    rechunks rejected rows, which gives the same text without the panic."""
    filtered = chunked(pl.DataFrame({"s": ["a"]}), pl.DataFrame({"s": ["b", "c"]})).filter(pl.Series([False, True, True]))
    assert [len(chunk) for chunk in filtered["s"].get_chunks()] == [0, 2]  # the emptied chunk stays
    assert filtered.rechunk().select(pl.format("x {}", "s"))["s"].to_list() == ["x b", "x c"]


def test_an_out_of_scale_score_beside_a_blank_one_in_a_chunked_batch_is_rejected_not_a_panic(make_config):
    """The issue's data reduced to three survey rows in three chunks (a CSV batch): a good answer,
    CSAT 7 and an answer time without a score. This raised PanicException before the fix."""

    def row(customer: str, score: str) -> pl.DataFrame:
        return pl.DataFrame({"customer_id": [customer], "sent_at": ["2025-06-01"], "responded_at": ["2025-06-02"], "score": [score]})

    batch = chunked(row("C0", "1"), row("C1", "7"), row("C2", ""))
    assert batch["customer_id"].n_chunks() == 3
    validator = TableValidator(batch.schema, "surveys", make_config(survey={"scale": "csat"}), INGESTED_AT, {"customers": pl.Series(["C0", "C1", "C2"])})
    result = validator.validate(batch)
    assert result.rejects["reason"].to_list() == ["score 7 outside csat scale 1–5", "responded_at without score"]
    assert result.accepted["customer_id"].to_list() == ["C0"]


def _failing_validate(error: BaseException):
    def validate(self, raw):
        if self.spec.name == "events" and "C2" in raw["customer_id"].to_list():
            raise error
        return original(self, raw)

    original = TableValidator.validate
    return validate


@pytest.mark.parametrize("error", [PanicException("assertion failed: i < self.len()"), KeyError("ts")])
def test_a_batch_whose_validation_breaks_names_table_batch_and_file(make_config, tmp_path, monkeypatch, error):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS)
    monkeypatch.setattr(TableValidator, "validate", _failing_validate(error))
    monkeypatch.setattr(base, "BATCH_ROWS", 1)  # C2's event comes in the second batch
    handed: list[str] = []
    with pytest.raises(ValidationFailedError) as raised:
        ingest.stream_tables(make_config(), lambda table, rows: handed.append(table), INGESTED_AT)
    message = str(raised.value)
    assert message.startswith("events: validating batch 2 (rows 2-2) of ")
    assert str(tmp_path / "data" / "events.parquet") in message and type(error).__name__ in message
    assert isinstance(raised.value, ContractError)  # deterministic: the Prefect task does not retry it
    assert handed == ["customers", "customers", "events"]  # the failing batch never reached the snapshot


def test_a_contract_error_inside_a_batch_is_not_disguised_as_a_bug(make_config, tmp_path, monkeypatch):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS)
    monkeypatch.setattr(TableValidator, "validate", _failing_validate(ContractError("events.ts: bad")))
    with pytest.raises(ContractError, match="^events.ts: bad$") as raised:
        load_tables(make_config(), INGESTED_AT)
    assert not isinstance(raised.value, ValidationFailedError)


# --- datetimes polars cannot represent --------------------------------------------------------------


def test_out_of_range_datetimes_from_a_corrupt_parquet_file_are_rejected_rows(make_config, tmp_path):
    garbage = [-9_222_425_352_054_775_809 + 2, 1_748_772_000_000_000, 9_200_000_000_000_000_000]  # the middle one is 2025-06-01
    events = pa.table(
        {
            "customer_id": ["C1", "C1", "C2"],
            "ts": pa.array(garbage, pa.timestamp("us")),
            "event_type": ["login"] * 3,
            "seen_at": pa.array([garbage[1] // 1000, 2**62, garbage[1] // 1000], pa.timestamp("ms", tz="UTC")),
            "day": pa.array([20_000, 2**31 - 1, 20_000], pa.date32()),
        }
    )
    write(tmp_path / "data", customers=CUSTOMERS)
    pq.write_table(events, tmp_path / "data" / "events.parquet")
    result = load_tables(make_config(monitoring={"max_reject_share": 1.0}), INGESTED_AT)
    assert result.tables["events"]["ts"].to_list() == [datetime(2025, 6, 1, 10, tzinfo=timezone.utc)]
    assert result.rejects["reason"].to_list() == ["out-of-range timestamp in ts"] * 2
    first, last = (json.loads(row) for row in result.rejects["row"])
    assert first["ts"] == f"out of range: {garbage[0]} us since 1970-01-01" and first["seen_at"] == "2025-06-01T10:00:00Z"
    assert last["ts"] == f"out of range: {garbage[2]} us since 1970-01-01" and last["day"] == "2024-10-04"
    assert result.counts["events"].reasons == {"out-of-range timestamp in ts": 2}


def test_the_first_and_last_representable_instants_are_kept(make_config):
    edges = pl.DataFrame({"customer_id": ["C1", "C2"], "signup_at": [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]})
    validator = TableValidator(edges.schema, "customers", make_config(), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc))
    assert validator.validate(edges).accepted["signup_at"].dt.year().to_list() == [1, 9999]


@pytest.mark.postgres
def test_postgres_infinity_timestamps_are_rejected_rows(make_config, postgres_dsn, monkeypatch):
    from adbc_driver_postgresql import dbapi

    schema = f"inf_{uuid.uuid4().hex[:8]}"
    with dbapi.connect(postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(f"CREATE TABLE {schema}.customers (customer_id text, signup_at timestamptz)")
        cursor.execute(f"INSERT INTO {schema}.customers VALUES ('C1', '2025-01-01 10:00+00'), ('C2', '-infinity')")
        cursor.execute(f"CREATE TABLE {schema}.events (customer_id text, ts timestamp, event_type text)")
        cursor.execute(f"INSERT INTO {schema}.events VALUES ('C1', '2025-06-01 08:00', 'login'), ('C1', 'infinity', 'login')")
        conn.commit()
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    config = make_config(source={"kind": "postgres", "path": None, "dsn_env": "QC_TEST_SOURCE_DSN", "schema": schema}, monitoring={"max_reject_share": 1.0})
    result = load_tables(config, INGESTED_AT)
    assert result.rejects.select("table_name", "reason").rows() == [
        ("customers", "out-of-range timestamp in signup_at"),
        ("events", "out-of-range timestamp in ts"),
    ]
    assert all("out of range: " in row for row in result.rejects["row"])
    assert result.tables["events"]["ts"].to_list() == [datetime(2025, 6, 1, 8, tzinfo=timezone.utc)]


@pytest.mark.parametrize("kind", ["parquet", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_newest_event_time_leaves_out_times_no_clock_shows(make_config, tmp_path, request, kind):
    """The as-of check reads the events' time bounds before ingest: 'infinity' or garbage must not break it."""
    if kind == "parquet":
        write(tmp_path / "data", customers=CUSTOMERS)
        ts = pa.array([1_748_772_000_000_000, 9_200_000_000_000_000_000], pa.timestamp("us"))
        pq.write_table(pa.table({"customer_id": ["C1", "C1"], "ts": ts, "event_type": ["login"] * 2}), tmp_path / "data" / "events.parquet")
        source = {"kind": "files"}
    else:
        statements = [
            "CREATE TABLE events (customer_id text, ts timestamp, event_type text)",
            "INSERT INTO events VALUES ('C1', '2025-06-01 10:00', 'login'), ('C1', 'infinity', 'login'), ('C1', '-infinity', 'login')",
        ]
        if kind == "duckdb":
            with duckdb.connect(str(tmp_path / "source.duckdb")) as con:
                for statement in statements:
                    con.execute(statement)
            source = {"kind": "duckdb", "path": str(tmp_path / "source.duckdb")}
        else:
            from adbc_driver_postgresql import dbapi

            schema = f"bounds_{uuid.uuid4().hex[:8]}"
            with dbapi.connect(request.getfixturevalue("postgres_dsn")) as conn, conn.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {schema}")
                cursor.execute(f"SET search_path TO {schema}")
                for statement in statements:
                    cursor.execute(statement)
                conn.commit()
            request.getfixturevalue("monkeypatch").setenv("QC_TEST_SOURCE_DSN", request.getfixturevalue("postgres_dsn"))
            source = {"kind": "postgres", "path": None, "dsn_env": "QC_TEST_SOURCE_DSN", "schema": schema}
    first, last = time_bounds(make_config(source=source).source, "events", "ts")
    assert first == last and str(first).startswith("2025-06-01 10:00")


# --- files that cannot be read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events_csv", "where"),
    [
        ("customer_id,ts,event_type\nC1,2025-06-01,login\nC2,2025-06-01,login,extra\n", "line 3 has 4 fields, the header has 3"),
        ('customer_id,ts,event_type\nC1,2025-06-01,login\nC2,"2025-06-01,login\nC1,2025-06-02,login\n', "line 3: unexpected end of data"),
    ],
)
def test_a_malformed_csv_line_is_an_unreadable_file_named_with_its_line(make_config, tmp_path, events_csv, where):
    write(tmp_path / "data", customers=CUSTOMERS)
    (tmp_path / "data" / "events.csv").write_text(events_csv)
    with pytest.raises(UnreadableSourceError) as raised:
        load_tables(make_config(), INGESTED_AT)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'data' / 'events.csv'}: cannot read this CSV file: ")
    assert where in message and "docs/input-contract.md" in message
    assert isinstance(raised.value, ContractError)  # not retried: the file will not heal


def test_a_well_formed_csv_with_quoted_separators_reads(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS)
    (tmp_path / "data" / "events.csv").write_text('customer_id,ts,event_type\nC1,2025-06-01,"login, then ""more"""\n')
    assert load_tables(make_config(), INGESTED_AT).tables["events"]["event_type"].to_list() == ['login, then "more"']


def test_a_truncated_parquet_file_is_an_unreadable_file_named(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS)
    whole = (tmp_path / "data" / "events.parquet").read_bytes()
    (tmp_path / "data" / "events.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableSourceError) as raised:
        load_tables(make_config(), INGESTED_AT)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'data' / 'events.parquet'}: cannot read this Parquet file: ")
    assert "magic bytes" in message and "export the file again" in message


@pytest.mark.parametrize(
    ("error", "becomes"),
    [
        (OSError("Couldn't deserialize thrift"), UnreadableSourceError),  # pyarrow's: the file's content
        (pa.ArrowInvalid("Parquet magic bytes not found"), UnreadableSourceError),
        (pl.exceptions.ComputeError("found more fields than defined in 'Schema'"), UnreadableSourceError),
        (OSError(errno.EIO, "Input/output error"), OSError),  # the system's: a disk or mount that may heal, retried
        (PermissionError(errno.EACCES, "Permission denied"), PermissionError),
    ],
)
def test_only_errors_about_a_files_content_make_it_unreadable(tmp_path, error, becomes):
    with pytest.raises(becomes) as raised, files._unreadable(tmp_path / "events.parquet"):
        raise error
    assert (str(tmp_path / "events.parquet") in str(raised.value)) == (becomes is UnreadableSourceError)


# --- tables the config names that the source does not have -----------------------------------------


def _kinds(tmp_path: Path, postgres_dsn: str | None, monkeypatch, frames: dict[str, pl.DataFrame], kind: str) -> dict:
    if kind == "files":
        write(tmp_path / "data", **frames)
        return {"kind": "files", "path": str(tmp_path / "data")}
    if kind == "duckdb":
        with duckdb.connect(str(tmp_path / "source.duckdb")) as con:
            for name, frame in frames.items():
                con.register("incoming", frame.to_arrow())
                con.execute(f"CREATE TABLE {quote_identifier(name)} AS SELECT * FROM incoming")
                con.unregister("incoming")
        return {"kind": "duckdb", "path": str(tmp_path / "source.duckdb")}
    from adbc_driver_postgresql import dbapi

    schema = f"crm_{uuid.uuid4().hex[:8]}"
    with dbapi.connect(postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
        for name, frame in frames.items():
            cursor.adbc_ingest(name, frame.to_arrow(), mode="create", db_schema_name=schema)
        conn.commit()
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    return {"kind": "postgres", "path": None, "dsn_env": "QC_TEST_SOURCE_DSN", "schema": schema}


KINDS = ["files", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
TICKETS = pl.DataFrame({"ticket_id": ["T1"], "customer_id": ["C1"], "opened_at": [datetime(2025, 6, 1)]})


@pytest.mark.parametrize("kind", KINDS)
def test_a_misspelled_table_name_is_an_error_naming_the_key_and_what_was_found(make_config, tmp_path, request, monkeypatch, kind):
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    source = _kinds(tmp_path, dsn, monkeypatch, {"customers": CUSTOMERS, "events": EVENTS, "support_tickets": TICKETS}, kind)
    config = make_config(source={**source, "tables": {"tickets": "support_ticket"}})
    with pytest.raises(ContractError) as raised:
        read_tables(config.source)
    message = str(raised.value)
    found = "customers.parquet, events.parquet, support_tickets.parquet" if kind == "files" else "customers, events, support_tickets"
    assert message.startswith("source.tables.tickets: no table") and "'support_ticket'" in message
    assert f"(found: {found})" in message
    # spelled right, it reads
    assert set(read_tables(make_config(source={**source, "tables": {"tickets": "support_tickets"}}).source)) == {"customers", "events", "tickets"}


def test_column_mappings_for_a_table_the_source_lacks_name_their_key(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS)
    config = make_config(source={"columns": {"tickets": {"opened_at": "created"}}})
    with pytest.raises(ContractError) as raised:
        read_tables(config.source)
    message = str(raised.value)
    assert message.startswith("source.columns.tickets: no table or file 'tickets' in ")
    assert "(found: customers.parquet, events.parquet)" in message and "source.tables.tickets" in message


def test_optional_tables_the_config_does_not_name_may_be_absent(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS)
    assert set(read_tables(make_config().source)) == {"customers", "events"}


# --- text where a typed source should hold numbers or times ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_text_in_a_typed_source_for_a_timestamp_is_a_structural_error(make_config, tmp_path, request, monkeypatch, kind):
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    events = EVENTS.rename({"ts": "happened"}).with_columns(pl.col("happened").dt.to_string("%Y-%m-%d %H:%M"))
    source = _kinds(tmp_path, dsn, monkeypatch, {"customers": CUSTOMERS, "events": events}, kind)
    config = make_config(source={**source, "columns": {"events": {"ts": "happened"}}})
    with pytest.raises(ContractError) as raised:
        load_tables(config, INGESTED_AT)
    message = str(raised.value)
    assert message.startswith("events.ts: expected timestamp") and "found String in source column 'happened'" in message
    assert "config key source.columns.events.ts" in message and "cast it in the source" in message


def test_csv_text_stays_lenient_and_is_parsed_row_by_row(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS)
    (tmp_path / "data" / "events.csv").write_text("customer_id,happened,event_type\nC1,2025-06-01 08:00,login\nC2,soon,login\n")
    config = make_config(source={"columns": {"events": {"ts": "happened"}}}, monitoring={"max_reject_share": 1.0})
    result = load_tables(config, INGESTED_AT)
    assert result.tables["events"]["ts"].to_list() == [datetime(2025, 6, 1, 8, tzinfo=timezone.utc)]
    assert result.rejects["reason"].to_list() == ["unparseable timestamp in ts: 'soon'"]


# --- ids with surrounding whitespace ----------------------------------------------------------------


def test_ids_are_trimmed_so_a_padded_duplicate_is_a_duplicate_and_a_padded_reference_matches(make_config, tmp_path):
    customers = CUSTOMERS.vstack(pl.DataFrame({"customer_id": ["C1 ", "c1"], "signup_at": [datetime(2025, 1, 3)] * 2}))
    events = EVENTS.vstack(pl.DataFrame({"customer_id": ["\tC2 ", "C3 "], "ts": [datetime(2025, 6, 3)] * 2, "event_type": [" login "] * 2}))
    write(tmp_path / "data", customers=customers, events=events)
    result = load_tables(make_config(monitoring={"max_reject_share": 1.0}), INGESTED_AT)
    assert result.tables["customers"]["customer_id"].to_list() == ["C1", "C2", "c1"]  # case is kept: c1 is another id
    assert result.tables["events"]["customer_id"].to_list() == ["C1", "C2", "C2"]
    assert result.tables["events"]["event_type"].to_list() == ["login", "login", " login "]  # other text is untouched
    assert result.rejects.select("table_name", "reason").rows() == [("customers", "duplicate customer_id"), ("events", "unknown customer_id")]
    assert json.loads(result.rejects["row"][0])["customer_id"] == "C1 "  # the reject keeps the row as read


# --- empty tables -----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["customers", "events"])
def test_a_required_table_with_no_rows_is_an_error_naming_it(make_config, tmp_path, table):
    frames = {"customers": CUSTOMERS, "events": EVENTS}
    frames[table] = frames[table].clear()
    write(tmp_path / "data", **{("crm_" + name if name == table else name): frame for name, frame in frames.items()})
    config = make_config(source={"tables": {table: f"crm_{table}"}})
    with pytest.raises(ContractError) as raised:
        load_tables(config, INGESTED_AT)
    message = str(raised.value)
    assert message.startswith(f"{table} holds no rows (source.tables.{table} → crm_{table}, read from ")
    assert "unknown customer_id" not in message


def test_an_empty_optional_table_is_read_as_empty(make_config, tmp_path):
    write(tmp_path / "data", customers=CUSTOMERS, events=EVENTS, tickets=TICKETS.clear())
    result = load_tables(make_config(), INGESTED_AT)
    assert result.tables["tickets"].height == 0 and result.counts["tickets"].read == 0
