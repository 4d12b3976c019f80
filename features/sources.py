"""Read the contract tables from the configured source: raw frames with the source's own column names.

Tables arrive in batches of at most ``BATCH_ROWS`` rows, so ingest holds one batch of a table at a
time however large the table is (100M events fit in a few hundred MB). Declared PII columns
(``source.pii``) are left out of the read itself, so nothing downstream ever holds them. PostgreSQL
is read through ADBC: libpq-based and Arrow-native, so columns arrive typed, with no per-row Python
objects in between.

A table named in ``source.tables`` or ``source.columns`` that the source lacks is an error naming
the key; a file that cannot be read (a malformed CSV line, a truncated Parquet file) is an
UnreadableSourceError naming the file (docs/input-contract.md).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from configs.schema import SourceConfig
from features.contract import REQUIRED_TABLES, TABLES, ContractError, UnreadableSourceError
from features.validation import in_time_range

_FILE_SUFFIXES = (".parquet", ".csv")
_TABLES_SQL = "SELECT table_name FROM information_schema.tables WHERE table_schema = {schema} ORDER BY table_name"
_COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = {schema} AND table_name = {table} ORDER BY ordinal_position"
)
# PostgreSQL types ADBC hands over as opaque or binary Arrow values: read them as number / text
_PG_CASTS = {"numeric": "double precision", "uuid": "text", "json": "text", "jsonb": "text", "USER-DEFINED": "text"}


BATCH_ROWS = 1_000_000  # rows per batch: a few hundred MB of work per batch at most, whatever the table's size


@dataclass(frozen=True)
class TableReader:
    """One source table: its columns (PII left out) and its rows, batch by batch, in source order."""

    schema: pl.Schema
    _batches: Callable[[], Iterator[pl.DataFrame]]
    origin: str = ""  # where the rows come from, for messages: a file, or a table and its database
    typed: bool = True  # columns carry their types (everything but CSV, whose contract columns arrive as text)

    def batches(self) -> Iterator[pl.DataFrame]:
        """Every row once, in batches of at most BATCH_ROWS; an empty table gives one empty batch."""
        empty = True
        for batch in self._batches():
            empty = False
            yield batch
        if empty:
            yield pl.DataFrame(schema=self.schema)

    def read(self) -> pl.DataFrame:
        return pl.concat(list(self.batches()), how="vertical_relaxed", rechunk=True)


@contextmanager
def open_tables(source: SourceConfig) -> Iterator[dict[str, TableReader]]:
    """Every contract table the source has, in contract order, ready to be read batch by batch while
    the context is open. Optional tables may be absent unless the config names them (a misspelled
    name must not make a table vanish quietly); required ones may not."""
    names = {table: source.tables.get(table, table) for table in TABLES}
    with ExitStack() as stack:
        readers, found = _READERS[source.kind](source, names, stack)
        problems = [
            f"required table {table!r} not found: looked for {_where(source, names[table])}; "
            f"config key source.tables.{table} names it"
            for table in REQUIRED_TABLES
            if table not in readers
        ]
        problems += [_unknown_table(source, table, names[table], found) for table in _named(source) if table not in readers]
        if problems:
            raise ContractError("\n".join(dict.fromkeys(problems)))
        yield readers


def read_tables(source: SourceConfig) -> dict[str, pl.DataFrame]:
    """Every table the source has, whole, in memory (small data and tests; ingest streams instead)."""
    with open_tables(source) as readers:
        return {table: reader.read() for table, reader in readers.items()}


def _named(source: SourceConfig) -> list[str]:
    """Optional tables the config names (a table name, or column mappings): they must be there."""
    return [table for table in TABLES if table not in REQUIRED_TABLES and (table in source.tables or table in source.columns)]


def _unknown_table(source: SourceConfig, table: str, name: str, found: list[str]) -> str:
    key = f"source.tables.{table}" if table in source.tables else f"source.columns.{table}"
    what = "no table or file" if source.kind == "files" else "no table"
    listed = ", ".join(found[:20]) + (f", … ({len(found)} in all)" if len(found) > 20 else "") if found else "nothing"
    hint = "" if table in source.tables else f" (it maps columns of {table}; name its table with source.tables.{table})"
    return f"{key}: {what} {name!r} in {_place(source)} (found: {listed}){hint}"


def _place(source: SourceConfig) -> str:
    if source.kind == "postgres":
        return f"schema {source.schema_ or '<current schema>'} of the database named by ${source.dsn_env}"
    return str(source.path)


def quote_identifier(name: str) -> str:
    """A SQL identifier, double-quoted (PostgreSQL and DuckDB alike)."""
    return '"' + name.replace('"', '""') + '"'


def _open_files(source: SourceConfig, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
    readers = {}
    for table, name in names.items():
        path = next((p for p in _file_candidates(source.path, name) if p.is_file()), None)
        if path is None:
            continue
        pii = source.pii.get(table, [])
        with _unreadable(path):
            readers[table] = _parquet_reader(path, pii) if path.suffix == ".parquet" else _csv_reader(path, table, source, pii)
    found = sorted(p.name for p in source.path.iterdir() if p.suffix in _FILE_SUFFIXES) if source.path.is_dir() else []
    return readers, found


def _parquet_reader(path: Path, pii: list[str]) -> TableReader:
    schema = pq.read_schema(path)
    columns = [name for name in schema.names if name not in pii]

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(path), pq.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield _frame(batch)

    return TableReader(_schema(schema.empty_table().select(columns)), batches, str(path))


def _csv_reader(path: Path, table: str, source: SourceConfig, pii: list[str]) -> TableReader:
    scan = _scan_csv(path, table, source).drop(pii, strict=False)

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(path):
            yield from scan.collect_batches(chunk_size=BATCH_ROWS, lazy=True)

    return TableReader(scan.collect_schema(), batches, str(path), typed=False)


@contextmanager
def _unreadable(path: Path) -> Iterator[None]:
    """A file the reader cannot parse becomes an UnreadableSourceError naming it (and the line, for
    CSV). An OSError with an errno is the system's (a disk, a mount) and may heal: it stays as it is."""
    try:
        yield
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        kind = "Parquet" if path.suffix == ".parquet" else "CSV"
        detail = (_csv_problems(path) if kind == "CSV" else "") or (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        hint = "export the file again" if kind == "Parquet" else "fix or remove the line(s), or export the file again with quoting"
        raise UnreadableSourceError(
            f"{path}: cannot read this {kind} file: {detail}; {hint} (see docs/input-contract.md, 'Unreadable files')"
        ) from exc


def _csv_problems(path: Path, most: int = 3) -> str:
    """The first malformed records of a CSV file, by line: more or fewer fields than the header, or
    a quote never closed. Runs only after polars refused the file, to say where."""
    problems = []
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        reader = csv.reader(file, strict=True)
        header = next(reader, None)
        if header is None:
            return "the file is empty (not even a header line)"
        start = reader.line_num + 1
        try:
            for record in reader:
                if len(record) != len(header) and record:
                    problems.append(f"line {start} has {len(record)} fields, the header has {len(header)}")
                    if len(problems) == most:
                        break
                start = reader.line_num + 1
        except csv.Error as exc:
            problems.append(f"line {start}: {exc} (a quote opened there is never closed?)")
    return "; ".join(problems)


def _file_candidates(folder: Path, name: str) -> list[Path]:
    if name.endswith(_FILE_SUFFIXES):
        return [folder / name]
    return [folder / f"{name}{suffix}" for suffix in _FILE_SUFFIXES]


def _scan_csv(path: Path, table: str, source: SourceConfig) -> pl.LazyFrame:
    # CSV has no types: contract columns stay text and are parsed by the contract (ids keep
    # their leading zeros); attributes are inferred from the whole file
    mapping = source.columns.get(table, {})
    as_text = {mapping.get(column, column): pl.String for column in TABLES[table].column_names}
    return pl.scan_csv(path, infer_schema_length=None, schema_overrides=as_text)


def _open_duckdb(source: SourceConfig, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
    if not source.path.is_file():
        raise ContractError(f"source.path: DuckDB file not found: {source.path}")
    con = stack.enter_context(duckdb.connect(str(source.path), read_only=True))
    readers = {}
    for table, name in names.items():
        found = con.execute(_COLUMNS_SQL.format(schema="?", table="?"), ["main", name]).fetchall()
        columns = [quote_identifier(column) for column, _ in found if column not in source.pii.get(table, [])]
        if columns:
            query = f"SELECT {', '.join(columns)} FROM main.{quote_identifier(name)}"
            # one query at a time on the connection: each table is read when its batches are asked for
            readers[table] = TableReader(
                _schema(con.sql(f"{query} LIMIT 0").to_arrow_reader().schema.empty_table()),
                lambda query=query: _rebatched(con.sql(query).to_arrow_reader()),
                _where(source, name),
            )
    return readers, [name for (name,) in con.execute(_TABLES_SQL.format(schema="?"), ["main"]).fetchall()]


def _open_postgres(source: SourceConfig, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
    from adbc_driver_postgresql import dbapi  # imported here: only PostgreSQL sources need it

    conn = stack.enter_context(dbapi.connect(source.dsn()))
    cursor = stack.enter_context(conn.cursor())
    schema = source.schema_ or _current_schema(cursor)
    readers = {}
    for table, name in names.items():
        cursor.execute(_COLUMNS_SQL.format(schema="$1", table="$2"), (schema, name))
        pii = source.pii.get(table, [])
        columns = [_pg_column(column, data_type) for column, data_type in cursor.fetchall() if column not in pii]
        if columns:
            query = f"SELECT {', '.join(columns)} FROM {quote_identifier(schema)}.{quote_identifier(name)}"
            cursor.execute(f"{query} LIMIT 0")
            readers[table] = TableReader(
                _schema(cursor.fetch_arrow_table()), lambda query=query: _pg_batches(cursor, query), _where(source, name)
            )
    cursor.execute(_TABLES_SQL.format(schema="$1"), (schema,))
    return readers, [name for (name,) in cursor.fetchall()]


def _pg_batches(cursor, query: str) -> Iterator[pl.DataFrame]:
    cursor.execute(query)
    yield from _rebatched(cursor.fetch_record_batch())


def _rebatched(batches: Iterable[pa.RecordBatch]) -> Iterator[pl.DataFrame]:
    """Arrow record batches, of whatever size the driver picks, regrouped into frames of BATCH_ROWS
    rows (the last one smaller); slicing copies nothing."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        while rows >= BATCH_ROWS:
            table = pa.Table.from_batches(pending)
            yield _frame(table.slice(0, BATCH_ROWS))
            rest = table.slice(BATCH_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield _frame(pa.Table.from_batches(pending))


def _frame(data: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    return pl.from_arrow(data, rechunk=False)  # type: ignore[return-value]


def _schema(data: pa.Table) -> pl.Schema:
    return _frame(data).schema


def _current_schema(cursor) -> str:
    cursor.execute("SELECT current_schema()")
    return cursor.fetchone()[0]


def _pg_column(column: str, data_type: str) -> str:
    quoted = quote_identifier(column)
    cast = _PG_CASTS.get(data_type)
    return f"CAST({quoted} AS {cast}) AS {quoted}" if cast else quoted


def _where(source: SourceConfig, name: str) -> str:
    if source.kind == "files":
        files = " or ".join(p.name for p in _file_candidates(source.path, name))
        absent = "" if source.path.is_dir() else " (the folder does not exist)"
        return f"{files} in {source.path}{absent}"
    if source.kind == "duckdb":
        return f"table main.{name} in {source.path}"
    return f"table {source.schema_ or '<current schema>'}.{name} in the database named by ${source.dsn_env}"


_READERS: dict[str, Callable[[SourceConfig, dict[str, str], ExitStack], tuple[dict[str, TableReader], list[str]]]] = {
    "files": _open_files,
    "duckdb": _open_duckdb,
    "postgres": _open_postgres,
}


def time_bounds(source: SourceConfig, table: str, column: str) -> tuple[object, object] | None:
    """The oldest and newest value of one contract column of a table, as the source holds it
    (datetime, date or ISO text), without loading the table: a lazy min/max over the file,
    ``SELECT min(..), max(..)`` in a database. None when the table or column is not there (ingest
    names what is missing). CSV text is compared as written, which orders ISO 8601 times correctly.
    Times outside years 1-9999 ('infinity', a damaged file) are left out: ingest rejects those rows."""
    name, wanted = source.tables.get(table, table), source.columns.get(table, {}).get(column, column)
    if source.kind == "files":
        path = next((p for p in _file_candidates(source.path, name) if p.is_file()), None)
        if path is None:
            return None
        scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path, infer_schema_length=0)
        try:
            found = scan.collect_schema().get(wanted)
            if found is None:
                return None
            value = pl.col(wanted).filter(in_time_range(pl.col(wanted), found)) if isinstance(found, pl.Datetime) or found == pl.Date else pl.col(wanted)
            if found == pl.String:  # ISO dates only: 'infinity' or 'n/a' would sort after every time
                value = value.filter(pl.col(wanted).str.strip_chars().str.contains(r"^\d{4}-\d{2}-\d{2}"))
            return scan.select(value.min(), value.max().alias("_last")).collect(engine="streaming").row(0)
        except (pl.exceptions.PolarsError, OSError):
            return None  # an unreadable file (malformed CSV, damaged Parquet) is ingest's to name, with file and line
    bounds = f"SELECT min({quote_identifier(wanted)}), max({quote_identifier(wanted)}) FROM "
    in_range = f" WHERE {quote_identifier(wanted)} BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999'"
    if source.kind == "duckdb":
        if not source.path.is_file():
            return None
        with duckdb.connect(str(source.path), read_only=True) as con:
            found = dict(con.execute(_COLUMNS_SQL.format(schema="?", table="?"), ["main", name]).fetchall())
            if wanted not in found:
                return None
            return con.execute(f"{bounds}main.{quote_identifier(name)}{_if_time(found[wanted], in_range)}").fetchone()
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(source.dsn()) as conn, conn.cursor() as cursor:
        schema = source.schema_ or _current_schema(cursor)
        cursor.execute(_COLUMNS_SQL.format(schema="$1", table="$2"), (schema, name))
        found = dict(cursor.fetchall())
        if wanted not in found:
            return None
        cursor.execute(f"{bounds}{quote_identifier(schema)}.{quote_identifier(name)}{_if_time(found[wanted], in_range)}")
        return cursor.fetchone()


def _if_time(data_type: str, clause: str) -> str:
    return clause if data_type.lower().startswith(("timestamp", "date")) else ""
