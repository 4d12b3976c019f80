"""Reading the contract tables from files, DuckDB and PostgreSQL: same data, same accepted frames."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.contract import ContractError
import sources
from features.ingest import LoadResult
from sources import base, quote_identifier, read_tables
from sources.ingest import load_tables

INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
PII = {"customers": ["email", "name"]}


def world() -> dict[str, pl.DataFrame]:
    """A little company with typed columns, naive and aware timestamps, PII and a few bad rows."""
    naive = [datetime(2025, 1, d, 9, 30) for d in (1, 2, 3, 4)]
    return {
        "customers": pl.DataFrame(
            {
                "customer_id": ["C001", "C002", "C003", "C002"],  # the second C002 is a duplicate
                "signup_at": naive,
                "email": ["ann@example.com", "bob@example.com", "cy@example.com", "dup@example.com"],
                "name": ["Ann", "Bob", "Cy", "Dup"],
                "plan": ["pro", "basic", None, "pro"],
                "monthly_value": [49.5, 9.0, 19.25, 1.0],
                "is_vip": [True, False, None, False],
                "seats": [3, 1, None, 2],
            }
        ),
        "events": pl.DataFrame(
            {
                "customer_id": ["C001", "C002", "C999", "C003"],  # C999 is unknown
                "ts": [
                    datetime(2025, 6, 1, 8),
                    datetime(2025, 6, 2, 23, 59, 59, 250000),
                    datetime(2025, 6, 3),
                    datetime(2027, 1, 1),  # after ingest
                ],
                "event_type": ["login", "purchase", "login", "login"],
                "value": [None, 12.5, None, 1.0],
            }
        ),
        "tickets": pl.DataFrame(
            {
                "ticket_id": ["T1", "T2", "T2", "T3"],
                "customer_id": ["C001", "C002", "C002", "C003"],
                "opened_at": [datetime(2025, 6, 1, 10), datetime(2025, 6, 2, 10), datetime(2025, 6, 2, 11), datetime(2025, 6, 5)],
                "resolved_at": [
                    datetime(2025, 6, 1, 16, tzinfo=timezone.utc),
                    None,
                    None,
                    datetime(2025, 6, 4, tzinfo=timezone.utc),  # before it was opened
                ],
                "wait_seconds": [30.0, -5.0, 12.0, 60.0],
                "handoffs": [0, 2, None, 1],
                "reopened": [False, True, None, False],
            }
        ),
        "surveys": pl.DataFrame(
            {
                "customer_id": ["C001", "C002", "C003"],
                "sent_at": [datetime(2025, 6, 1)] * 3,
                "responded_at": [datetime(2025, 6, 2), None, datetime(2025, 6, 3)],
                "score": [3.0, None, 11.0],
            }
        ),
    }


def write_files(folder: Path, frames: dict[str, pl.DataFrame], suffix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet") if suffix == "parquet" else frame.write_csv(folder / f"{name}.csv")


def write_duckdb(path: Path, frames: dict[str, pl.DataFrame]) -> None:
    with duckdb.connect(str(path)) as con:
        for name, frame in frames.items():
            con.register("incoming", frame.to_arrow())
            con.execute(f"CREATE TABLE {quote_identifier(name)} AS SELECT * FROM incoming")
            con.unregister("incoming")


def write_postgres(dsn: str, schema: str, frames: dict[str, pl.DataFrame]) -> None:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
        for name, frame in frames.items():
            cursor.adbc_ingest(name, frame.to_arrow(), mode="create", db_schema_name=schema)
        conn.commit()


def load(config) -> LoadResult:
    return load_tables(config, INGESTED_AT)


def assert_same_load(expected: LoadResult, actual: LoadResult) -> None:
    assert expected.tables.keys() == actual.tables.keys()
    for table, frame in expected.tables.items():
        assert_frame_equal(frame, actual.tables[table])
    assert expected.counts == actual.counts
    reasons = ["table_name", "reason"]
    assert_frame_equal(expected.rejects.select(reasons).sort(reasons), actual.rejects.select(reasons).sort(reasons))


@pytest.fixture
def source_config(make_config, tmp_path):
    """Config for the world in a given source kind: naive times are New York time, PII declared."""

    def make(kind: str, **source):
        settings = {"kind": kind, "path": str(tmp_path / "data"), "timezone": "America/New_York", "pii": PII, **source}
        return make_config(source=settings, monitoring={"max_reject_share": 1.0})

    return make


@pytest.fixture
def parquet_load(source_config, tmp_path) -> LoadResult:
    write_files(tmp_path / "data", world(), "parquet")
    return load(source_config("files"))


def test_the_world_loads_as_expected_from_parquet(parquet_load):
    customers = parquet_load.tables["customers"]
    assert customers.columns == ["customer_id", "signup_at", "plan", "monthly_value", "is_vip", "seats"]
    assert customers["signup_at"][0] == datetime(2025, 1, 1, 14, 30, tzinfo=timezone.utc)  # 09:30 EST
    assert {t: (c.read, c.accepted, c.rejected) for t, c in parquet_load.counts.items()} == {
        "customers": (4, 3, 1),
        "events": (4, 2, 2),
        "tickets": (4, 1, 3),
        "surveys": (3, 2, 1),
    }
    assert parquet_load.counts["tickets"].reasons == {
        "negative wait_seconds": 1,
        "duplicate ticket_id": 1,
        "resolved_at before opened_at": 1,
    }


def test_csv_gives_the_same_accepted_frames_as_parquet(parquet_load, source_config, tmp_path):
    write_files(tmp_path / "csv", world(), "csv")
    assert_same_load(parquet_load, load(source_config("files", path=str(tmp_path / "csv"))))


def test_duckdb_gives_the_same_accepted_frames_as_parquet(parquet_load, source_config, tmp_path):
    write_duckdb(tmp_path / "source.duckdb", world())
    assert_same_load(parquet_load, load(source_config("duckdb", path=str(tmp_path / "source.duckdb"))))


@pytest.mark.postgres
def test_postgres_gives_the_same_accepted_frames_as_parquet(parquet_load, source_config, postgres_dsn, monkeypatch):
    schema = f"crm_{uuid.uuid4().hex[:8]}"
    write_postgres(postgres_dsn, schema, world())
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    config = source_config("postgres", path=None, dsn_env="QC_TEST_SOURCE_DSN", schema=schema)
    assert_same_load(parquet_load, load(config))


# --- what each reader finds, misses and leaves out ---------------------------------------------


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_files_are_found_by_the_configured_names_and_pii_is_left_out(make_config, tmp_path, suffix):
    frames = world()
    write_files(tmp_path / "data", {"dim_customer": frames["customers"], "app_events": frames["events"]}, suffix)
    config = make_config(source={"tables": {"customers": "dim_customer", "events": f"app_events.{suffix}"}, "pii": PII})
    raws = read_tables(config.source)
    assert set(raws) == {"customers", "events"}  # optional tables are simply absent
    assert "email" not in raws["customers"].columns and "name" not in raws["customers"].columns
    assert raws["customers"]["customer_id"].to_list() == ["C001", "C002", "C003", "C002"]  # CSV keeps leading zeros


def test_csv_contract_columns_stay_text_until_the_contract_parses_them(make_config, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text("customer_id,signup_at,zip\n007,2025-01-01,01234\n")
    (tmp_path / "data" / "events.csv").write_text("customer_id,ts,event_type\n007,2025-06-01 08:00,login\n")
    result = load(make_config())
    # contract columns keep their text; attributes are inferred from the whole file
    assert result.tables["customers"].row(0) == ("007", datetime(2025, 1, 1, tzinfo=timezone.utc), 1234)
    assert result.tables["events"]["customer_id"].to_list() == ["007"]


@pytest.mark.parametrize(
    ("kind", "looked_in"),
    [("files", "events.parquet or events.csv or a folder events/ of Parquet files in"), ("duckdb", "table main.events in")],
)
def test_a_missing_required_table_names_the_table_where_it_looked_and_the_key(make_config, tmp_path, kind, looked_in):
    customers = world()["customers"]
    if kind == "files":
        write_files(tmp_path / "data", {"customers": customers}, "parquet")
        path = tmp_path / "data"
    else:
        path = tmp_path / "source.duckdb"
        write_duckdb(path, {"customers": customers})
    config = make_config(source={"kind": kind, "path": str(path)})
    with pytest.raises(ContractError) as error:
        read_tables(config.source)
    message = str(error.value)
    assert "required table 'events' not found" in message and looked_in in message and str(path) in message
    assert "source.tables.events" in message and "customers" not in message


def test_a_missing_duckdb_file_is_a_contract_error(make_config, tmp_path):
    config = make_config(source={"kind": "duckdb", "path": str(tmp_path / "nope.duckdb")})
    with pytest.raises(ContractError, match="source.path: DuckDB file not found"):
        read_tables(config.source)


def test_duckdb_reads_named_tables_read_only_without_pii(make_config, tmp_path):
    frames = world()
    path = tmp_path / "warehouse.duckdb"
    write_duckdb(path, {"Dim Customer": frames["customers"], "events": frames["events"]})
    config = make_config(source={"kind": "duckdb", "path": str(path), "tables": {"customers": "Dim Customer"}, "pii": PII})
    raws = read_tables(config.source)
    assert raws["customers"].columns == ["customer_id", "signup_at", "plan", "monthly_value", "is_vip", "seats"]
    with duckdb.connect(str(path)) as con:  # no lock was left behind
        assert con.execute('SELECT count(*) FROM "Dim Customer"').fetchone() == (4,)


@pytest.mark.postgres
def test_postgres_reads_warehouse_types_from_its_schema_without_pii(make_config, postgres_dsn, monkeypatch):
    from adbc_driver_postgresql import dbapi

    schema = f"Wh {uuid.uuid4().hex[:8]}"  # needs quoting
    with dbapi.connect(postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
        cursor.execute(
            f'CREATE TABLE {quote_identifier(schema)}."Dim Customer" '
            "(account_id uuid, created_at timestamptz, mrr numeric(10,2), email text, traits jsonb)"
        )
        cursor.execute(
            f'INSERT INTO {quote_identifier(schema)}."Dim Customer" VALUES '
            "('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2025-01-01 10:00+02', 49.90, 'ann@example.com', '{\"tier\": 1}')"
        )
        cursor.execute(f"CREATE TABLE {quote_identifier(schema)}.events (account_id uuid, ts timestamp, event_type text)")
        cursor.execute(
            f"INSERT INTO {quote_identifier(schema)}.events VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2025-02-01 10:00', 'login')"
        )
        conn.commit()
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    config = make_config(
        source={
            "kind": "postgres",
            "path": None,
            "dsn_env": "QC_TEST_SOURCE_DSN",
            "schema": schema,
            "tables": {"customers": "Dim Customer"},
            "columns": {
                "customers": {"customer_id": "account_id", "signup_at": "created_at"},
                "events": {"customer_id": "account_id"},
            },
            "pii": {"customers": ["email"]},
        },
    )
    result = load(config)
    customers = result.tables["customers"]
    signed_up = datetime(2025, 1, 1, 8, tzinfo=timezone.utc)
    assert customers.row(0) == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", signed_up, 49.9, '{"tier": 1}')  # uuid, numeric, jsonb
    assert customers.columns == ["customer_id", "signup_at", "mrr", "traits"]
    assert result.tables["events"].row(0) == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", datetime(2025, 2, 1, 10, tzinfo=timezone.utc), "login", None, None)


@pytest.mark.postgres
def test_postgres_missing_required_table_names_schema_and_env_var(make_config, postgres_dsn, monkeypatch):
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    config = make_config(source={"kind": "postgres", "path": None, "dsn_env": "QC_TEST_SOURCE_DSN", "schema": "nowhere"})
    with pytest.raises(ContractError) as error:
        read_tables(config.source)
    message = str(error.value)
    assert "table nowhere.customers" in message and "$QC_TEST_SOURCE_DSN" in message and "source.tables.customers" in message
    assert postgres_dsn not in message  # a DSN may hold a password


def test_rejects_from_every_source_keep_pii_out(parquet_load):
    rows = [json.loads(row) for row in parquet_load.rejects["row"]]
    assert rows and all({"email", "name"}.isdisjoint(row) for row in rows)
    assert "example.com" not in "".join(parquet_load.rejects["row"])


# --- batches: a table read in pieces gives what it gives whole ------------------------------------


@pytest.fixture
def tiny_batches(monkeypatch):
    """Readers hand over tables in batches of ``size`` rows (default 1M), so every cross-batch rule runs."""

    def set_size(size: int) -> None:
        monkeypatch.setattr(base, "BATCH_ROWS", size)

    return set_size


def _write_source(kind: str, tmp_path: Path, postgres_dsn: str | None, monkeypatch) -> dict:
    if kind in ("parquet", "csv"):
        write_files(tmp_path / kind, world(), kind)
        return {"kind": "files", "path": str(tmp_path / kind)}
    if kind == "duckdb":
        write_duckdb(tmp_path / "source.duckdb", world())
        return {"kind": "duckdb", "path": str(tmp_path / "source.duckdb")}
    schema = f"crm_{uuid.uuid4().hex[:8]}"
    write_postgres(postgres_dsn, schema, world())
    monkeypatch.setenv("QC_TEST_SOURCE_DSN", postgres_dsn)
    return {"kind": "postgres", "path": None, "dsn_env": "QC_TEST_SOURCE_DSN", "schema": schema}


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("kind", ["parquet", "csv", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_tables_read_in_batches_load_the_same_as_whole(parquet_load, source_config, tiny_batches, tmp_path, request, monkeypatch, kind, size):
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    config = source_config(**_write_source(kind, tmp_path, dsn, monkeypatch))
    tiny_batches(size)
    with sources.open_tables(config.source) as readers:
        heights = [batch.height for batch in readers["customers"].batches()]
    assert sum(heights) == 4 and len(heights) > 1  # the duplicate C002 (rows 2 and 4) lands in a later batch
    if kind != "csv":  # polars' CSV streaming treats the size as a hint
        assert max(heights) <= size
    assert_same_load(parquet_load, load(config))  # duplicates across batches, references, counts, rejects


def test_an_empty_table_still_gives_one_typed_batch(source_config, tmp_path):
    frames = world()
    frames["surveys"] = frames["surveys"].clear()
    write_files(tmp_path / "data", frames, "parquet")
    with sources.open_tables(source_config("files").source) as readers:
        batches = list(readers["surveys"].batches())
    assert [b.height for b in batches] == [0] and batches[0].schema == frames["surveys"].schema
    assert load(source_config("files")).tables["surveys"].height == 0
