"""Whole-history behaviour on hand-made events: recency across the lookback edge, totals since
signup, tenure-normalised rates, cadence and the overdue ratio, and how they read aloud."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.behavioral import behavioral_features, build_behavioral, default_windows, lookback_days
from features.catalog import reason_text
from features.contract import TABLES
from features.timeline import dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
WINDOWS = [7, 30, 90]
TYPES = ("login", "purchase")


def events(*rows: tuple) -> pl.DataFrame:
    """(customer_id, ts, event_type, channel, value) rows typed as the contract says."""
    schema = {c.name: c.dtype for c in TABLES["events"].columns}
    return pl.DataFrame(rows, schema=schema, orient="row")


def signups(**days_before_t: int) -> pl.LazyFrame:
    ids = list(days_before_t)
    return pl.LazyFrame({"customer_id": ids, "signup_at": [T - days_before_t[c] * DAY for c in ids]})


def built(frame: pl.DataFrame, as_of: date = AS_OF, **kwargs) -> pl.DataFrame:
    options = {"tz": "UTC", "windows": WINDOWS, "event_types": TYPES, "channels": ("app",), **kwargs}
    return build_behavioral(frame.lazy(), dates_frame([as_of], "UTC"), **options)


def row(frame: pl.DataFrame, customer: str = "C1") -> dict:
    found = frame.filter(pl.col("customer_id") == customer)
    assert found.height == 1, f"{customer} has {found.height} rows"
    return found.row(0, named=True)


def at(*days_ago: int, event_type: str = "login", value: float | None = None) -> list[tuple]:
    return [("C1", T - d * DAY, event_type, "app", value) for d in days_ago]


@pytest.mark.parametrize("days_ago", [1, 89, 90, 91, 200, 1000])
def test_recency_is_not_capped_by_the_lookback(days_ago: int) -> None:
    """The 90-day lookback bounds the windows, never the recency: silent for 200 days is 200."""
    assert lookback_days(WINDOWS, with_usual=True) == 180
    for with_usual in (False, True):
        got = row(built(events(*at(days_ago), *at(days_ago + 30, event_type="purchase")), with_usual=with_usual))
        assert (got["days_since_last_event"], got["days_since_last_login"], got["days_since_last_purchase"]) == (days_ago, days_ago, days_ago + 30)


def test_recency_of_a_type_never_seen_is_null_and_says_so() -> None:
    got = row(built(events(*at(5))))
    assert got["days_since_last_login"] == 5 and got["days_since_last_purchase"] is None
    spec = {f.spec.name: f.spec for f in behavioral_features(WINDOWS, TYPES, {"value"})[1]}["days_since_last_purchase"]
    assert reason_text(spec, None) == "no purchase on record"
    assert reason_text(spec, 200) == "200 days since the last purchase"


@pytest.mark.parametrize(
    ("rows", "events_total", "active_days_total", "value_total"),
    [
        (at(1), 1, 1, 0.0),
        (at(1, 1, 1), 3, 1, 0.0),  # three events on one day: one active day
        (at(3, 400, value=10.0), 2, 2, 20.0),  # the whole history, not the lookback
        ([("C1", T - DAY + 5 * US, "login", "app", 2.5), ("C1", T - DAY + 9 * US, "export", None, 1.5)], 2, 1, 4.0),  # a type without columns counts
        (at(2) + [("C1", T, "login", "app", 99.0), ("C1", T + DAY, "login", "app", 99.0)], 1, 1, 0.0),  # at T and after: the future
    ],
)
def test_totals_since_signup(rows: list[tuple], events_total: int, active_days_total: int, value_total: float) -> None:
    got = row(built(events(*rows)))
    assert (got["events_total"], got["active_days_total"], got["value_total"]) == (events_total, active_days_total, value_total)


@pytest.mark.parametrize(
    ("signup_days_ago", "expected_tenure"),
    [
        (300, 300),  # tenure from signup
        (None, 100),  # no customers table: from the first event
        (50, 100),  # signed up after the first event (a data quirk): from the first event
    ],
)
def test_rates_per_30_days_of_tenure(signup_days_ago: int | None, expected_tenure: int) -> None:
    frame = events(*at(100, 40, 10, value=6.0))
    got = row(built(frame, signups=None if signup_days_ago is None else signups(C1=signup_days_ago)))
    assert got["active_days_per_30d"] == pytest.approx(3 * 30 / expected_tenure)
    assert got["value_per_30d"] == pytest.approx(18.0 * 30 / expected_tenure)


@pytest.mark.parametrize(
    ("active_days_ago", "gap", "overdue"),
    [
        ((100, 70, 40, 10), 30.0, 10 / 30),  # a monthly buyer seen 10 days ago: on rhythm
        ((200, 190, 180), 10.0, 18.0),  # every 10 days, then silent for 180: 18x overdue
        ((400, 300, 5), 197.5, 5 / 197.5),  # mean gap: (400 - 5) / 2, gaps ordered or not
        ((30, 29), 1.0, 29.0),
        ((7,), None, None),  # one active day: no rhythm yet
        ((7, 7), None, None),  # two events on one day are one active day
    ],
)
def test_cadence_and_overdue_ratio(active_days_ago: tuple[int, ...], gap: float | None, overdue: float | None) -> None:
    got = row(built(events(*at(*active_days_ago))))
    assert got["days_since_last_event"] == min(active_days_ago)
    assert got["active_gap_days_mean"] == (None if gap is None else pytest.approx(gap))
    assert got["overdue_ratio"] == (None if overdue is None else pytest.approx(overdue))


def test_cadence_uses_only_days_before_each_date() -> None:
    """Several dates in one pass: each sees the days before it only, as if built alone."""
    frame = events(*at(100, 70, 40, 10), ("C2", T - 50 * DAY, "purchase", "app", 3.0), ("C2", T - 45 * DAY, "purchase", "app", 1.0))
    dates = [AS_OF - timedelta(days=d) for d in (80, 45, 30, 0)]
    customers = signups(C1=150, C2=60)
    options = {"tz": "UTC", "windows": WINDOWS, "event_types": TYPES, "channels": ("app",), "signups": customers}
    together = build_behavioral(frame.lazy(), dates_frame(dates, "UTC"), **options).sort("as_of", "customer_id")
    apart = pl.concat([built(frame, d, signups=customers) for d in dates]).sort("as_of", "customer_id")
    assert_frame_equal(together, apart)
    c1 = together.filter(pl.col("customer_id") == "C1")
    assert c1["active_days_total"].to_list() == [1, 2, 3, 4]
    assert c1["active_gap_days_mean"].to_list() == [None, 30.0, 30.0, 30.0]
    # C2's first event is 50 days before T: no row at the first date (the snapshot fills absent
    # values); at T - 45 days its second event is exactly at the date, the future: one active day
    c2 = together.filter(pl.col("customer_id") == "C2")
    assert c2["as_of"].to_list() == dates[1:]
    assert c2["active_gap_days_mean"].to_list() == [None, 5.0, 5.0]
    assert c2["active_days_per_30d"].to_list() == pytest.approx([1 * 30 / 15, 2 * 30 / 30, 2 * 30 / 60])  # signed up 60 days before T


def test_reasons_read_aloud() -> None:
    specs = {f.spec.name: f.spec for f in behavioral_features(WINDOWS, TYPES, {"value"})[1]}
    expected = {
        ("overdue_ratio", 3.0): "silent for 3× their usual gap between visits",
        ("active_gap_days_mean", 30.0): "usually active every 30 days",
        ("active_days_per_30d", 2.5): "active on 2.5 days a month since signup",
        ("active_days_per_30d", 1.0): "active on 1 day a month since signup",
        ("events_total", 1): "1 activity since signup",
        ("value_per_30d", 49.99): "an activity value of 49.99 a month since signup",
    }
    assert {key: reason_text(specs[key[0]], key[1]) for key in expected} == expected
    assert {n for n, s in specs.items() if s.missing_reason and n.startswith("days_since")} == {"days_since_last_event", "days_since_last_login", "days_since_last_purchase"}
    assert specs["overdue_ratio"].missing_reason is None  # fewer than 2 active days: no reason at all


def test_without_a_value_column_there_are_no_value_features() -> None:
    names = {f.spec.name for f in behavioral_features(WINDOWS, TYPES, set())[1]}
    assert {"events_total", "overdue_ratio"} <= names
    assert not {"value_total", "value_per_30d"} & names
    got = row(built(events(*at(3, 9)).drop("value")))
    assert "value_total" not in got and got["active_days_total"] == 2


@pytest.mark.parametrize(
    ("definition", "horizon_days", "history_days", "windows"),
    [
        ("subscription_end", 30, None, [7, 30, 90]),  # daily use: the demo's windows
        ("subscription_end", 59, 1000, [7, 30, 90]),
        ("subscription_end", 60, None, [7, 30, 90, 180, 365]),  # a long horizon needs long windows
        ("inactivity", 30, None, [7, 30, 90, 180, 365]),
        ("inactivity", 90, 365, [7, 30, 90, 180, 365]),
        ("inactivity", 90, 364, [7, 30, 90, 180]),  # capped by the history the snapshots have
        ("inactivity", 90, 120, [7, 30, 90]),
    ],
)
def test_default_windows_per_churn_definition(definition: str, horizon_days: int, history_days: int | None, windows: list[int]) -> None:
    assert default_windows(definition, horizon_days, history_days) == windows
