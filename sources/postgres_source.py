"""Tables in a PostgreSQL schema, read through ADBC: libpq-based and Arrow-native, so columns arrive
typed, with no per-row Python objects in between. The DSN comes from the environment variable
``source.dsn_env`` names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import polars as pl

from sources.base import COLUMNS_SQL, IN_TIME_RANGE_SQL, TABLES_SQL, Bounds, Source, TableReader, if_time, quote_identifier, rebatched, schema_of

# PostgreSQL types ADBC hands over as opaque or binary Arrow values: read them as number / text
_PG_CASTS = {"numeric": "double precision", "uuid": "text", "json": "text", "jsonb": "text", "USER-DEFINED": "text"}


class PostgresSource(Source):
    def _open(self, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
        from adbc_driver_postgresql import dbapi  # imported here: only PostgreSQL sources need it

        source = self.config
        conn = stack.enter_context(dbapi.connect(source.dsn()))
        cursor = stack.enter_context(conn.cursor())
        schema = source.schema_ or _current_schema(cursor)
        readers = {}
        for table, name in names.items():
            cursor.execute(COLUMNS_SQL.format(schema="$1", table="$2"), (schema, name))
            pii = source.pii.get(table, [])
            columns = [_pg_column(column, data_type) for column, data_type in cursor.fetchall() if column not in pii]
            if columns:
                query = f"SELECT {', '.join(columns)} FROM {quote_identifier(schema)}.{quote_identifier(name)}"
                cursor.execute(f"{query} LIMIT 0")
                readers[table] = TableReader(schema_of(cursor.fetch_arrow_table()), lambda query=query: _pg_batches(cursor, query), self.where(name))
        cursor.execute(TABLES_SQL.format(schema="$1"), (schema,))
        return readers, [name for (name,) in cursor.fetchall()]

    def _time_bounds(self, name: str, column: str) -> Bounds | None:
        """``SELECT min(..), max(..)`` in the database."""
        from adbc_driver_postgresql import dbapi

        with dbapi.connect(self.config.dsn()) as conn, conn.cursor() as cursor:
            schema = self.config.schema_ or _current_schema(cursor)
            cursor.execute(COLUMNS_SQL.format(schema="$1", table="$2"), (schema, name))
            found = dict(cursor.fetchall())
            if column not in found:
                return None
            quoted = quote_identifier(column)
            in_range = if_time(found[column], IN_TIME_RANGE_SQL.format(column=quoted))
            cursor.execute(f"SELECT min({quoted}), max({quoted}) FROM {quote_identifier(schema)}.{quote_identifier(name)}{in_range}")
            return cursor.fetchone()

    def where(self, name: str) -> str:
        return f"table {self.config.schema_ or '<current schema>'}.{name} in the database named by ${self.config.dsn_env}"

    def place(self) -> str:
        return f"schema {self.config.schema_ or '<current schema>'} of the database named by ${self.config.dsn_env}"


def _pg_batches(cursor, query: str) -> Iterator[pl.DataFrame]:
    cursor.execute(query)
    yield from rebatched(cursor.fetch_record_batch())


def _current_schema(cursor) -> str:
    cursor.execute("SELECT current_schema()")
    return cursor.fetchone()[0]


def _pg_column(column: str, data_type: str) -> str:
    quoted = quote_identifier(column)
    cast = _PG_CASTS.get(data_type)
    return f"CAST({quoted} AS {cast}) AS {quoted}" if cast else quoted
