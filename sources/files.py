"""Tables as files in a folder: ``<table>.parquet`` or ``<table>.csv`` (docs/input-contract.md)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from configs.schema import SourceConfig
from features.contract import TABLES, UnreadableSourceError
from features.validation import in_time_range
from sources import base
from sources.base import Bounds, Source, TableReader

_FILE_SUFFIXES = (".parquet", ".csv")


class FileSource(Source):
    what_is_missing = "no table or file"

    def _open(self, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
        source = self.config
        readers = {}
        for table, name in names.items():
            path = self._find(name)
            if path is None:
                continue
            pii = source.pii.get(table, [])
            with _unreadable(path):
                readers[table] = _parquet_reader(path, pii) if path.suffix == ".parquet" else _csv_reader(path, table, source, pii)
        found = sorted(p.name for p in source.path.iterdir() if p.suffix in _FILE_SUFFIXES) if source.path.is_dir() else []
        return readers, found

    def _find(self, name: str) -> Path | None:
        return next((p for p in _file_candidates(self.config.path, name) if p.is_file()), None)

    def _time_bounds(self, name: str, column: str) -> Bounds | None:
        """A lazy min/max over the file. CSV text is compared as written, which orders ISO 8601 times correctly."""
        path = self._find(name)
        if path is None:
            return None
        scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path, infer_schema_length=0)
        try:
            found = scan.collect_schema().get(column)
            if found is None:
                return None
            value = pl.col(column).filter(in_time_range(pl.col(column), found)) if isinstance(found, pl.Datetime) or found == pl.Date else pl.col(column)
            if found == pl.String:  # ISO dates only: 'infinity' or 'n/a' would sort after every time
                value = value.filter(pl.col(column).str.strip_chars().str.contains(r"^\d{4}-\d{2}-\d{2}"))
            return scan.select(value.min(), value.max().alias("_last")).collect(engine="streaming").row(0)
        except (pl.exceptions.PolarsError, OSError):
            return None  # an unreadable file (malformed CSV, damaged Parquet) is ingest's to name, with file and line

    def where(self, name: str) -> str:
        files = " or ".join(p.name for p in _file_candidates(self.config.path, name))
        absent = "" if self.config.path.is_dir() else " (the folder does not exist)"
        return f"{files} in {self.config.path}{absent}"

    def place(self) -> str:
        return str(self.config.path)


def _parquet_reader(path: Path, pii: list[str]) -> TableReader:
    schema = pq.read_schema(path)
    columns = [name for name in schema.names if name not in pii]

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(path), pq.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=base.BATCH_ROWS, columns=columns):
                yield base.frame(batch)

    return TableReader(base.schema_of(schema.empty_table().select(columns)), batches, str(path))


def _csv_reader(path: Path, table: str, source: SourceConfig, pii: list[str]) -> TableReader:
    scan = _scan_csv(path, table, source).drop(pii, strict=False)

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(path):
            yield from scan.collect_batches(chunk_size=base.BATCH_ROWS, lazy=True)

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
