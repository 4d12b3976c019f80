"""The company-wide period of worse support: written to ground_truth/support_periods, felt by the tickets
opened inside it and only by them, and switched off by `SupportParams.bad_period = None`."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from simulator import simulate_world
from simulator.support import bad_days
from simulator.world import SupportParams, WorldParams

CUSTOMERS, DAYS, SEED = 800, 150, 7


@pytest.fixture(scope="module")
def worlds():
    calm = WorldParams(support=replace(SupportParams(), bad_period=None))
    return simulate_world(CUSTOMERS, DAYS, SEED), simulate_world(CUSTOMERS, DAYS, SEED, params=calm)


def _inside(tickets: pl.DataFrame, period: dict) -> pl.Expr:
    return pl.col("opened_at").is_between(period["started_at"], period["ended_at"], closed="left")


@pytest.mark.parametrize(
    ("bad_period", "days", "expected"),
    [((0.55, 0.71), 365, (200, 259)), ((0.5, 0.75), 200, (100, 150)), ((0.55, 0.71), 150, (82, 106)), (None, 365, None), ((0.0, 1.0), 10, (0, 10))],
)
def test_period_days(bad_period, days, expected):
    assert bad_days(replace(SupportParams(), bad_period=bad_period), days) == expected


def test_the_period_is_in_the_ground_truth_and_tickets_inside_it_are_handled_worse(worlds):
    world, _ = worlds
    periods = world.truth["support_periods"]
    assert periods.height == 1
    period = periods.row(0, named=True)
    sp = SupportParams()
    assert (period["wait_multiplier"], period["never_resolved_multiplier"]) == (sp.bad_wait_multiplier, sp.bad_never_resolved_multiplier)
    assert (period["ended_at"] - period["started_at"]).days == bad_days(sp, DAYS)[1] - bad_days(sp, DAYS)[0]
    tickets = world.tables["tickets"].with_columns(inside=_inside(world.tables["tickets"], period))
    by = tickets.group_by("inside").agg(pl.col("wait_seconds").median(), pl.col("handoffs").mean()).sort("inside")
    outside, inside = by.rows(named=True)
    assert inside["wait_seconds"] > 2 * outside["wait_seconds"] and inside["handoffs"] > 1.5 * outside["handoffs"]


def test_no_period_writes_an_empty_table_and_the_same_days_look_like_any_other(worlds):
    world, calm = worlds
    assert calm.truth["support_periods"].height == 0
    assert calm.truth["support_periods"].columns == world.truth["support_periods"].columns
    period = world.truth["support_periods"].row(0, named=True)
    tickets = calm.tables["tickets"].with_columns(inside=_inside(calm.tables["tickets"], period))
    outside, inside = tickets.group_by("inside").agg(pl.col("wait_seconds").median()).sort("inside")["wait_seconds"]
    assert 0.7 < inside / outside < 1.4
