"""Tables in a DuckDB file (its main schema), opened read-only."""

from __future__ import annotations

from contextlib import ExitStack

import duckdb

from features.contract import ContractError
from sources.base import COLUMNS_SQL, IN_TIME_RANGE_SQL, TABLES_SQL, Bounds, Source, TableReader, if_time, quote_identifier, rebatched, schema_of


class DuckDBSource(Source):
    def _open(self, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
        source = self.config
        if not source.path.is_file():
            raise ContractError(f"source.path: DuckDB file not found: {source.path}")
        con = stack.enter_context(duckdb.connect(str(source.path), read_only=True))
        readers = {}
        for table, name in names.items():
            found = con.execute(COLUMNS_SQL.format(schema="?", table="?"), ["main", name]).fetchall()
            columns = [quote_identifier(column) for column, _ in found if column not in source.pii.get(table, [])]
            if columns:
                query = f"SELECT {', '.join(columns)} FROM main.{quote_identifier(name)}"
                # one query at a time on the connection: each table is read when its batches are asked for
                readers[table] = TableReader(
                    schema_of(con.sql(f"{query} LIMIT 0").to_arrow_reader().schema.empty_table()),
                    lambda query=query: rebatched(con.sql(query).to_arrow_reader()),
                    self.where(name),
                )
        return readers, [name for (name,) in con.execute(TABLES_SQL.format(schema="?"), ["main"]).fetchall()]

    def _time_bounds(self, name: str, column: str) -> Bounds | None:
        """``SELECT min(..), max(..)`` in the database."""
        if not self.config.path.is_file():
            return None
        with duckdb.connect(str(self.config.path), read_only=True) as con:
            found = dict(con.execute(COLUMNS_SQL.format(schema="?", table="?"), ["main", name]).fetchall())
            if column not in found:
                return None
            quoted = quote_identifier(column)
            in_range = if_time(found[column], IN_TIME_RANGE_SQL.format(column=quoted))
            return con.execute(f"SELECT min({quoted}), max({quoted}) FROM main.{quote_identifier(name)}{in_range}").fetchone()

    def where(self, name: str) -> str:
        return f"table main.{name} in {self.config.path}"

    def place(self) -> str:
        return str(self.config.path)
