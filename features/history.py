"""Whole-history behaviour: totals since signup, recency without a lookback cap, and cadence.

Windowed counts say what a customer did lately; a shop whose customers buy months apart needs
the whole story too: how often this customer usually comes back, and how long they have now been
away compared with that rhythm (what BG/NBD-style models exploit). Everything here reads all the
events strictly before T, in ONE pass per date group: events are reduced to customer-days once,
then each date takes its own ``min``/``max``/``sum`` of the days before it, as columns of one
group-by per customer (no per-date scan, no ``n_unique``, no sort).

The typical gap is the *mean* gap between active days, (last - first) / (active days - 1): exact
without ordering the days, and for a Poisson-like buyer the natural rate estimate. It is null with
fewer than two active days (one visit has no rhythm yet). The features belong to the behavioral
family and are built by :func:`features.behavioral.build_behavioral`
(docs/reasons-and-flags.md, "Whole history and cadence").
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from features.catalog import Feature, FeatureSpec, checked_slugs
from features.timeline import local_day
from features import wording

FAMILY = "behavioral"
TABLE = "events"
RATE_DAYS = 30  # tenure-normalised rates are per 30 days: "a month" when read aloud

_DAY = pl.col("_event_day")


def _spec(name: str, description: str, reason: str, direction: int, dtype: str = "Float64", absent: float | None = None, missing: str | None = None) -> FeatureSpec:
    return FeatureSpec(name, FAMILY, TABLE, description, reason, direction, dtype, absent, missing_reason=missing)


def _per_rate(amount: pl.Expr) -> pl.Expr:
    return amount * RATE_DAYS / pl.col("_h_tenure")


def history_features(event_types: Sequence[str], columns: set[str]) -> list[Feature]:
    """The whole-history features and their catalog entries, computed from :func:`history_frame`'s
    columns (``columns``: the events table's columns)."""
    slugs = checked_slugs(event_types, "events.event_type")
    gap = pl.when(pl.col("_h_days") >= 2).then((pl.col("_h_last") - pl.col("_h_first")) / (pl.col("_h_days") - 1))
    features = [
        Feature(
            _spec("days_since_last_event", "days from the last event to as_of, over the whole history (1 = the day before; null: never active)", "{value:days} since the last activity", 1, "Int32", missing="no activity on record"),
            pl.col("_day") - pl.col("_h_last"),
        ),
        *[
            Feature(
                _spec(
                    f"days_since_last_{s}",
                    f"days from the last '{t}' event to as_of, over the whole history (null: never had one)",
                    f"{{value:days}} since the last {wording.words(t)}",
                    1,
                    "Int32",
                    missing=f"no {wording.words(t)} on record",
                ),
                pl.col("_day") - pl.col(f"_h_last_{code}"),
            )
            for code, (t, s) in enumerate(zip(event_types, slugs, strict=True))
        ],
        Feature(_spec("events_total", "events of any type before as_of, over the whole history", "{value:count:activity|activities} since signup", -1, "Int32", 0), pl.col("_h_events")),
        Feature(_spec("active_days_total", "distinct days with any event before as_of, over the whole history", "active on {value:count:day} since signup", -1, "Int32", 0), pl.col("_h_days")),
        Feature(
            _spec("active_days_per_30d", "active days per 30 days of tenure (tenure from signup, or the first event if earlier)", "active on {value:quantity:day} a month since signup", -1, absent=0),
            _per_rate(pl.col("_h_days")),
        ),
        Feature(
            _spec("active_gap_days_mean", "mean days between consecutive active days over the whole history (null: fewer than 2 active days)", "usually active every {value:days}", 1),
            gap,
        ),
        Feature(
            _spec("overdue_ratio", "days since the last active day / the customer's mean gap between active days (null: fewer than 2 active days)", "silent for {value:number}× their usual gap between visits", 1),
            pl.when(gap > 0).then((pl.col("_day") - pl.col("_h_last")) / gap),
        ),
    ]
    if "value" in columns:
        features += [
            Feature(_spec("value_total", "sum of event value before as_of, over the whole history", "a total activity value of {value:amount} since signup", -1, absent=0), pl.col("_h_value")),
            Feature(
                _spec("value_per_30d", "event value per 30 days of tenure (tenure from signup, or the first event if earlier)", "an activity value of {value:amount} a month since signup", -1, absent=0),
                _per_rate(pl.col("_h_value")),
            ),
        ]
    return features


def history_frame(prepared: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, types: int, has_value: bool, signups: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Per (as_of, customer) with any event before as_of: ``_day`` and the ``_h_*`` columns that
    :func:`history_features` reads. ``prepared`` carries ``_code`` (the event type's column index,
    see :func:`features.behavioral._prepared`); ``signups`` (customer_id, signup_at) gives tenure
    its start, else the first event does."""
    daily = (
        prepared.filter(pl.col("ts") < dates["_t"].max())
        .with_columns(local_day("ts", tz).alias("_event_day"))
        .group_by("customer_id", "_event_day")
        .agg(
            pl.len().alias("_n"),
            *([pl.col("value").sum().alias("_v")] if has_value else []),
            *[(pl.col("_code") == code).any().alias(f"_has_{code}") for code in range(types)],
        )
    )

    def as_of(day: int) -> dict[str, pl.Expr]:
        """One date's aggregations over the customer's days before it (the day number < as_of's)."""
        before = _DAY < day
        fields = {
            "_h_first": pl.when(before).then(_DAY).min(),
            "_h_last": pl.when(before).then(_DAY).max(),
            "_h_days": before.sum().cast(pl.Int32),
            "_h_events": pl.when(before).then(pl.col("_n")).sum().cast(pl.Int64),
            **{f"_h_last_{code}": pl.when(before & pl.col(f"_has_{code}")).then(_DAY).max() for code in range(types)},
        }
        if has_value:
            fields["_h_value"] = pl.when(before).then(pl.col("_v")).sum()
        return fields

    per_date = [pl.struct(**as_of(day)).alias(str(k)) for k, day in enumerate(dates["_day"])]
    long = (
        daily.group_by("customer_id")
        .agg(per_date)
        .unpivot(index="customer_id", variable_name="_k", value_name="_h")
        .unnest("_h")
        .filter(pl.col("_h_days") > 0)
        .join(dates.lazy().select("as_of", "_day").with_row_index("_k").with_columns(pl.col("_k").cast(pl.String)), on="_k")
    )
    start = pl.col("_h_first")
    if signups is not None:
        long = long.join(signups.select("customer_id", local_day("signup_at", tz).alias("_signup")), on="customer_id", how="left")
        start = pl.min_horizontal(start, pl.col("_signup"))
    # tenure >= 1: the first event lies before as_of's day
    return long.with_columns((pl.col("_day") - start).alias("_h_tenure")).drop("_k", "_signup", strict=False)
