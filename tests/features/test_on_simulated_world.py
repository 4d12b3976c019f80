"""Features and labels on the simulator's world, read back from the Parquet files it writes:
a plausible churn base rate, and churners look the way the world made them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from features.snapshots import build_training_frame
from simulator import write_world

TABLES = ("customers", "events", "subscriptions", "tickets", "orders", "billing", "surveys")


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    from configs import parse_config

    out = tmp_path_factory.mktemp("world")
    summary = write_world(out, customers=3000, days=400, seed=5)
    tables = {name: pl.read_parquet(Path(out) / f"{name}.parquet") for name in TABLES}
    config = parse_config(
        {"name": "sim", "workspace": "w", "source": {"kind": "files", "path": str(out), "pii": {"customers": ["email", "name"]}}, "sink": {"kind": "duckdb", "path": "s.duckdb"}}
    )
    return build_training_frame(tables, config, summary.today)


def test_base_rate_is_plausible(training) -> None:
    # a subscription business: a few percent leave in any 30 days
    rate = training["churned"].mean()
    assert 0.005 < rate < 0.15, rate


def test_churners_had_more_friction_and_falling_usage(training) -> None:
    columns = ["tickets_90d", "events_30d", "events_weekly_slope_8w", "days_since_last_event"]
    means = training.group_by("churned").agg(pl.col(columns).mean())
    churners, stayers = (means.filter(pl.col("churned") == flag).row(0, named=True) for flag in (True, False))
    assert churners["tickets_90d"] > stayers["tickets_90d"]
    assert churners["events_30d"] < stayers["events_30d"]
    # the usage trend: the 8-week slope separates; the 30-vs-30 ratio of small counts is too noisy here
    assert churners["events_weekly_slope_8w"] < stayers["events_weekly_slope_8w"]
    assert churners["days_since_last_event"] > stayers["days_since_last_event"]
