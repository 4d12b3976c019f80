"""The one place that knows where run files live inside ``config.workspace``."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from configs import Config


def snapshot_dir(config: Config, as_of: date) -> Path:
    """Validated input tables as of a run date: ``<workspace>/snapshots/<as_of>/<table>.parquet``."""
    return config.workspace / "snapshots" / as_of.isoformat()


def features_path(config: Config, as_of: date) -> Path:
    return config.workspace / "features" / f"as_of={as_of.isoformat()}.parquet"


@dataclass
class SnapshotStager:
    """A snapshot written table by table, batch by batch, into a staging folder beside ``target``;
    ``commit`` swaps it into place whole, ``discard`` removes it. Each table is one Parquet file
    (one row group per batch) with a content fingerprint: the wrapping sum of its row hashes, so
    the same rows give the same id however they were batched (identifies training data in MLflow)."""

    target: Path
    staging: Path = field(init=False)
    fingerprints: dict[str, int] = field(init=False, default_factory=dict)
    _writers: dict[str, pq.ParquetWriter] = field(init=False, default_factory=dict)
    # one batch is written in the background while the caller reads and validates the next
    _pool: ThreadPoolExecutor = field(init=False, default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="snapshot-writer"))
    _pending: Future | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.staging = self.target.parent / f".staging-{uuid.uuid4().hex}"
        self.staging.mkdir(parents=True)

    def append(self, table: str, rows: pl.DataFrame) -> None:
        self.fingerprints[table] = (self.fingerprints.get(table, 0) + int(rows.hash_rows(seed=0).sum())) % 2**64
        self._wait()  # at most one batch in flight: memory stays bounded
        self._pending = self._pool.submit(self._write, table, rows.to_arrow())

    def _write(self, table: str, data: pa.Table) -> None:
        writer = self._writers.get(table)
        if writer is None:  # the first batch, even an empty one, makes the file and fixes its schema
            writer = self._writers[table] = pq.ParquetWriter(self.staging / f"{table}.parquet", data.schema, compression="zstd")
        if data.num_rows:
            writer.write_table(data.cast(writer.schema), row_group_size=data.num_rows)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # a failed write fails the ingest here

    def close(self) -> None:
        try:
            self._wait()
        finally:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()
            self._pool.shutdown()

    def commit(self, manifest: dict) -> Path:
        """Write the manifest, then put the staged folder in place of any earlier snapshot of the date."""
        self.close()
        (self.staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        if self.target.exists():
            old = self.target.parent / f".old-{uuid.uuid4().hex}"
            os.replace(self.target, old)
            os.replace(self.staging, self.target)
            shutil.rmtree(old)
        else:
            os.replace(self.staging, self.target)
        return self.target

    def discard(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the staged files go either way; the caller has the first error
            pass
        shutil.rmtree(self.staging, ignore_errors=True)

    def fingerprint(self, table: str) -> str | None:
        return f"{self.fingerprints[table]:x}" if table in self.fingerprints else None


def read_snapshot(path: Path) -> dict[str, pl.LazyFrame]:
    """The snapshot's tables, scanned lazily (nothing is read until a query needs it)."""
    return {p.stem: pl.scan_parquet(p) for p in sorted(path.glob("*.parquet"))}


def read_manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def write_frame(frame: pl.DataFrame, target: Path) -> Path:
    """Write a Parquet file atomically (temp file + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    frame.write_parquet(staging)
    os.replace(staging, target)
    return target
