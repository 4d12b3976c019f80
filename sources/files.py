"""Tables as files in a folder: ``<table>.parquet``, ``<table>.csv``, or a folder ``<table>/`` of
Parquet files in any hive partitioning (``<table>/month=2025-06/part-0.parquet``: the partition
keys come back as columns), read lazily (docs/input-contract.md, 'Partitioned tables').

``source.path`` is a local folder or a URL that polars reads natively (``s3://``, ``gs://``,
``az://``, ``file://``); credentials come from that store's usual environment variables, never
from the config.
"""

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

Location = Path | str  # a local path, or a URL (text: Path would fold its '//')


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
                if _is_csv(path):
                    readers[table] = _csv_reader(path, table, source, pii)
                elif isinstance(path, Path) and path.is_file():
                    readers[table] = _parquet_reader(path, pii)
                else:
                    readers[table] = _dataset_reader(path, pii)
        return readers, self._listing()

    def _find(self, name: str) -> Location | None:
        """The table's folder of Parquet files, else its .parquet or .csv file; None when there is none."""
        root = self.config.path
        if isinstance(root, str):
            return next((location for location in _url_candidates(root, name) if _readable(location)), None)
        folder = root / name
        if not name.endswith(_FILE_SUFFIXES) and folder.is_dir() and next(folder.rglob("*.parquet"), None) is not None:
            return folder
        return next((p for p in _file_candidates(root, name) if p.is_file()), None)

    def _listing(self) -> list[str]:
        root = self.config.path
        if isinstance(root, str) or not root.is_dir():
            return []  # a bucket is not listed: the message names what was looked for
        tables = [p for p in root.iterdir() if p.suffix in _FILE_SUFFIXES or (p.is_dir() and next(p.rglob("*.parquet"), None) is not None)]
        return sorted(p.name + ("/" if p.is_dir() else "") for p in tables)

    def _time_bounds(self, name: str, column: str) -> Bounds | None:
        """A lazy min/max over the file(s). CSV text is compared as written, which orders ISO 8601 times correctly."""
        path = self._find(name)
        if path is None:
            return None
        try:
            scan = pl.scan_csv(path, infer_schema_length=0) if _is_csv(path) else _scan_parquet(path)
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
        root = self.config.path
        folder = [] if name.endswith(_FILE_SUFFIXES) else [f"a folder {name}/ of Parquet files"]
        files = " or ".join([p.name for p in _file_candidates(Path("."), name)] + folder)
        absent = "" if isinstance(root, str) or root.is_dir() else " (the folder does not exist)"
        return f"{files} in {root}{absent}"

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


def _dataset_reader(location: Location, pii: list[str]) -> TableReader:
    """A folder of Parquet files (hive partition keys become columns), or a Parquet file at a URL."""
    scan = _scan_parquet(location)
    schema = scan.collect_schema()
    columns = [name for name in schema.names() if name not in pii]
    scan = scan.select(columns)

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(location):
            yield from scan.collect_batches(chunk_size=base.BATCH_ROWS, lazy=True)

    return TableReader(pl.Schema({name: schema[name] for name in columns}), batches, str(location))


def _scan_parquet(location: Location) -> pl.LazyFrame:
    if str(location).endswith(".parquet"):
        return pl.scan_parquet(location)
    # every Parquet file below the folder, in path order; other files (_SUCCESS, .crc) are not rows
    return pl.scan_parquet(f"{str(location).rstrip('/')}/**/*.parquet", hive_partitioning=True)


def _is_csv(location: Location) -> bool:
    return str(location).endswith(".csv")


def _url_candidates(root: str, name: str) -> list[str]:
    root = root.rstrip("/")
    if name.endswith(_FILE_SUFFIXES):
        return [f"{root}/{name}"]
    return [f"{root}/{name}", f"{root}/{name}.parquet", f"{root}/{name}.csv"]


def _readable(location: str) -> bool:
    """Whether a URL holds the table: its schema can be read (a store has no folders to test for)."""
    try:
        (pl.scan_csv(location, n_rows=0) if _is_csv(location) else _scan_parquet(location)).collect_schema()
    except (pl.exceptions.PolarsError, OSError):
        return False
    return True


def _csv_reader(path: Location, table: str, source: SourceConfig, pii: list[str]) -> TableReader:
    scan = _scan_csv(path, table, source).drop(pii, strict=False)

    def batches() -> Iterator[pl.DataFrame]:
        with _unreadable(path):
            yield from scan.collect_batches(chunk_size=base.BATCH_ROWS, lazy=True)

    return TableReader(scan.collect_schema(), batches, str(path), typed=False)


@contextmanager
def _unreadable(path: Location) -> Iterator[None]:
    """A file the reader cannot parse becomes an UnreadableSourceError naming it (and the line, for
    CSV). An OSError with an errno is the system's (a disk, a mount) and may heal: it stays as it is."""
    try:
        yield
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        kind = "CSV" if _is_csv(path) else "Parquet"
        what = "file" if kind == "CSV" or str(path).endswith(".parquet") else "dataset (folder of files)"
        local_csv = kind == "CSV" and isinstance(path, Path)
        detail = (_csv_problems(path) if local_csv else "") or (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        hint = "export the file again" if kind == "Parquet" else "fix or remove the line(s), or export the file again with quoting"
        raise UnreadableSourceError(
            f"{path}: cannot read this {kind} {what}: {detail}; {hint} (see docs/input-contract.md, 'Unreadable files')"
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


def _scan_csv(path: Location, table: str, source: SourceConfig) -> pl.LazyFrame:
    # CSV has no types: contract columns stay text and are parsed by the contract (ids keep
    # their leading zeros); attributes are inferred from the whole file
    mapping = source.columns.get(table, {})
    as_text = {mapping.get(column, column): pl.String for column in TABLES[table].column_names}
    return pl.scan_csv(path, infer_schema_length=None, schema_overrides=as_text)
