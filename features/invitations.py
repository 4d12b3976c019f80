"""Survey invitations paired with the features known when they were sent, for the response and
satisfaction models.

Features are built on a grid of dates ``GRID_DAYS`` apart (one query for all of them); each
invitation takes the latest grid date at or before its sending day, so what it sees was known
strictly before it was sent (and at most ``GRID_DAYS`` old). Only invitations old enough to have
been answered (``survey.response_window_days``) count: a younger unanswered one is not yet
"ignored". Invitations to customers not eligible at their grid date (not yet signed up, already
gone) have no features and are left out of this training sample; the input data is untouched.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from configs import Config
from features.catalog import FeatureSchema
from features.population import Tables, lazy
from features.snapshots import build_features
from features.timeline import day_number, local_day

GRID_DAYS = 14


def invitation_grid(first: date, observed_until: date, config: Config) -> list[date]:
    """Grid dates from ``first`` up to the last sending day whose answer window has closed."""
    last = observed_until - timedelta(days=config.survey.response_window_days)
    dates, day = [], last
    while day >= first:
        dates.append(day)
        day -= timedelta(days=GRID_DAYS)
    return sorted(dates)


def build_invitation_frame(tables: Tables, config: Config, schema: FeatureSchema, first: date, observed_until: date) -> pl.DataFrame | None:
    """sent_at, customer_id, features…, responded, score for every matured invitation since ``first``."""
    if "surveys" not in tables:
        return None
    grid = invitation_grid(first, observed_until, config)
    if len(grid) < 2:
        return None
    tz = config.schedule.timezone
    horizon_day = day_number(observed_until)
    last_sendable = day_number(observed_until - timedelta(days=config.survey.response_window_days))
    invitations = (
        lazy(tables, "surveys")
        .with_columns(_sent_day=local_day("sent_at", tz))
        .filter(pl.col("_sent_day").is_between(day_number(grid[0]), last_sendable, closed="left"))
        .with_columns(
            # an answer counts only if it was given before the data ends (always true for clean data)
            responded=pl.col("responded_at").is_not_null() & (local_day("responded_at", tz) < horizon_day),
        )
        .select("customer_id", "sent_at", "_sent_day", "responded", score=pl.when("responded").then(pl.col("score")))
        .sort("_sent_day")
        .collect()
    )
    grid_days = pl.DataFrame({"as_of": grid, "_grid_day": [day_number(d) for d in grid]}, schema={"as_of": pl.Date, "_grid_day": pl.Int32})
    paired = invitations.join_asof(grid_days, left_on="_sent_day", right_on="_grid_day", strategy="backward")
    # only the invited customers' rows: a million customers x a year of grid dates would not fit in memory
    features = build_features(tables, config, grid, schema, only=paired.select("as_of", "customer_id").unique())
    return (
        paired.join(features, on=["as_of", "customer_id"], how="inner")
        .sort("sent_at", "customer_id")
        .drop("_sent_day", "_grid_day")
    )
