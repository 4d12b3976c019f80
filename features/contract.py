"""The input data contract (docs/input-contract.md) as data: tables, columns, contract types and row rules.

Everything that validates, reads or builds features looks column names and types up here, so the
contract is written down exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

ColumnRule = Literal[
    "key",  # null -> reject
    "event_time",  # must lie before the moment of ingest
    "planned_time",  # may lie in the future (promised_at)
    "non_negative",  # negative -> reject
    "score",  # must lie within the configured survey scale
]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: pl.DataType
    required: bool = False
    rules: tuple[ColumnRule, ...] = ()

    @property
    def is_time(self) -> bool:
        return self.dtype == UTC_TS


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    unique: str | None = None  # a column whose values must be unique
    # (start, end) pairs where end < start is an impossible (negative) duration
    ordered: tuple[tuple[str, str], ...] = ()
    # free extra columns become attributes (customers) or are carried along untouched
    extra_columns_allowed: bool = False
    # (a, b) pairs that are present together or not at all (an answer has a score and a time)
    paired: tuple[tuple[str, str], ...] = ()
    # (column, table) pairs: the column's values must be keys of that table (validated after it)
    references: tuple[tuple[str, str], ...] = ()
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def required_columns(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The unique key and the references: ids, whose surrounding whitespace ingest trims."""
        return tuple(dict.fromkeys([*([self.unique] if self.unique else []), *(column for column, _ in self.references)]))


_OF_A_CUSTOMER = (("customer_id", "customers"),)


def _id(name: str) -> ColumnSpec:
    return ColumnSpec(name, pl.String, required=True, rules=("key",))


def _when(name: str, *, required: bool = False, planned: bool = False) -> ColumnSpec:
    rules: tuple[ColumnRule, ...] = ("planned_time",) if planned else ("event_time",)
    return ColumnSpec(name, UTC_TS, required=required, rules=(("key",) if required else ()) + rules)


def _text(name: str, *, required: bool = False) -> ColumnSpec:
    return ColumnSpec(name, pl.String, required=required, rules=("key",) if required else ())


def _amount(name: str, *, signed: bool = False) -> ColumnSpec:
    return ColumnSpec(name, pl.Float64, rules=() if signed else ("non_negative",))


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            (_id("customer_id"), _when("signup_at", required=True)),
            required=True,
            unique="customer_id",
            extra_columns_allowed=True,
        ),
        TableSpec(
            "events",
            (_id("customer_id"), _when("ts", required=True), _text("event_type", required=True), _text("channel"), _amount("value")),
            required=True,
            references=_OF_A_CUSTOMER,
        ),
        TableSpec(
            "subscriptions",
            # ended_at may be a scheduled end in the future (cancelled, paid until period end)
            (_id("customer_id"), _when("started_at", required=True), _when("ended_at", planned=True), _text("plan"), _amount("amount")),
            ordered=(("started_at", "ended_at"),),
            references=_OF_A_CUSTOMER,
        ),
        TableSpec(
            "tickets",
            (
                _id("ticket_id"),
                _id("customer_id"),
                _when("opened_at", required=True),
                _when("resolved_at"),
                _text("channel"),
                _text("category"),
                _amount("wait_seconds"),
                ColumnSpec("handoffs", pl.Int64, rules=("non_negative",)),
                ColumnSpec("reopened", pl.Boolean),
                ColumnSpec("escalated", pl.Boolean),
            ),
            unique="ticket_id",
            ordered=(("opened_at", "resolved_at"),),
            references=_OF_A_CUSTOMER,
        ),
        TableSpec(
            "orders",
            (
                _id("order_id"),
                _id("customer_id"),
                _when("ordered_at", required=True),
                _when("promised_at", planned=True),
                _when("delivered_at"),
                _amount("amount"),
                _text("status"),
            ),
            unique="order_id",
            ordered=(("ordered_at", "delivered_at"), ("ordered_at", "promised_at")),
            references=_OF_A_CUSTOMER,
        ),
        TableSpec(
            "billing",
            # amounts of refunds/chargebacks may be recorded with either sign upstream
            (_id("customer_id"), _when("ts", required=True), _text("kind", required=True), _amount("amount", signed=True)),
            references=_OF_A_CUSTOMER,
        ),
        TableSpec(
            "surveys",
            (
                _id("customer_id"),
                _when("sent_at", required=True),
                _text("survey_id"),
                _when("responded_at"),
                ColumnSpec("score", pl.Float64, rules=("score",)),
                _text("channel"),
                _text("trigger"),
            ),
            unique="survey_id",
            ordered=(("sent_at", "responded_at"),),
            paired=(("score", "responded_at"),),
            references=_OF_A_CUSTOMER,
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, spec in TABLES.items() if spec.required)


class ContractError(ValueError):
    """Input that breaks the contract before any work: names table, column, types and the config key."""


class UnreadableSourceError(ContractError):
    """A source file that cannot be read as what it claims to be (a malformed CSV line, a truncated
    Parquet file): names the file, and the line where the reader knows it. Reading it again gives
    the same answer, so it is never retried."""


class ValidationFailedError(ContractError):
    """Validating a batch failed unexpectedly (a bug met on this input, in quietchurn or a library):
    names the table, the batch and the source. Deterministic, so not retried; nothing is committed."""
