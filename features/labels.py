"""Churn labels, declared by ``churn.definition`` and read only from [T, T + horizon) (plus grace).

``subscription_end``: the customer churns when every subscription they hold by T + horizon has
ended before T + horizon, and no new one starts within ``churn.grace_days`` of the last end (a
renewal that starts the instant the old one ends is no churn, even with grace 0).
``inactivity``: the customer churns when no qualifying event falls in [T, T + horizon).

A label exists only for dates observed through T + horizon + grace (``observed_until``, the first
day the data does not cover): later dates get no rows. Labels are defined for the customers
eligible at T (:mod:`features.population`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

from configs import Config
from features.population import Tables, eligible, lazy, qualifying_events
from features.timeline import as_of_instant, dates_frame, rows_within, with_later_facts

_OPEN_ENDED = datetime(9999, 12, 31)


def labelled_dates(dates: Sequence[date], config: Config, observed_until: date) -> list[date]:
    """The dates whose label window plus grace lies inside the observed data (no right censoring)."""
    span = timedelta(days=config.churn.horizon_days + config.churn.grace_days)
    return [d for d in dates if d + span <= observed_until]


def _with_horizon(dates: pl.DataFrame, config: Config) -> pl.DataFrame:
    tz, horizon = config.schedule.timezone, timedelta(days=config.churn.horizon_days)
    return dates.with_columns(pl.Series("_horizon_end", [as_of_instant(d + horizon, tz) for d in dates["as_of"]], pl.Datetime("us", "UTC")))


def _subscription_end(subscriptions: pl.LazyFrame, dates: pl.DataFrame, config: Config) -> pl.LazyFrame:
    end = pl.col("ended_at").fill_null(pl.lit(_OPEN_ENDED).dt.replace_time_zone("UTC"))
    # the last end among the subscriptions held by the end of the horizon
    last_end = pl.when(pl.col("started_at") < pl.col("_horizon_end")).then(end).max()
    started = pl.col("started_at")
    restarted = ((started >= pl.col("_t")) & (started >= last_end) & (started <= last_end + pl.duration(days=config.churn.grace_days))).any()
    return (
        with_later_facts(subscriptions, "subscriptions").join(dates.lazy(), how="cross")
        .group_by("as_of", "customer_id")
        .agg(((last_end < pl.col("_horizon_end").first()) & ~restarted).alias("churned"))
    )


def _inactivity(events: pl.LazyFrame, dates: pl.DataFrame, config: Config) -> pl.LazyFrame:
    active = rows_within(qualifying_events(events, config), dates, "ts", config.schedule.timezone, 0, config.churn.horizon_days)
    return active.select("as_of", "customer_id").unique().with_columns(pl.lit(False).alias("churned"))


def churn_labels(tables: Tables, config: Config, dates: Sequence[date], observed_until: date) -> pl.LazyFrame:
    """(as_of, customer_id, churned) for every customer eligible at each fully observed date."""
    observed = labelled_dates(dates, config, observed_until)
    keys = ["as_of", "customer_id"]
    if not observed:
        return pl.LazyFrame(schema={"as_of": pl.Date, "customer_id": pl.String, "churned": pl.Boolean})
    frame = _with_horizon(dates_frame(observed, config.schedule.timezone), config)
    population = eligible(tables, config, frame)
    if config.churn.definition == "subscription_end":
        # every eligible customer holds a subscription at T, so every one gets an outcome
        outcome = _subscription_end(lazy(tables, "subscriptions"), frame, config)
        return population.join(outcome, on=keys, how="left")
    # no qualifying event in the horizon = churned
    stayed = _inactivity(lazy(tables, "events"), frame, config)
    return population.join(stayed, on=keys, how="left").select(*keys, pl.col("churned").fill_null(True))


def label_churn(tables: Tables, config: Config, as_of: date, observed_until: date) -> pl.DataFrame:
    """(customer_id, churned) for the customers eligible at ``as_of``; empty when the label window
    plus grace is not fully observed by ``observed_until``."""
    return churn_labels(tables, config, [as_of], observed_until).select("customer_id", "churned").collect().sort("customer_id")
