"""Relationship features: tenure, attribute codes with a stored mapping, PII never used, subscriptions at T."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.relationship import MAX_CATEGORIES, build_customers, build_subscriptions, free_text, learn_attributes, skipped_notes
from features.timeline import dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
DATES = dates_frame([AS_OF], "UTC")


def customers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "signup_at": [T - 10 * DAY, T - DAY, T - 400 * DAY, T],  # C4 signs up at T: not a customer yet
            "plan": ["pro", "basic", None, "enterprise"],
            "monthly_value": [30.0, 10.0, 20.0, 99.0],
            "email": ["a@x", "b@x", "c@x", "d@x"],
            "internal_score": [1, 2, 3, 4],
        },
        schema_overrides={"signup_at": pl.Datetime("us", "UTC")},
    )


def test_attributes_exclude_pii_and_excluded_columns(make_config) -> None:
    config = make_config(source={"pii": {"customers": ["email"]}, "exclude": {"customers": ["internal_score"]}})
    numeric, categories, skipped = learn_attributes(customers().lazy(), config, T)
    assert numeric == ("monthly_value",) and skipped == {}
    # learned from customers signed up before T only: 'enterprise' (C4) is unseen
    assert categories == {"plan": ("basic", "pro")}


def test_tenure_and_stable_codes(make_config) -> None:
    config = make_config(source={"pii": {"customers": ["email"]}, "exclude": {"customers": ["internal_score"]}})
    numeric, categories, _ = learn_attributes(customers().lazy(), config, T)
    got = build_customers(customers().lazy(), DATES, tz="UTC", numeric=numeric, categories=categories).collect().sort("customer_id")
    expected = pl.DataFrame(
        {"as_of": [AS_OF] * 3, "customer_id": ["C1", "C2", "C3"], "tenure_days": [10, 1, 400], "monthly_value": [30.0, 10.0, 20.0], "plan": [1, 0, None]},
        schema_overrides={"tenure_days": pl.Int32, "plan": pl.Int32},
    )
    assert_frame_equal(got, expected)
    # an unseen label at scoring is null, never a new code
    later = customers().with_columns(pl.col("signup_at").dt.offset_by("-1y"))
    codes = build_customers(later.lazy(), DATES, tz="UTC", numeric=numeric, categories=categories).collect().sort("customer_id")
    assert codes["plan"].to_list() == [1, 0, None, None]


def test_a_subscription_ending_after_t_is_active_at_t() -> None:
    subscriptions = pl.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3", "C4"],
            "started_at": [T - 300 * DAY, T - 100 * DAY, T - 50 * DAY, T - 20 * DAY, T],
            "ended_at": [T - 100 * DAY, T + 10 * DAY, T, None, None],
            "amount": [10.0, 20.0, 15.0, 5.0, 9.0],
        },
        schema_overrides={"started_at": pl.Datetime("us", "UTC"), "ended_at": pl.Datetime("us", "UTC")},
    )
    got = build_subscriptions(subscriptions.lazy(), DATES, tz="UTC").collect().sort("customer_id")
    expected = pl.DataFrame(
        {
            "as_of": [AS_OF] * 3,
            "customer_id": ["C1", "C2", "C3"],
            "subscriptions_active": [1, 1, 1],
            "subscriptions_ended": [1, 0, 0],
            "subscription_days": [300, 50, 20],
            "subscription_amount": [20.0, 15.0, 5.0],
        },
        schema_overrides={c: pl.Int32 for c in ("subscriptions_active", "subscriptions_ended", "subscription_days")},
    )
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("labels", "customers", "is_category"),
    [
        (3, 4, True),  # a small vocabulary is a category even in a tiny company
        (20, 20, True),
        (21, 420, True),  # 21 labels shared by 20 customers each
        (21, 419, False),  # beyond 20 labels, a label must be shared by 20 customers on average
        (200, 4000, True),
        (MAX_CATEGORIES + 1, 10_000_000, False),  # never more than MAX_CATEGORIES labels
        (5000, 5000, False),  # one value per customer: an identifier or free text
    ],
)
def test_which_text_attributes_are_categories(labels: int, customers: int, is_category: bool) -> None:
    why = free_text(labels, customers)
    assert (why is None) == is_category
    if why is not None:
        assert f"{labels:,} distinct values" in why


def test_an_undeclared_free_text_column_is_no_feature(make_config) -> None:
    n = 200
    frame = pl.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "signup_at": [T - (i + 1) * DAY for i in range(n)],
            "contact": [f"person{i}@example.com" for i in range(n)],  # undeclared: not in source.pii
            "plan": ["basic", "pro"] * (n // 2),
            "segment": [f"s{i % 25}" for i in range(n)],  # 25 labels among 200: 8 customers each
        },
        schema_overrides={"signup_at": pl.Datetime("us", "UTC")},
    )
    numeric, categories, skipped = learn_attributes(frame.lazy(), make_config(), T)
    assert categories == {"plan": ("basic", "pro")}
    assert set(skipped) == {"contact", "segment"}
    assert "200 distinct values among 200 customers" in skipped["contact"]
    notes = skipped_notes(skipped)
    assert notes[0].startswith("customers.contact is not a feature: 200 distinct values") and "source.pii" in notes[0]
    # the same column with repeating labels (25 labels, 40 customers each) is a category
    frame = pl.concat([frame] * 5).with_columns(pl.Series("customer_id", [f"C{i}" for i in range(5 * n)]))
    _, categories, skipped = learn_attributes(frame.lazy(), make_config(source={"pii": {"customers": ["contact"]}}), T)
    assert set(categories) == {"plan", "segment"} and skipped == {}


def test_huge_amounts_stay_finite() -> None:
    """1e308 twice overflows a sum to inf: the feature keeps the largest float instead."""
    subscriptions = pl.DataFrame(
        {"customer_id": ["C1", "C1", "C2"], "started_at": [T - 9 * DAY, T - 8 * DAY, T - 5 * DAY], "amount": [1e308, 1e308, 5.0]},
        schema_overrides={"started_at": pl.Datetime("us", "UTC")},
    )
    got = build_subscriptions(subscriptions.lazy(), DATES, tz="UTC").collect().sort("customer_id")
    assert math.isfinite(got["subscription_amount"][0]) and got["subscription_amount"][0] > 1e308
    assert got["subscription_amount"][1] == 5.0
