"""Output tables as a Parquet dataset: `<path>/<table>/as_of=YYYY-MM-DD/*.parquet` (hive layout, the
partition column lives in the directory name; rejects too, one file per date), and
`<path>/latest_churn_scores/part-0.parquet`, a copy of the newest date.

Nothing is written in place. A date of scores (or of rejects) is written to a staging directory under
`<path>/.staging/` (same file system, invisible to dataset readers), then swapped into place by rename:
readers see the old date or the new one, never a half-written or duplicated one. Files are published
with an atomic rename too. One writer at a time is assumed (the flows run one scoring run at once).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sinks.base import DEFAULT_LOCK_TIMEOUT_S, Sink
from sinks.schema import CHURN_SCORES, LATEST_SCORES_VIEW, REJECTS, SCORE_RUNS, Table

if TYPE_CHECKING:
    from configs.schema import SinkConfig

_PARTITION = re.compile(r"^as_of=(\d{4}-\d{2}-\d{2})$")
_PART_FILE = "part-0.parquet"


class ParquetSink(Sink):
    @classmethod
    def from_config(cls, config: SinkConfig, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> ParquetSink:
        return cls(config.path)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _partition(self, table: Table, as_of: date) -> Path:
        return self.path / table.name / f"as_of={as_of.isoformat()}"

    @contextmanager
    def _staging(self) -> Iterator[Path]:
        """A fresh directory beside the dataset; whatever is left in it afterwards is removed."""
        staging = self.path / ".staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _replace_scores(self, scores: pl.DataFrame, as_of: date) -> None:
        with self._staging() as staging:
            staged = staging / "partition"
            staged.mkdir()
            scores.drop("as_of").write_parquet(staged / _PART_FILE)
            self.before_publish(as_of)
            target = self._partition(CHURN_SCORES, as_of)
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace_directory(staged, target)
        self._refresh_latest()

    def _replace_rejects(self, rejects: pl.DataFrame, as_of: date, tables: list[str]) -> None:
        """The date's partition rewritten whole: its other tables' rejects kept, these tables' replaced."""
        target = self._partition(REJECTS, as_of)
        kept = _read_files(REJECTS, sorted(target.glob("*.parquet"))).filter(~pl.col("table_name").is_in(tables))
        with self._staging() as staging:
            staged = staging / "partition"
            staged.mkdir()
            pl.concat([kept, rejects.drop("as_of")], how="vertical_relaxed").write_parquet(staged / _PART_FILE)
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace_directory(staged, target)

    def _rewrite_partition(self, table: Table, as_of: date, rows: pl.DataFrame) -> None:
        """Swap a date's partition for one file holding ``rows`` (without as_of, which is the folder's)."""
        with self._staging() as staging:
            staged = staging / "partition"
            staged.mkdir()
            rows.drop("as_of", strict=False).write_parquet(staged / _PART_FILE)
            target = self._partition(table, as_of)
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace_directory(staged, target)

    def _replace_keyed(self, table: Table, rows: pl.DataFrame, keys: pl.DataFrame) -> None:
        """Each date's partition rewritten whole: its rows of other keys (e.g. the other kind) kept."""
        for (as_of,), replaced in keys.partition_by("as_of", as_dict=True, maintain_order=True).items():
            current = self._read_partitions(table, [as_of] if self._partition(table, as_of).is_dir() else [])
            kept = current.join(replaced, on=replaced.columns, how="anti")
            self._rewrite_partition(table, as_of, pl.concat([kept, rows.filter(pl.col("as_of") == as_of)]))

    def _set_drift_summary(self, as_of: date, summary: str) -> bool:
        if not self._partition(SCORE_RUNS, as_of).is_dir():
            return False
        runs = self._read_partitions(SCORE_RUNS, [as_of])
        if runs.height == 0:
            return False
        newest = pl.col("finished_at") == pl.col("finished_at").max()
        self._rewrite_partition(SCORE_RUNS, as_of, runs.with_columns(drift_summary=pl.when(newest).then(pl.lit(summary)).otherwise("drift_summary")))
        return True

    def _refresh_latest(self) -> None:
        """Rewrite latest_churn_scores from the newest date (a file swap: readers see one version or the other)."""
        newest = self._read_scores(None)
        with self._staging() as staging:
            newest.write_parquet(staging / _PART_FILE)
            target = self.path / LATEST_SCORES_VIEW
            target.mkdir(parents=True, exist_ok=True)
            os.replace(staging / _PART_FILE, target / _PART_FILE)

    def _append(self, table: Table, frame: pl.DataFrame) -> None:
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
        partitions = frame.partition_by("as_of", as_dict=True) if "as_of" in frame.columns else {(None,): frame}
        with self._staging() as staging:
            for (as_of,), rows in partitions.items():
                folder = self.path / table.name if as_of is None else self._partition(table, as_of)
                folder.mkdir(parents=True, exist_ok=True)
                rows.drop("as_of", strict=False).write_parquet(staging / name)
                os.replace(staging / name, folder / name)

    def _read_scores(self, as_of: date | None) -> pl.DataFrame:
        dates = self._dates(CHURN_SCORES) if as_of is None else [as_of]
        return self._read_partitions(CHURN_SCORES, dates[-1:])

    def _read_all(self, table: Table) -> pl.DataFrame:
        top_level = _read_files(table, sorted((self.path / table.name).glob("*.parquet")))
        if "as_of" not in table.names:
            return top_level
        # files beside the partitions are rejects written before they carried the run's as-of
        undated = top_level.with_columns(as_of=pl.lit(None, pl.Date)).select(table.names)
        return pl.concat([undated, self._read_partitions(table, self._dates(table))])

    def _dates(self, table: Table) -> list[date]:
        folder = self.path / table.name
        if not folder.is_dir():
            return []
        found = (_PARTITION.match(entry.name) for entry in folder.iterdir() if entry.is_dir())
        return sorted(date.fromisoformat(match.group(1)) for match in found if match)

    def _read_partitions(self, table: Table, dates: list[date]) -> pl.DataFrame:
        frames = [
            _read_files(table, sorted(self._partition(table, as_of).glob("*.parquet"))).with_columns(as_of=pl.lit(as_of))
            for as_of in dates
        ]
        return pl.concat(frames).select(table.names) if frames else table.empty()


def _read_files(table: Table, files: list[Path]) -> pl.DataFrame:
    if not files:
        return table.empty().drop("as_of", strict=False)
    return pl.read_parquet(files)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _replace_directory(staged: Path, target: Path) -> None:
    """Put `staged` at `target`; the old `target` ends up at `staged` (inside staging, removed with it).

    Where an atomic exchange is not available, two renames: in between, readers find the date
    absent for an instant, but never half-written.
    """
    if not target.exists():
        staged.rename(target)
    elif not _exchange(staged, target):
        previous = staged.with_name(staged.name + ".previous")
        target.rename(previous)
        try:
            staged.rename(target)
        except BaseException:
            previous.rename(target)
            raise
