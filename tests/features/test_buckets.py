"""Customer hash buckets: stable across processes and versions, one bucket per id, roughly uniform."""

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_series_equal

from features.buckets import bucket_expr, bucket_of

_MASK = (1 << 64) - 1


def reference_bucket(customer_id: object, partitions: int) -> int:
    """The documented algorithm, one id at a time: FNV-1a 64 over UTF-8, fmix64, modulo."""
    h = 0xCBF29CE484222325
    for byte in str(customer_id).encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    h ^= h >> 33
    return h % partitions


# Frozen values: a change here moves customers between the buckets of existing partitioned snapshots.
@pytest.mark.parametrize(
    ("customer_id", "partitions", "bucket"),
    [("C000001", 16, 6), ("x", 16, 5), ("", 16, 6), ("ü-ñ-日本", 16, 13), ("a" * 40, 16, 2), (1, 7, 5), (22, 7, 4), ("C000001", 1, 0)],
)
def test_bucket_truth_table(customer_id, partitions, bucket):
    assert bucket_of([customer_id], partitions).to_list() == [bucket]
    assert reference_bucket(customer_id, partitions) == bucket


def test_vectorised_hash_matches_the_reference_on_mixed_lengths():
    ids = [f"cust-{i}" * (i % 4) for i in range(2_000)]
    assert bucket_of(ids, 13).to_list() == [reference_bucket(i, 13) for i in ids]


def test_a_slice_of_a_series_hashes_like_the_whole():
    ids = pl.Series("customer_id", [f"C{i:06d}" for i in range(1_000)])
    assert_series_equal(bucket_of(ids.slice(100, 50), 8), bucket_of(ids, 8).slice(100, 50))


def test_stable_across_processes():
    ids = [f"C{i:06d}" for i in range(0, 100_000, 997)]
    code = (
        "import json, sys; from features.buckets import bucket_of; "
        "print(json.dumps(bucket_of(json.loads(sys.stdin.read()), 16).to_list()))"
    )
    import json

    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == bucket_of(ids, 16).to_list()


def test_every_id_in_exactly_one_bucket_and_roughly_uniform():
    ids = pl.Series("customer_id", [f"C{i:07d}" for i in range(200_000)])
    frame = pl.DataFrame({"customer_id": ids}).with_columns(bucket_expr("customer_id", 16))
    per_bucket = [frame.filter(pl.col("bucket") == k)["customer_id"] for k in range(16)]
    assert sum(len(b) for b in per_bucket) == len(ids)
    assert pl.concat(per_bucket).n_unique() == len(ids)
    counts = np.array([len(b) for b in per_bucket])
    # 12,500 expected per bucket, binomial sd ~108: every bucket within 5 sd
    assert np.abs(counts - 12_500).max() < 550


def test_a_customers_rows_never_straddle_buckets():
    rows = pl.DataFrame({"customer_id": ["a", "b", "a", "c", "b", "a"], "value": range(6)})
    buckets = rows.with_columns(bucket_expr("customer_id", 4)).group_by("customer_id").agg(pl.col("bucket").n_unique())
    assert buckets["bucket"].to_list() == [1, 1, 1]


def test_bucket_expr_works_lazily_in_the_streaming_engine():
    lazy = pl.LazyFrame({"customer_id": [f"C{i}" for i in range(1_000)]})
    streamed = lazy.with_columns(bucket_expr("customer_id", 5)).collect(engine="streaming")
    assert_series_equal(streamed["bucket"], bucket_of(streamed["customer_id"], 5))


def test_null_id_has_null_bucket():
    assert bucket_of(pl.Series(["a", None]), 4).to_list() == [reference_bucket("a", 4), None]


@pytest.mark.parametrize("partitions", [0, -1, 2.5])
def test_bad_partitions_name_the_config_key(partitions):
    with pytest.raises(ValueError, match="engine.partitions"):
        bucket_of(["a"], partitions)
    with pytest.raises(ValueError, match="engine.partitions"):
        bucket_expr("customer_id", partitions)
