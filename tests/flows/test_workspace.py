"""The snapshot stager: tables written batch by batch into staging, swapped into place whole or not at all."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from flows import workspace

ROWS = pl.DataFrame({"customer_id": [f"C{i}" for i in range(10)], "value": [float(i) for i in range(10)]})


def staged(target, batches: list[pl.DataFrame]) -> workspace.SnapshotStager:
    stager = workspace.SnapshotStager(target)
    for batch in batches:
        stager.append("events", batch)
    return stager


def test_batches_make_one_table_and_the_fingerprint_does_not_depend_on_batching(tmp_path):
    whole = staged(tmp_path / "a", [ROWS])
    parts = staged(tmp_path / "b", [ROWS.slice(0, 3), ROWS.slice(3, 0), ROWS.slice(3, 7)])
    assert whole.fingerprint("events") == parts.fingerprint("events") and parts.fingerprint("orders") is None
    fewer = staged(tmp_path / "c", [ROWS.head(9)])
    assert fewer.fingerprint("events") != whole.fingerprint("events")
    path = parts.commit({"as_of": "2025-06-01"})
    assert_frame_equal(pl.read_parquet(path / "events.parquet"), ROWS)
    assert pq.ParquetFile(path / "events.parquet").metadata.num_row_groups == 2  # the empty batch writes none
    assert workspace.read_manifest(path) == {"as_of": "2025-06-01"}
    whole.discard()
    fewer.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no staging folder left


def test_a_failed_write_keeps_the_previous_snapshot_and_leaves_no_staging(tmp_path, monkeypatch):
    target = tmp_path / "snapshots" / "2025-06-01"
    staged(target, [ROWS]).commit({"version": 1})

    calls = {"n": 0}
    original = pq.ParquetWriter.write_table

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (injected)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    stager = workspace.SnapshotStager(target)
    with pytest.raises(OSError, match="injected"):  # the background write's error surfaces in the caller
        for batch in (ROWS.slice(0, 5), ROWS.slice(5, 5), ROWS.slice(0, 1)):
            stager.append("events", batch)
        stager.commit({"version": 2})
    stager.discard()
    assert workspace.read_manifest(target) == {"version": 1}
    assert_frame_equal(pl.read_parquet(target / "events.parquet"), ROWS)
    assert [p.name for p in target.parent.iterdir()] == ["2025-06-01"]
