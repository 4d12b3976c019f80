"""Who is scored and labelled as of T: customers signed up before T and not yet churned at T.

``subscription_end``: an active subscription at T (started before T; no end, or an end at or
after T). ``inactivity``: at least one qualifying event (``churn.activity_event_types``, null =
all) within [T - churn.active_within_days, T).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from configs import Config
from features.timeline import dates_frame, rows_before, rows_within, with_later_facts

Tables = Mapping[str, pl.DataFrame | pl.LazyFrame]


def lazy(tables: Tables, name: str) -> pl.LazyFrame:
    return tables[name].lazy()


def qualifying_events(events: pl.LazyFrame, config: Config) -> pl.LazyFrame:
    """The events that count as activity for the inactivity definition."""
    kinds = config.churn.activity_event_types
    return events if kinds is None else events.filter(pl.col("event_type").is_in(kinds))


def active_subscriptions(subscriptions: pl.LazyFrame, dates: pl.DataFrame, tz: str) -> pl.LazyFrame:
    """(as_of, customer_id) with a subscription active at T."""
    ended = pl.col("ended_at")
    return (
        rows_before(with_later_facts(subscriptions, "subscriptions"), dates, "started_at", tz)
        .filter(ended.is_null() | (ended >= pl.col("_t")))
        .select("as_of", "customer_id")
        .unique()
    )


def active_by_events(events: pl.LazyFrame, dates: pl.DataFrame, config: Config, tz: str) -> pl.LazyFrame:
    """(as_of, customer_id) with a qualifying event in [T - active_within_days, T)."""
    recent = rows_within(qualifying_events(events, config), dates, "ts", tz, -config.churn.active_within_days, 0)
    return recent.select("as_of", "customer_id").unique()


def require_subscriptions(tables: Tables, config: Config) -> None:
    if config.churn.definition == "subscription_end" and "subscriptions" not in tables:
        raise ValueError("churn.definition is 'subscription_end' but there is no subscriptions table: provide one, or set churn.definition: inactivity")


def eligible(tables: Tables, config: Config, dates: pl.DataFrame) -> pl.LazyFrame:
    """(as_of, customer_id) of every customer eligible at each date of ``dates``
    (:func:`features.timeline.dates_frame`)."""
    require_subscriptions(tables, config)
    tz = config.schedule.timezone
    signed_up = rows_before(lazy(tables, "customers"), dates, "signup_at", tz).select("as_of", "customer_id")
    if config.churn.definition == "subscription_end":
        active = active_subscriptions(lazy(tables, "subscriptions"), dates, tz)
    else:
        active = active_by_events(lazy(tables, "events"), dates, config, tz)
    return signed_up.join(active, on=["as_of", "customer_id"], how="semi")


def eligible_customers(tables: Tables, config: Config, as_of: date) -> pl.DataFrame:
    """The customer ids eligible at ``as_of``, sorted."""
    dates = dates_frame([as_of], config.schedule.timezone)
    return eligible(tables, config, dates).select("customer_id").collect().sort("customer_id")
