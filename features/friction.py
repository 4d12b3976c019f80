"""Accumulated friction: exponentially decayed sums of incidents.

Dissatisfaction builds with every incident and fades slowly; a count in a window forgets an
incident on the day it leaves the window and weighs last week's like last quarter's. A decayed sum
keeps every incident before T, each weighted by ``0.5 ** (days_ago / half_life)``: an incident one
half-life ago counts half, two half-lives ago a quarter. ``days_ago`` is whole local days before T
(1 = the day before, :func:`features.timeline.days_before`), so yesterday's ticket weighs
0.5 ** (1 / 14) = 0.95 at a 14-day half-life. Three half-lives (two weeks, six weeks, four months)
let the model tell a fresh burst from a long grind. One function serves every table: the
operational builders pass their incidents' weights (docs/reasons-and-flags.md, "Accumulated
friction").
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from features.catalog import Feature, FeatureSpec

HALF_LIVES_DAYS = (14, 45, 120)
# how a reason says "weighted toward ..." for each half-life
_SPANS = {14: "the last two weeks", 45: "the last six weeks", 120: "the last four months"}


def decay(days_ago: pl.Expr, half_life_days: int) -> pl.Expr:
    """An incident's weight ``days_ago`` days before T."""
    return pl.lit(0.5).pow(days_ago.cast(pl.Float64) / half_life_days)


def decayed(
    weight: pl.Expr,
    days_ago: pl.Expr,
    *,
    family: str,
    table: str,
    name: str,
    description: str,
    reason: str,
    half_lives: Sequence[int] = HALF_LIVES_DAYS,
) -> tuple[list[pl.Expr], list[Feature]]:
    """Sums over the rows before T of ``weight`` x 0.5 ** (days_ago / h), one per half-life h:
    the aggregations and their catalog entries. ``name`` and ``description`` take ``{h}``;
    ``reason`` says the value ("{value:quantity:support ticket}") and gets the span it weighs most.
    A null weight counts 0 (nothing recorded, no friction); a customer without rows has 0."""
    aggs = [(weight.fill_null(0) * decay(days_ago, h)).sum().alias(name.replace("{h}", str(h))) for h in half_lives]
    features = [
        Feature(
            FeatureSpec(
                name.replace("{h}", str(h)),
                family,
                table,
                f"{description.replace('{h}', str(h))}: each weighted 0.5^(days before as_of / {h}), so one {h} days ago counts half",
                f"{reason}, weighted toward {_SPANS.get(h, f'the last {h} days')}",
                1,
                "Float64",
                0.0,
            )
        )
        for h in half_lives
    ]
    return aggs, features
