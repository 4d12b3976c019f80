"""Behavioral features: what customers do (the ``events`` table), as of each date.

Windows are half-open, ``[T - w days, T)`` (see :mod:`features.timeline`). The query shape is the
one measured to beat DuckDB on this workload: every row gets small integer columns once (days before T,
event-type code, channel bit), then ONE group-by per date range sums indicator columns. Active days
and distinct channels are bit masks OR-ed per customer and counted with popcount, so no
``n_unique`` (slow) and no ``filter`` inside ``agg`` (forces the in-memory engine).

Two queries per build: the *recent* rows (the lookback: the longest window, or 60 days for the
trend, 8 weeks for the slope) carry every windowed feature; the whole history before T, reduced to
customer-days, carries the totals since signup, the recency overall and per event type, and the
cadence (:mod:`features.history`): ``days_since_last_event`` and ``days_since_last_<type>`` are
exact however old the last event is (null = never had one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from features import history, wording
from features.catalog import USUAL_DAYS, Feature, FeatureSpec, checked_slugs, counted, merged, select_exprs, usual_name
from features.timeline import local_day, rows_within

FAMILY = "behavioral"
TABLE = "events"
MAX_EVENT_TYPES = 40  # the most frequent types get their own columns; the rest count in totals only
MAX_CHANNELS = 64  # one bit each in a UInt64 mask
TREND_DAYS = 30
SLOPE_WEEKS = 8
_WORD = 64  # days per active-day bit-mask word

_DAYS_AGO = pl.col("_days_ago")
_CODE = pl.col("_code")


def learn_vocabulary(events: pl.LazyFrame, until: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(event types, channels) that get their own columns, from the rows before ``until``, in one
    streaming pass: the most frequent types and channels, each sorted by name."""
    has_channel = "channel" in events.collect_schema().names()
    keys = ["event_type", "channel"] if has_channel else ["event_type"]
    seen = events.filter(pl.col("ts") < until).group_by(keys).agg(pl.len()).collect(engine="streaming")

    def top(column: str, limit: int) -> tuple[str, ...]:
        counts = seen.drop_nulls(column).group_by(column).agg(pl.col("len").sum()).sort(["len", column], descending=[True, False])
        return tuple(sorted(counts[column].head(limit).to_list()))

    return top("event_type", MAX_EVENT_TYPES), top("channel", MAX_CHANNELS) if has_channel else ()


DAILY_WINDOWS = (7, 30, 90)  # daily subscription use: a week, a month, a quarter
LONG_WINDOWS = (180, 365)  # purchases months apart: a half-year and a year hold a few of them
LONG_HORIZON_DAYS = 60


def default_windows(definition: str, horizon_days: int, history_days: int | None = None) -> list[int]:
    """The ``features.windows_days`` that suit a churn definition when the config names none:
    7/30/90 days for daily use, plus 180 and 365 where churn is ``inactivity`` or the horizon is
    60 days or more (a customer who buys every few months shows nothing in 90 days). A long window
    is kept only when ``history_days`` (the days of events before the earliest snapshot that must
    stay) hold it: snapshots need their longest window of history (docs/reasons-and-flags.md,
    "Whole history and cadence")."""
    windows = list(DAILY_WINDOWS)
    if definition == "inactivity" or horizon_days >= LONG_HORIZON_DAYS:
        windows += [w for w in LONG_WINDOWS if history_days is None or w <= history_days]
    return windows


def lookback_days(windows: Sequence[int], with_usual: bool) -> int:
    """Days before T that the windowed features read."""
    longest = max(windows) + (USUAL_DAYS if with_usual else 0)
    return max(longest, 2 * TREND_DAYS, 7 * SLOPE_WEEKS)


def _bits(lo: int, hi: int, word: int) -> int:
    """Mask of the days-ago in (lo, hi] that fall in bit-mask word ``word`` (day d is bit d - 1)."""
    first, last = max(lo + 1, word * _WORD + 1), min(hi, (word + 1) * _WORD)
    return sum(1 << ((d - 1) % _WORD) for d in range(first, last + 1))


def _active_days(lo: int, hi: int, words: int) -> pl.Expr:
    """Distinct active days with days-ago in (lo, hi], from the per-customer day bit masks."""
    parts = [
        (pl.col(f"_day_bits_{k}").fill_null(0) & pl.lit(_bits(lo, hi, k), pl.UInt64)).bitwise_count_ones()
        for k in range(words)
        if _bits(lo, hi, k)
    ]
    return pl.sum_horizontal(parts).cast(pl.Int32)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null when the denominator is 0 (no earlier level to compare with)."""
    return pl.when(denominator > 0).then(numerator / denominator)


def _slope_denominator() -> float:
    mean = (SLOPE_WEEKS - 1) / 2
    return sum((x - mean) ** 2 for x in range(SLOPE_WEEKS))


def behavioral_features(
    windows: Sequence[int], event_types: Sequence[str], columns: set[str], with_usual: bool = False
) -> tuple[list[pl.Expr], list[Feature]]:
    """Aggregations over the recent rows, and the features they make with their catalog entries
    (``columns``: the events table's columns)."""
    words = _words(windows, with_usual)
    slugs = checked_slugs(event_types, "events.event_type")

    def spec(
        name: str, description: str, reason: str, direction: int, dtype: str = "Int32", absent: float | None = 0, usual: bool = False, missing: str | None = None
    ) -> FeatureSpec:
        return FeatureSpec(name, FAMILY, TABLE, description, reason, direction, dtype, absent, usual, missing)

    def count(condition: pl.Expr, name: str, description: str, reason: str) -> tuple[list[pl.Expr], list[Feature]]:
        return counted(condition, _DAYS_AGO, windows, with_usual, family=FAMILY, table=TABLE, name=name, description=description, reason=reason, direction=-1)

    aggs, features = merged(
        [
            count(pl.lit(True), "events_{w}d", "events of any type in the {w} days before as_of", "{value:count:activity|activities} in the last {w} days"),
            *[
                count(_CODE == code, f"events_{s}_{{w}}d", f"'{t}' events in the {{w}} days before as_of", f"{{value:count:{wording.words(t)} event}} in the last {{w}} days")
                for code, (t, s) in enumerate(zip(event_types, slugs, strict=True))
            ],
        ]
    )

    # active days: one bit per day in per-customer masks (day d before T is bit d - 1), OR-ed
    aggs += [
        pl.when((_DAYS_AGO - 1) // _WORD == k).then(pl.lit(2.0).pow((_DAYS_AGO - 1) % _WORD).cast(pl.UInt64)).bitwise_or().alias(f"_day_bits_{k}")
        for k in range(words)
    ]
    features += [
        Feature(
            spec(f"active_days_{w}d", f"distinct days with any event in the {w} days before as_of", f"active on {{value:count}} of the last {w} days", -1, usual=True),
            _active_days(0, w, words),
        )
        for w in windows
    ]
    if "value" in columns:
        aggs += [pl.when(_DAYS_AGO <= w).then(pl.col("value")).sum().alias(f"value_sum_{w}d") for w in windows]
        aggs += [((_DAYS_AGO <= w) & pl.col("value").is_not_null()).sum().alias(f"_value_n_{w}d") for w in windows]
        for w in windows:
            features += [
                Feature(spec(f"value_sum_{w}d", f"sum of event value in the {w} days before as_of", f"a total activity value of {{value:amount}} in the last {w} days", -1, "Float64")),
                Feature(
                    spec(f"value_mean_{w}d", f"mean event value in the {w} days before as_of (null: no valued events)", f"an average activity value of {{value:amount}} in the last {w} days", -1, "Float64", None),
                    _ratio(pl.col(f"value_sum_{w}d"), pl.col(f"_value_n_{w}d")),
                ),
            ]
    if "channel" in columns:
        aggs += [pl.when(_DAYS_AGO <= w).then(pl.col("_channel_bit")).bitwise_or().alias(f"_channel_bits_{w}d") for w in windows]
        features += [
            Feature(
                spec(f"channels_{w}d", f"distinct channels used in the {w} days before as_of", f"{{value:count:channel}} used in the last {w} days", 0),
                pl.col(f"_channel_bits_{w}d").fill_null(0).bitwise_count_ones(),
            )
            for w in windows
        ]

    aggs += [
        (_DAYS_AGO <= TREND_DAYS).sum().alias("_events_last_30d"),
        ((_DAYS_AGO > TREND_DAYS) & (_DAYS_AGO <= 2 * TREND_DAYS)).sum().alias("_events_prev_30d"),
        # least-squares slope of the weekly counts over the last 8 weeks (x = 0 oldest .. 7 newest):
        # a linear combination of the counts, so each event adds its week's weight
        pl.when(_DAYS_AGO <= 7 * SLOPE_WEEKS)
        .then((SLOPE_WEEKS - 1 - (_DAYS_AGO - 1) // 7 - (SLOPE_WEEKS - 1) / 2) / _slope_denominator())
        .otherwise(0.0)
        .sum()
        .alias(f"events_weekly_slope_{SLOPE_WEEKS}w"),
    ]
    features += [
        Feature(
            spec("events_trend_30d", "events in the last 30 days / events in the 30 days before (null: none before)", "activity in the last 30 days at {value:percent} of the 30 days before", -1, "Float64", None),
            _ratio(pl.col("_events_last_30d"), pl.col("_events_prev_30d")),
        ),
        Feature(
            spec("active_days_trend_30d", "active days in the last 30 days / in the 30 days before (null: none before)", "active days in the last 30 days at {value:percent} of the 30 days before", -1, "Float64", None),
            _ratio(_active_days(0, TREND_DAYS, words), _active_days(TREND_DAYS, 2 * TREND_DAYS, words)),
        ),
        Feature(
            spec(f"events_weekly_slope_{SLOPE_WEEKS}w", f"least-squares slope of weekly event counts over the last {SLOPE_WEEKS} weeks (events/week per week)", f"activity over the last {SLOPE_WEEKS} weeks: {{value:change:event a week|events a week}}", -1, "Float64"),
        ),
    ]
    return aggs, features + history.history_features(event_types, columns)


def _words(windows: Sequence[int], with_usual: bool) -> int:
    return -(-lookback_days(windows, with_usual) // _WORD)


def _prepared(events: pl.LazyFrame, event_types: Sequence[str], channels: Sequence[str], columns: set[str], tz: str) -> pl.LazyFrame:
    """Small integer columns computed once per row: the event type's code (null: a type without
    its own columns) and the channel's bit."""
    extra = [pl.col("event_type").cast(pl.Enum(list(event_types)), strict=False).to_physical().alias("_code")]
    if "channel" in columns:
        code = pl.col("channel").cast(pl.Enum(list(channels)), strict=False).to_physical()
        extra.append(pl.lit(2.0).pow(code).cast(pl.UInt64).alias("_channel_bit"))
    return events.with_columns(extra)


def _recent(events: pl.LazyFrame, dates: pl.DataFrame, tz: str, lookback: int) -> pl.LazyFrame:
    """The rows each date's windows read, tagged with that date."""
    return rows_within(events, dates, "ts", tz, -lookback, 0).with_columns((pl.col("_day") - local_day("ts", tz)).alias("_days_ago"))


def build_behavioral(
    events: pl.LazyFrame,
    dates: pl.DataFrame,
    *,
    tz: str,
    windows: Sequence[int],
    event_types: Sequence[str],
    channels: Sequence[str] = (),
    with_usual: bool = False,
    partitions: int = 1,
    signups: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Behavioral features per (as_of, customer) for customers with any event before as_of.

    ``signups`` (customers' customer_id and signup_at) starts the tenure of the rates per 30 days
    (:mod:`features.history`); without it the first event does.

    ``partitions`` > 1 runs the streaming engine in that many sequential passes over hash buckets
    of ``customer_id``, which bounds memory on large logs.
    """
    columns = set(events.collect_schema().names())
    lookback = lookback_days(windows, with_usual)
    words = _words(windows, with_usual)
    aggregations, features = behavioral_features(windows, event_types, columns, with_usual)
    usual_active = (
        [(_active_days(w, w + USUAL_DAYS, words) * (w / USUAL_DAYS)).alias(usual_name(f"active_days_{w}d")) for w in windows]
        if with_usual
        else []
    )
    prepared = _prepared(events, event_types, channels, columns, tz)

    def one_pass(part: pl.LazyFrame) -> pl.DataFrame:
        recent = _recent(part, dates, tz, lookback).group_by("as_of", "customer_id").agg(aggregations)
        query = (
            history.history_frame(part, dates, tz=tz, types=len(event_types), has_value="value" in columns, signups=signups)
            .join(recent, on=["as_of", "customer_id"], how="left")
            .with_columns(usual_active)
            .select("as_of", "customer_id", *select_exprs(features, with_usual))
        )
        return query.collect(engine="streaming")

    if partitions <= 1:
        return one_pass(prepared)
    bucket = pl.col("customer_id").hash(seed=0) % partitions
    return pl.concat([one_pass(prepared.filter(bucket == k)) for k in range(partitions)])
