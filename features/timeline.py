"""As-of semantics: what "as of D" means in time, how rows fall into windows, which dates to snapshot.

``as_of`` D is the instant D 00:00 in ``schedule.timezone`` (docs/dates-and-training.md). Feature
windows are half-open calendar-day windows ``[T - w days, T)``: a row at exactly ``T`` is the
future, a row at exactly ``T - w days`` is inside. Because ``T`` is a local midnight, "inside the
window" is the same as "its local calendar day lies in ``[D - w, D)``", so every family works on
one integer per row, :func:`days_before`: ``1`` = the day before ``D``, ``w`` = the oldest day of a ``w``-day window,
``<= 0`` = at or after ``T`` (never used by features).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from configs import Config
from features.contract import TABLES

EPOCH = date(1970, 1, 1)
# Fewer than this many snapshot dates leave no two training snapshots beside validation and test.
MIN_SNAPSHOTS = 4


def as_of_instant(d: date, tz: str) -> datetime:
    """``d`` 00:00 in ``tz``, as an aware UTC datetime."""
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def day_number(d: date) -> int:
    """Days since 1970-01-01: the integer form of a calendar day used inside queries."""
    return (d - EPOCH).days


def local_day(column: str, tz: str) -> pl.Expr:
    """The calendar day (in ``tz``) of a UTC timestamp column, as an Int32 day number."""
    ts = pl.col(column)
    if tz != "UTC":
        ts = ts.dt.convert_time_zone(tz)
    return ts.dt.date().cast(pl.Int32)


def days_before(column: str, tz: str, as_of_day: pl.Expr) -> pl.Expr:
    """Whole local days from a timestamp to ``as_of`` (1 = the day before); <= 0 = at or after T."""
    return as_of_day - local_day(column, tz)


def dates_frame(dates: Sequence[date], tz: str) -> pl.DataFrame:
    """One row per as-of date: the date, its day number and its instant (columns prefixed ``_``
    are internal and never leave a family builder)."""
    return pl.DataFrame(
        {
            "as_of": list(dates),
            "_day": [day_number(d) for d in dates],
            "_t": [as_of_instant(d, tz) for d in dates],
        },
        schema={"as_of": pl.Date, "_day": pl.Int32, "_t": pl.Datetime("us", "UTC")},
    )


# Optional contract columns that record a later fact about an older row. A table without one
# simply never knew that fact: the column is added as nulls so every builder can rely on it.
LATER_FACTS = {
    "tickets": ("resolved_at",),
    "orders": ("delivered_at",),
    "surveys": ("responded_at", "score"),
    "subscriptions": ("ended_at",),
}


def with_later_facts(table: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """``table`` with its missing later-fact columns added as typed nulls."""
    present = set(table.collect_schema().names())
    missing = [TABLES[name].column(c) for c in LATER_FACTS[name] if c not in present]
    return table.with_columns([pl.lit(None, c.dtype).alias(c.name) for c in missing]) if missing else table


def known_at(column: str, t: pl.Expr) -> pl.Expr:
    """A later fact on an older row is unknown at T: the column's value if it is dated before T,
    else null (a ticket resolved after T is open at T; an answer after T is no answer at T)."""
    return pl.when(pl.col(column) < t).then(pl.col(column))


def rows_within(table: pl.LazyFrame, dates: pl.DataFrame, time_column: str, tz: str, start_days: int, end_days: int) -> pl.LazyFrame:
    """The rows with ``time_column`` in [D + start_days, D + end_days) (local midnights) for each
    date D of ``dates``, tagged with ``as_of`` and ``_day``: one slice per date, so large tables are
    filtered, never paired with every date."""
    column = pl.col(time_column)
    slices = [
        table.filter(column >= as_of_instant(d + timedelta(days=start_days), tz), column < as_of_instant(d + timedelta(days=end_days), tz)).with_columns(
            pl.lit(d).alias("as_of"), pl.lit(day_number(d), pl.Int32).alias("_day")
        )
        for d in dates["as_of"]
    ]
    return pl.concat(slices)


def latest_snapshot(observed_until: date, config: Config) -> date:
    """The latest D whose label window plus grace, [D, D + horizon + grace), ends by observed_until."""
    return observed_until - timedelta(days=config.churn.horizon_days + config.churn.grace_days)


def snapshot_dates(observed_until: date, config: Config, data_starts: date | None = None) -> list[date]:
    """Training snapshot dates, oldest first: ``training.snapshots`` dates ``training.step_days``
    apart, ending at the latest date whose label is fully observed by ``observed_until``.

    With ``data_starts`` (the first day of events), dates with less history before them than the
    longest feature window are dropped (their windows would be cut short), and a history that
    leaves fewer than 4 dates (two to train on, one to validate, one to test) is refused.
    """
    last = latest_snapshot(observed_until, config)
    step = config.training.step_days
    planned = [last - timedelta(days=step * k) for k in reversed(range(config.training.snapshots))]
    if data_starts is None:
        return planned
    warm_up = max(config.features.windows_days)
    earliest = data_starts + timedelta(days=warm_up)
    dates = [d for d in planned if d >= earliest]
    if len(dates) < MIN_SNAPSHOTS:
        raise ValueError(
            f"history too short: the data covers {data_starts} to {observed_until} "
            f"({(observed_until - data_starts).days} days), but snapshots need {warm_up} days of history "
            f"(the longest features.windows_days) and a fully observed label window: only {len(dates)} of "
            f"training.snapshots={config.training.snapshots} dates training.step_days={step} apart fit between "
            f"{earliest} and {last} (= observed_until - churn.horizon_days={config.churn.horizon_days} "
            f"- churn.grace_days={config.churn.grace_days}); at least {MIN_SNAPSHOTS} are needed "
            f"(two to train on, one to validate, one to test). Provide more history, or lower "
            f"training.step_days or churn.horizon_days."
        )
    return dates


def rows_before(table: pl.LazyFrame, dates: pl.DataFrame, time_column: str, tz: str) -> pl.LazyFrame:
    """Each row once per as-of date it precedes (``time_column < T``), with ``_days_ago`` (see
    :func:`days_before`) and the date's internal columns: the multi-date form of "known before T"
    for the smaller tables, one query for all dates."""
    return (
        table.join(dates.lazy(), how="cross")
        .filter(pl.col(time_column) < pl.col("_t"))
        .with_columns(days_before(time_column, tz, pl.col("_day")).alias("_days_ago"))
    )
