"""Read the contract tables from the configured source: raw frames with the source's own column names.

Declared PII columns (``source.pii``) are left out of the read itself, so nothing downstream ever
holds them. PostgreSQL is read through ADBC: libpq-based and Arrow-native, so columns arrive typed,
with no per-row Python objects in between.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from configs.schema import SourceConfig
from features.contract import REQUIRED_TABLES, TABLES, ContractError

_FILE_SUFFIXES = (".parquet", ".csv")
_COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = {schema} AND table_name = {table} ORDER BY ordinal_position"
)
# PostgreSQL types ADBC hands over as opaque or binary Arrow values: read them as number / text
_PG_CASTS = {"numeric": "double precision", "uuid": "text", "json": "text", "jsonb": "text", "USER-DEFINED": "text"}


def read_tables(source: SourceConfig) -> dict[str, pl.DataFrame]:
    """Every contract table the source has; optional tables may be absent, required ones may not."""
    names = {table: source.tables.get(table, table) for table in TABLES}
    frames = _READERS[source.kind](source, names)
    missing = [table for table in REQUIRED_TABLES if table not in frames]
    if missing:
        raise ContractError(
            "\n".join(
                f"required table {table!r} not found: looked for {_where(source, names[table])}; "
                f"config key source.tables.{table} names it"
                for table in missing
            )
        )
    return frames


def quote_identifier(name: str) -> str:
    """A SQL identifier, double-quoted (PostgreSQL and DuckDB alike)."""
    return '"' + name.replace('"', '""') + '"'


def _read_files(source: SourceConfig, names: dict[str, str]) -> dict[str, pl.DataFrame]:
    frames = {}
    for table, name in names.items():
        path = next((p for p in _file_candidates(source.path, name) if p.is_file()), None)
        if path is not None:
            frames[table] = _scan_file(path, table, source).drop(source.pii.get(table, []), strict=False).collect()
    return frames


def _file_candidates(folder: Path, name: str) -> list[Path]:
    if name.endswith(_FILE_SUFFIXES):
        return [folder / name]
    return [folder / f"{name}{suffix}" for suffix in _FILE_SUFFIXES]


def _scan_file(path: Path, table: str, source: SourceConfig) -> pl.LazyFrame:
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    # CSV has no types: contract columns stay text and are parsed by the contract (ids keep
    # their leading zeros); attributes are inferred from the whole file
    mapping = source.columns.get(table, {})
    as_text = {mapping.get(column, column): pl.String for column in TABLES[table].column_names}
    return pl.scan_csv(path, infer_schema_length=None, schema_overrides=as_text)


def _read_duckdb(source: SourceConfig, names: dict[str, str]) -> dict[str, pl.DataFrame]:
    if not source.path.is_file():
        raise ContractError(f"source.path: DuckDB file not found: {source.path}")
    frames = {}
    with duckdb.connect(str(source.path), read_only=True) as con:
        for table, name in names.items():
            found = con.execute(_COLUMNS_SQL.format(schema="?", table="?"), ["main", name]).fetchall()
            columns = [quote_identifier(column) for column, _ in found if column not in source.pii.get(table, [])]
            if columns:
                frames[table] = con.sql(f"SELECT {', '.join(columns)} FROM main.{quote_identifier(name)}").pl()
    return frames


def _read_postgres(source: SourceConfig, names: dict[str, str]) -> dict[str, pl.DataFrame]:
    from adbc_driver_postgresql import dbapi  # imported here: only PostgreSQL sources need it

    frames = {}
    with dbapi.connect(source.dsn()) as conn, conn.cursor() as cursor:
        schema = source.schema_ or _current_schema(cursor)
        for table, name in names.items():
            cursor.execute(_COLUMNS_SQL.format(schema="$1", table="$2"), (schema, name))
            pii = source.pii.get(table, [])
            columns = [_pg_column(column, data_type) for column, data_type in cursor.fetchall() if column not in pii]
            if columns:
                cursor.execute(f"SELECT {', '.join(columns)} FROM {quote_identifier(schema)}.{quote_identifier(name)}")
                frames[table] = pl.from_arrow(cursor.fetch_arrow_table())
    return frames


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


_READERS: dict[str, Callable[[SourceConfig, dict[str, str]], dict[str, pl.DataFrame]]] = {
    "files": _read_files,
    "duckdb": _read_duckdb,
    "postgres": _read_postgres,
}
