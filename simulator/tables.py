"""Arrow schemas of the tables the simulator writes, and fast builders for their columns.

Ids, labels and timestamps are built from numpy arrays in bulk (no Python string per row):
an id column is a fixed-width byte buffer, a label column is a `take` from a short name list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TS = pa.timestamp("us", tz="UTC")
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# Contract tables (PRODUCT §3), with the contract's column names, in the order written.
SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", pa.string()),
            ("signup_at", TS),
            ("plan", pa.string()),
            ("region", pa.string()),
            ("acquisition_channel", pa.string()),
            ("monthly_value", pa.float64()),
            ("email", pa.string()),
            ("name", pa.string()),
        ]
    ),
    "events": pa.schema(
        [("customer_id", pa.string()), ("ts", TS), ("event_type", pa.string()), ("channel", pa.string()), ("value", pa.float64())]
    ),
    "subscriptions": pa.schema(
        [("customer_id", pa.string()), ("started_at", TS), ("ended_at", TS), ("plan", pa.string()), ("amount", pa.float64())]
    ),
    "tickets": pa.schema(
        [
            ("ticket_id", pa.string()),
            ("customer_id", pa.string()),
            ("opened_at", TS),
            ("resolved_at", TS),
            ("channel", pa.string()),
            ("category", pa.string()),
            ("wait_seconds", pa.float64()),
            ("handoffs", pa.int64()),
            ("reopened", pa.bool_()),
            ("escalated", pa.bool_()),
        ]
    ),
    "orders": pa.schema(
        [
            ("order_id", pa.string()),
            ("customer_id", pa.string()),
            ("ordered_at", TS),
            ("promised_at", TS),
            ("delivered_at", TS),
            ("amount", pa.float64()),
            ("status", pa.string()),
        ]
    ),
    "billing": pa.schema([("customer_id", pa.string()), ("ts", TS), ("kind", pa.string()), ("amount", pa.float64())]),
    "surveys": pa.schema(
        [
            ("survey_id", pa.string()),
            ("customer_id", pa.string()),
            ("sent_at", TS),
            ("responded_at", TS),
            ("score", pa.float64()),
            ("channel", pa.string()),
            ("trigger", pa.string()),
        ]
    ),
}
CONTRACT_TABLES = tuple(SCHEMAS)

# Hidden ground truth, written under ground_truth/ and never read by the pipeline.
TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "weekly": pa.schema(
        [
            ("customer_id", pa.string()),
            ("week", pa.date32()),  # the state at this date's 00:00 UTC
            ("satisfaction", pa.float32()),
            ("churn_hazard", pa.float64()),  # true daily hazard that day; null when not subscribed
            ("would_score", pa.int8()),
            ("dissatisfied", pa.bool_()),
            ("silent", pa.bool_()),
            ("active", pa.bool_()),
        ]
    ),
    "churn": pa.schema(
        [
            ("customer_id", pa.string()),
            ("churned_at", TS),  # first churn at or after start; null if never churned
            ("churn_count", pa.int32()),
            ("last_churned_at", TS),
            ("won_back", pa.bool_()),
            ("active_at_today", pa.bool_()),
            ("baseline_satisfaction", pa.float32()),
            ("final_satisfaction", pa.float32()),
            ("frailty", pa.float32()),
            ("tickets", pa.int32()),
            ("handoffs", pa.int32()),
            ("long_waits", pa.int32()),
            ("late_deliveries", pa.int32()),
            ("payment_failures", pa.int32()),
            ("surveys_answered", pa.int32()),
        ]
    ),
    "churn_events": pa.schema(
        [("customer_id", pa.string()), ("churned_at", TS), ("involuntary", pa.bool_())]
    ),
    "surveys": pa.schema(
        [
            ("survey_id", pa.string()),
            ("customer_id", pa.string()),
            ("satisfaction", pa.float32()),  # latent satisfaction when invited
            ("response_probability", pa.float32()),
            ("would_score", pa.int8()),  # the answer given, or the one a non-respondent would have given
        ]
    ),
}


def id_width(count: int) -> int:
    """Digits in an id column: at least 7 ("C0000123"), more when the table needs them."""
    return max(7, len(str(count)))


def id_array(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """Fixed-width ids like C0000123 built as one byte buffer: millions per second."""
    n = len(numbers)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((n, len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = np.asarray(numbers, dtype=np.int64).copy()
    for position in range(len(head) + width - 1, len(head) - 1, -1):  # over digit positions, not rows
        chars[:, position] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(n + 1, dtype=np.int32) * chars.shape[1]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def label_array(names: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Codes 0..k-1 into a plain string column (not dictionary-typed, so readers get String)."""
    return pc.take(pa.array(names, pa.string()), pa.array(np.asarray(codes)))


def ts_array(values_us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch into a UTC timestamp column; `valid` False -> null."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values_us, dtype=np.int64), type=pa.int64(), mask=mask).cast(TS)


def nullable(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=~np.asarray(valid, dtype=bool))


class Rows:
    """Column chunks appended day by day, concatenated once at the end."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[np.ndarray]] = defaultdict(list)
        self.count = 0

    def add(self, **columns: np.ndarray) -> None:
        lengths = {len(v) for v in columns.values()}
        assert len(lengths) == 1, f"ragged row chunk: {lengths}"
        n = lengths.pop()
        if n == 0:
            return
        for name, values in columns.items():
            self._chunks[name].append(np.asarray(values))
        self.count += n

    def column(self, name: str, dtype: np.dtype | type) -> np.ndarray:
        chunks = self._chunks.get(name)
        return np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.empty(0, dtype=dtype)

    def clear(self) -> None:
        self._chunks.clear()
        self.count = 0
