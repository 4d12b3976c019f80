"""Churn labels on hand-made subscriptions and events: both definitions, grace, eligibility, no censoring."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.labels import label_churn
from features.population import eligible_customers

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
OBSERVED = date(2025, 12, 31)
UTC_TS = pl.Datetime("us", "UTC")


def world(subscriptions: list[tuple], events: list[tuple] = ()) -> dict[str, pl.DataFrame]:
    """subscriptions: (customer, started_at, ended_at); events: (customer, ts, event_type)."""
    ids = sorted({s[0] for s in subscriptions} | {e[0] for e in events})
    return {
        "customers": pl.DataFrame({"customer_id": ids, "signup_at": [T - 365 * DAY] * len(ids)}, schema_overrides={"signup_at": UTC_TS}),
        "subscriptions": pl.DataFrame(subscriptions, schema={"customer_id": pl.String, "started_at": UTC_TS, "ended_at": UTC_TS}, orient="row"),
        "events": pl.DataFrame(list(events), schema={"customer_id": pl.String, "ts": UTC_TS, "event_type": pl.String}, orient="row"),
    }


def churned(tables, config, as_of: date = AS_OF, observed_until: date = OBSERVED) -> dict[str, bool]:
    return dict(label_churn(tables, config, as_of, observed_until).iter_rows())


@pytest.mark.parametrize(
    ("subscriptions", "grace_days", "expected"),
    [
        ([("C1", T - 100 * DAY, None)], 0, False),  # open-ended
        ([("C1", T - 100 * DAY, T + 10 * DAY)], 0, True),  # ends inside [T, T + 30d)
        ([("C1", T - 100 * DAY, T)], 0, True),  # ends at exactly T: was active at T, churns
        ([("C1", T - 100 * DAY, T + 30 * DAY)], 0, False),  # ends at T + horizon: outside the window
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T + 10 * DAY, None)], 0, False),  # renewal at the end instant
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T + 15 * DAY, None)], 0, False),  # restarted inside the horizon
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T + 35 * DAY, None)], 0, True),  # back after the horizon, no grace
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T + 35 * DAY, None)], 30, False),  # ... within 30 days' grace
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T + 41 * DAY, None)], 30, True),  # ... after it
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T - 50 * DAY, T + 20 * DAY)], 0, True),  # every subscription ends
        ([("C1", T - 100 * DAY, T + 10 * DAY), ("C1", T - 50 * DAY, None)], 0, False),  # one keeps going
    ],
)
def test_subscription_end(make_config, subscriptions: list[tuple], grace_days: int, expected: bool) -> None:
    config = make_config(churn={"definition": "subscription_end", "horizon_days": 30, "grace_days": grace_days}, training={"step_days": 60})
    assert churned(world(subscriptions), config) == {"C1": expected}


def test_only_customers_active_at_t_get_a_label(make_config) -> None:
    config = make_config(churn={"definition": "subscription_end"})
    tables = world([("C1", T - 100 * DAY, T - DAY), ("C2", T, None), ("C3", T - DAY, None)])
    assert churned(tables, config) == {"C3": False}  # C1 left before T, C2 starts at T
    assert eligible_customers(tables, config, AS_OF)["customer_id"].to_list() == ["C3"]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("C1", T - DAY, "login"), ("C1", T + 5 * DAY, "login")], {"C1": False}),
        ([("C1", T - DAY, "login")], {"C1": True}),
        ([("C1", T - DAY, "login"), ("C1", T, "login")], {"C1": False}),  # T is inside [T, T + h)
        ([("C1", T - DAY, "login"), ("C1", T + 30 * DAY, "login")], {"C1": True}),  # T + h is not
        ([("C1", T - DAY, "login"), ("C1", T + 5 * DAY, "page_view")], {"C1": True}),  # not a qualifying type
        ([("C1", T - 31 * DAY, "login"), ("C1", T + 5 * DAY, "login")], {}),  # inactive at T: not eligible
        ([("C1", T - DAY, "page_view"), ("C1", T + 5 * DAY, "login")], {}),  # only non-qualifying activity
    ],
)
def test_inactivity(make_config, events: list[tuple], expected: dict) -> None:
    config = make_config(churn={"definition": "inactivity", "horizon_days": 30, "active_within_days": 30, "activity_event_types": ["login"]})
    assert churned(world([], events), config) == expected


@pytest.mark.parametrize(("observed_until", "labelled"), [(date(2025, 7, 1), True), (date(2025, 6, 30), False)])
def test_right_censored_customers_get_no_label(make_config, observed_until: date, labelled: bool) -> None:
    config = make_config(churn={"horizon_days": 30})
    tables = world([("C1", T - 100 * DAY, None), ("C2", T - 100 * DAY, T + 3 * DAY)])
    got = label_churn(tables, config, AS_OF, observed_until)
    expected = pl.DataFrame({"customer_id": ["C1", "C2"], "churned": [False, True]}) if labelled else pl.DataFrame(schema={"customer_id": pl.String, "churned": pl.Boolean})
    assert_frame_equal(got, expected)


def test_grace_needs_its_days_observed(make_config) -> None:
    config = make_config(churn={"horizon_days": 30, "grace_days": 10}, training={"step_days": 40})
    tables = world([("C1", T - 100 * DAY, T + 3 * DAY)])
    assert churned(tables, config, observed_until=date(2025, 7, 10)) == {}
    assert churned(tables, config, observed_until=date(2025, 7, 11)) == {"C1": True}


def test_subscription_end_needs_a_subscriptions_table(make_config) -> None:
    tables = world([("C1", T - DAY, None)])
    del tables["subscriptions"]
    with pytest.raises(ValueError, match="churn.definition.*subscriptions"):
        label_churn(tables, make_config(), AS_OF, OBSERVED)
