"""Arrow schemas of the tables the simulator writes, and fast builders for their columns.

Ids, labels and timestamps are built from numpy arrays in bulk (no Python string per row):
an id column is a fixed-width byte buffer, a label column is a `take` from a short name list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.world import (
    ACQUISITION_CHANNELS,
    BILLING_KINDS,
    EVENT_CHANNELS,
    EVENT_TYPES,
    ORDER_STATUSES,
    PLANS,
    REGIONS,
    SURVEY_CHANNELS,
    SURVEY_TRIGGERS,
    TICKET_CATEGORIES,
    TICKET_CHANNELS,
)

TS = pa.timestamp("us", tz="UTC")
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# Contract tables (docs/input-contract.md), with the contract's column names, in the order written.
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
# The purchases regime's customers have no plan and no contractual monthly value.
PURCHASES_CUSTOMERS = pa.schema([f for f in SCHEMAS["customers"] if f.name not in ("plan", "monthly_value")])

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
    "traits": pa.schema(
        [
            ("customer_id", pa.string()),
            ("friction_sensitivity", pa.float64()),  # multiplier of negative shocks (1 when tolerance is off)
            ("last_straw_threshold", pa.float64()),  # decayed friction above which the hazard jumps; null: no last straw
            ("purchase_rate_per_day", pa.float64()),  # purchases regime: the buy-till-you-die rate at satisfaction 0
            ("dropout_rate_per_day", pa.float64()),  # purchases regime: the dropout rate at satisfaction 0
        ]
    ),
    "outages": pa.schema(
        [("started_at", TS), ("ended_at", TS), ("region", pa.string()), ("plan", pa.string())]  # one of region/plan is null
    ),
    "support_periods": pa.schema(  # company-wide periods of worse support: every ticket opened in [started_at, ended_at)
        [("started_at", TS), ("ended_at", TS)]
        + [(f"{knob}_multiplier", pa.float64()) for knob in ("wait", "handoffs", "never_resolved", "resolution", "reopen")]
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

    def columns(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(chunks) for name, chunks in self._chunks.items()}

    def clear(self) -> None:
        self._chunks.clear()
        self.count = 0


@dataclass(frozen=True)
class Source:
    """Where an output column comes from: a numpy column, turned into labels, ids or nullable values."""

    column: str  # key in the numpy columns; "#row" numbers the rows 1..n
    labels: tuple[str, ...] | None = None  # integer codes -> these names
    ids: str | None = None  # "C": customer row index -> customer id; otherwise the prefix of "#row" ids
    valid: str | None = None  # key of a boolean column: False -> null
    text: tuple[str, str] | None = None  # integer column -> prefix + decimal + suffix


_CUSTOMER = Source("customer", ids="C")

# output column -> source, for every table assembled from simulated rows
LAYOUTS: dict[str, dict[str, Source]] = {
    "customers": {
        "customer_id": _CUSTOMER,
        "signup_at": Source("signup_us"),
        "plan": Source("plan", PLANS),
        "region": Source("region", REGIONS),
        "acquisition_channel": Source("acquisition", ACQUISITION_CHANNELS),
        "monthly_value": Source("monthly_value"),
        "email": Source("number", text=("c", "@example.com")),
        "name": Source("number", text=("Customer ", "")),
    },
    "events": {
        "customer_id": _CUSTOMER,
        "ts": Source("ts"),
        "event_type": Source("event_type", EVENT_TYPES),
        "channel": Source("channel", EVENT_CHANNELS),
        "value": Source("value"),
    },
    "subscriptions": {
        "customer_id": _CUSTOMER,
        "started_at": Source("started"),
        "ended_at": Source("ended", valid="has_end"),
        "plan": Source("plan", PLANS),
        "amount": Source("amount"),
    },
    "tickets": {
        "ticket_id": Source("#row", ids="T"),
        "customer_id": _CUSTOMER,
        "opened_at": Source("opened"),
        "resolved_at": Source("resolved", valid="has_resolved"),
        "channel": Source("channel", TICKET_CHANNELS),
        "category": Source("category", TICKET_CATEGORIES),
        "wait_seconds": Source("wait_seconds"),
        "handoffs": Source("handoffs"),
        "reopened": Source("reopened"),
        "escalated": Source("escalated"),
    },
    "orders": {
        "order_id": Source("#row", ids="O"),
        "customer_id": _CUSTOMER,
        "ordered_at": Source("ordered"),
        "promised_at": Source("promised"),
        "delivered_at": Source("delivered", valid="has_delivered"),
        "amount": Source("amount"),
        "status": Source("status", ORDER_STATUSES),
    },
    "billing": {"customer_id": _CUSTOMER, "ts": Source("ts"), "kind": Source("kind", BILLING_KINDS), "amount": Source("amount")},
    "surveys": {
        "survey_id": Source("#row", ids="S"),
        "customer_id": _CUSTOMER,
        "sent_at": Source("sent"),
        "responded_at": Source("responded", valid="has_responded"),
        "score": Source("score", valid="has_responded"),
        "channel": Source("channel", SURVEY_CHANNELS),
        "trigger": Source("trigger", SURVEY_TRIGGERS),
    },
    "weekly": {
        "customer_id": _CUSTOMER,
        "week": Source("week"),
        "satisfaction": Source("satisfaction"),
        "churn_hazard": Source("churn_hazard", valid="active"),
        "would_score": Source("would_score"),
        "dissatisfied": Source("dissatisfied"),
        "silent": Source("silent"),
        "active": Source("active"),
    },
    "churn": {
        "customer_id": _CUSTOMER,
        "churned_at": Source("first_churn_us", valid="churned"),
        "last_churned_at": Source("last_churn_us", valid="churned"),
        **{name: Source(name) for name in ("churn_count", "won_back", "active_at_today", "baseline_satisfaction", "final_satisfaction", "frailty")},
        **{name: Source(name) for name in ("tickets", "handoffs", "long_waits", "late_deliveries", "payment_failures", "surveys_answered")},
    },
    "churn_events": {"customer_id": _CUSTOMER, "churned_at": Source("ts"), "involuntary": Source("involuntary")},
    "traits": {
        "customer_id": _CUSTOMER,
        "friction_sensitivity": Source("sensitivity"),
        "last_straw_threshold": Source("threshold", valid="has_straw"),
        "purchase_rate_per_day": Source("purchase_rate", valid="buyer"),
        "dropout_rate_per_day": Source("dropout_rate", valid="buyer"),
    },
    "outages": {
        "started_at": Source("started"),
        "ended_at": Source("ended"),
        "region": Source("region", REGIONS, valid="by_region"),
        "plan": Source("plan", PLANS, valid="by_plan"),
    },
    "support_periods": {
        "started_at": Source("started"),
        "ended_at": Source("ended"),
        **{f"{knob}_multiplier": Source(f"{knob}_multiplier") for knob in ("wait", "handoffs", "never_resolved", "resolution", "reopen")},
    },
    "survey_truth": {
        "survey_id": Source("#row", ids="S"),
        "customer_id": _CUSTOMER,
        "satisfaction": Source("satisfaction"),
        "response_probability": Source("response_probability"),
        "would_score": Source("score"),
    },
}


def assemble(
    schema: pa.Schema, layout: Mapping[str, Source], columns: Mapping[str, np.ndarray], customer_ids: pa.Array, order: np.ndarray | None = None
) -> pa.Table:
    """Build a table of `schema` from numpy `columns` as `layout` says, rows optionally reordered by `order`."""
    if not columns:
        return schema.empty_table()
    n = len(next(iter(columns.values())))

    def take(name: str) -> np.ndarray:
        return columns[name] if order is None else columns[name][order]

    arrays = []
    for field in schema:
        source = layout[field.name]
        valid = None if source.valid is None else take(source.valid).astype(bool)
        if source.column == "#row":
            arrays.append(id_array(source.ids, np.arange(1, n + 1), id_width(n)))
        elif source.ids == "C":
            arrays.append(pc.take(customer_ids, pa.array(take(source.column), pa.int64())))
        elif source.text is not None:
            decimal = pa.array(take(source.column)).cast(pa.string())
            arrays.append(pc.binary_join_element_wise(source.text[0], decimal, source.text[1], ""))
        elif source.labels is not None:
            labels = label_array(source.labels, take(source.column))
            arrays.append(labels if valid is None else pc.if_else(pa.array(valid), labels, pa.scalar(None, pa.string())))
        elif field.type == TS:
            arrays.append(ts_array(take(source.column), valid))
        else:
            arrays.append(pa.array(take(source.column), type=field.type, mask=None if valid is None else ~valid))
    return pa.Table.from_arrays(arrays, schema=schema)
