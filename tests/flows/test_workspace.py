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


# --- snapshots bucketed by customer (features/buckets.py) ---------------------------------------------

CUSTOMERS = pl.DataFrame({"customer_id": [f"C{i:03d}" for i in range(40)], "plan": ["a", "b"] * 20})
EVENTS = pl.DataFrame({"customer_id": [f"C{i % 40:03d}" for i in range(300)], "value": [float(i) for i in range(300)]})
TICKETS = pl.DataFrame({"customer_id": [f"C{i % 7:03d}" for i in range(25)], "ticket_id": [f"T{i}" for i in range(25)]})
LOOKUP = pl.DataFrame({"plan": ["a", "b"], "price": [9.0, 19.0]})  # no customer_id: stays one file
WORLD = {"customers": CUSTOMERS, "events": EVENTS, "tickets": TICKETS, "plans": LOOKUP}


def snapshot(target, partitions, batch_rows=1_000):
    stager = workspace.SnapshotStager(target, partitions)
    for table, frame in WORLD.items():
        for start in range(0, max(frame.height, 1), batch_rows):
            stager.append(table, frame.slice(start, batch_rows))
    return stager, stager.commit({"as_of": "2025-06-01"})


def test_a_bucketed_snapshot_reads_whole_exactly_as_an_unbucketed_one_with_the_same_fingerprints(tmp_path):
    plain, plain_path = snapshot(tmp_path / "plain", None)
    bucketed, path = snapshot(tmp_path / "bucketed", 4, batch_rows=70)
    assert sorted(p.name for p in path.iterdir()) == ["customers", "events", "manifest.json", "plans.parquet", "tickets"]
    assert sorted(p.name for p in (path / "events").iterdir()) == [f"bucket={k}" for k in range(4)]
    assert workspace.read_manifest(path)["layout"] == {"bucketed_by": "customer_id", "partitions": 4, "hash": "fnv1a64-fmix64"}
    assert workspace.snapshot_partitions(path) == 4 and workspace.snapshot_partitions(plain_path) is None
    whole, flat = workspace.read_snapshot(path), workspace.read_snapshot(plain_path)
    assert list(whole) == list(flat) == ["customers", "events", "plans", "tickets"]
    for table, frame in WORLD.items():
        assert "bucket" not in whole[table].collect_schema()  # the hive key is the folder's, not a column
        assert_frame_equal(whole[table].collect().sort(frame.columns), frame.sort(frame.columns))
        assert bucketed.fingerprint(table) == plain.fingerprint(table)  # bucketing never changes a data id


def test_every_customer_is_in_exactly_one_bucket_and_its_rows_never_straddle_buckets(tmp_path):
    _, path = snapshot(tmp_path / "s", 4, batch_rows=33)
    seen: dict[str, set[int]] = {}
    for bucket in range(4):
        tables = workspace.read_snapshot_bucket(path, bucket, 4)
        assert_frame_equal(tables["plans"].collect(), LOOKUP)  # a table without customer_id comes whole
        for table in ("customers", "events", "tickets"):
            for customer in tables[table].collect()["customer_id"].unique():
                seen.setdefault(customer, set()).add(bucket)
        # the bucket holds every row of its customers, in every table
        customers = tables["customers"].collect()["customer_id"]
        for table in ("events", "tickets"):
            rows = tables[table].collect()
            assert_frame_equal(rows, WORLD[table].filter(pl.col("customer_id").is_in(customers.implode())))
    assert set(seen) == set(CUSTOMERS["customer_id"]) and all(len(buckets) == 1 for buckets in seen.values())


def test_a_bucket_of_an_unbucketed_or_differently_bucketed_snapshot_is_filtered_by_the_same_hash(tmp_path):
    _, plain = snapshot(tmp_path / "plain", None)
    _, four = snapshot(tmp_path / "four", 4)
    _, eight = snapshot(tmp_path / "eight", 8)
    for bucket in range(4):
        expected = workspace.read_snapshot_bucket(four, bucket, 4)
        for other in (plain, eight):
            got = workspace.read_snapshot_bucket(other, bucket, 4)
            for table in WORLD:
                columns = WORLD[table].columns
                assert_frame_equal(got[table].collect().sort(columns), expected[table].collect().sort(columns))


def test_a_bucket_outside_the_partitions_is_refused(tmp_path):
    _, path = snapshot(tmp_path / "s", 4)
    with pytest.raises(ValueError, match=r"bucket 4 is outside 0..3 \(engine.partitions = 4\)"):
        workspace.read_snapshot_bucket(path, 4, 4)


def test_an_empty_table_still_gets_every_bucket_file_with_its_schema(tmp_path):
    stager = workspace.SnapshotStager(tmp_path / "s", 3)
    stager.append("surveys", pl.DataFrame(schema={"customer_id": pl.String, "score": pl.Float64}))
    path = stager.commit({})
    assert len(list((path / "surveys").glob("bucket=*/part-0.parquet"))) == 3
    for tables in (workspace.read_snapshot(path), workspace.read_snapshot_bucket(path, 2, 3)):
        assert tables["surveys"].collect().schema == pl.Schema({"customer_id": pl.String, "score": pl.Float64})


def test_rows_without_a_customer_id_cannot_be_bucketed(tmp_path):
    stager = workspace.SnapshotStager(tmp_path / "s", 2)
    with pytest.raises(ValueError, match="events: rows without customer_id cannot be bucketed"):
        stager.append("events", pl.DataFrame({"customer_id": ["C1", None]}))
        stager.close()
    stager.discard()
