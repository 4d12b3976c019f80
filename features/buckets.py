"""Customer hash buckets: which of N partitions a customer's rows belong to.

The bucket of an id is a pure function of its text and N, the same in every process, on every
machine and under every library version (docs/scale.md): 64-bit FNV-1a over the UTF-8 bytes of the
id's string form, then MurmurHash3's fmix64 finaliser (so that every byte moves the low bits the
modulo keeps), modulo N. polars' own ``hash()`` is not used: it may change between releases and
would move customers between buckets of an existing partitioned snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
import pyarrow as pa

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)


def _fnv1a_fmix64(ids: pl.Series) -> np.ndarray:
    """The 64-bit hash of each id's UTF-8 text, vectorised over byte positions (no per-id Python)."""
    text = ids.cast(pl.String).fill_null("").to_arrow().cast(pa.large_string())
    text = pa.concat_arrays([text]) if isinstance(text, pa.ChunkedArray) else text
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data_buffer = text.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(len(text), FNV_OFFSET, dtype=np.uint64)
    longest = int(lengths.max()) if len(lengths) else 0
    last, shortest = max(len(data) - 1, 0), int(lengths.min()) if len(lengths) else 0
    for position in range(longest):
        byte = data[np.minimum(starts + position, last)].astype(np.uint64)
        mixed = (hashes ^ byte) * FNV_PRIME
        hashes = mixed if position < shortest else np.where(lengths > position, mixed, hashes)
    hashes ^= hashes >> _SHIFT
    hashes *= _FMIX_1
    hashes ^= hashes >> _SHIFT
    hashes *= _FMIX_2
    hashes ^= hashes >> _SHIFT
    return hashes


def _check_partitions(partitions: int) -> None:
    if not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be a whole number >= 1 (engine.partitions), got {partitions!r}")


def bucket_of(ids: pl.Series | Iterable[object], partitions: int) -> pl.Series:
    """Each id's bucket in [0, partitions) as UInt32; a null id has a null bucket."""
    _check_partitions(partitions)
    series = ids if isinstance(ids, pl.Series) else pl.Series("customer_id", list(ids))
    with np.errstate(over="ignore"):
        buckets = (_fnv1a_fmix64(series) % np.uint64(partitions)).astype(np.uint32)
    result = pl.Series("bucket", buckets, dtype=pl.UInt32)
    return result if not series.has_nulls() else pl.select(pl.when(series.is_null()).then(None).otherwise(result)).to_series().alias("bucket")


def bucket_expr(column: str, partitions: int) -> pl.Expr:
    """``bucket_of`` as a polars expression (works lazily and in the streaming engine): ``bucket``."""
    _check_partitions(partitions)
    return pl.col(column).map_batches(lambda ids: bucket_of(ids, partitions), return_dtype=pl.UInt32, is_elementwise=True).alias("bucket")
