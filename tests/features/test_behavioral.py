"""Behavioral features on hand-made events: half-open windows, recency, trends, sentinels."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.behavioral import build_behavioral, lookback_days
from features.contract import TABLES
from features.timeline import as_of_instant, dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


def events(*rows: tuple) -> pl.DataFrame:
    """(customer_id, ts, event_type, channel, value) rows typed as the contract says."""
    schema = {c.name: c.dtype for c in TABLES["events"].columns}
    return pl.DataFrame(rows, schema=schema, orient="row")


def behavioral(frame: pl.DataFrame, as_of: date = AS_OF, tz: str = "UTC", **kwargs) -> pl.DataFrame:
    options = {"tz": tz, "windows": [7, 30, 90], "event_types": ("login", "purchase"), "channels": ("app", "web"), **kwargs}
    return build_behavioral(frame.lazy(), dates_frame([as_of], tz), **options)


def row(frame: pl.DataFrame, customer: str = "C1") -> dict:
    found = frame.filter(pl.col("customer_id") == customer)
    assert found.height == 1, f"{customer} has {found.height} rows"
    return found.row(0, named=True)


@pytest.mark.parametrize(
    ("ts", "in_7d", "in_30d"),
    [
        (T - US, 1, 1),  # the last instant before T
        (T - 7 * DAY, 1, 1),  # the window's first instant is inside: [T - 7d, T)
        (T - 7 * DAY - US, 0, 1),  # just before it is outside
        (T - 30 * DAY, 0, 1),
        (T - 30 * DAY - US, 0, 0),
    ],
)
def test_windows_are_half_open(ts: datetime, in_7d: int, in_30d: int) -> None:
    got = row(behavioral(events(("C1", ts, "login", "app", None))))
    assert (got["events_7d"], got["events_login_7d"], got["events_30d"]) == (in_7d, in_7d, in_30d)
    assert got["events_90d"] == 1


def test_an_event_at_exactly_t_is_the_future() -> None:
    frame = events(("C1", T, "login", "app", 1.0), ("C1", T + DAY, "login", "app", 1.0), ("C2", T - DAY, "login", "app", 1.0))
    got = behavioral(frame)
    assert got["customer_id"].to_list() == ["C2"]  # C1 has nothing before T


def test_counts_values_days_channels_and_recency() -> None:
    frame = events(
        ("C1", T - 1 * DAY + 5 * US, "login", "app", None),
        ("C1", T - 1 * DAY + 9 * US, "purchase", "web", 30.0),  # same day: one active day
        ("C1", T - 10 * DAY, "purchase", "web", 10.0),
        ("C1", T - 10 * DAY, "export", None, None),  # a type without its own columns still counts in totals
        ("C1", T - 200 * DAY, "login", "app", None),
    )
    got = row(behavioral(frame))
    expected = {
        "events_7d": 2, "events_30d": 4, "events_90d": 4,
        "events_login_7d": 1, "events_purchase_7d": 1, "events_purchase_30d": 2, "events_login_90d": 1,
        "active_days_7d": 1, "active_days_30d": 2, "active_days_90d": 2,
        "value_sum_7d": 30.0, "value_sum_30d": 40.0, "value_mean_30d": 20.0,
        "channels_7d": 2, "channels_30d": 2,
        "days_since_last_event": 1, "days_since_last_login": 1, "days_since_last_purchase": 1,
    }  # fmt: skip
    assert {k: got[k] for k in expected} == expected


def test_missing_history_is_null_not_zero() -> None:
    frame = events(("C1", T - 100 * DAY, "purchase", "web", None), ("C1", T - 3 * DAY, "login", "app", None))
    got = row(behavioral(frame))
    assert got["value_mean_7d"] is None  # no valued events: no mean (0 would be a real mean)
    assert got["value_sum_7d"] == 0.0  # a sum over nothing is zero
    assert got["events_trend_30d"] is None  # nothing in the 30 days before: no ratio
    assert got["days_since_last_event"] == 3
    # per-type recency reads the whole history: the purchase lies before the 90-day lookback
    assert lookback_days([7, 30, 90], with_usual=False) == 90
    assert got["days_since_last_purchase"] == 100


def test_days_since_last_event_sees_the_whole_history() -> None:
    got = row(behavioral(events(("C1", T - 400 * DAY, "login", "app", None))))
    assert got["days_since_last_event"] == 400
    assert (got["events_90d"], got["active_days_90d"], got["events_weekly_slope_8w"]) == (None, 0, None)  # filled as absent later


def test_trend_and_slope() -> None:
    # 4 events in the 30 days before the last 30, 2 in the last 30; weekly counts falling
    frame = events(
        *[("C1", T - d * DAY, "login", "app", None) for d in (40, 45, 50, 55)],
        *[("C1", T - d * DAY, "login", "app", None) for d in (5, 20)],
    )
    got = row(behavioral(frame))
    assert got["events_trend_30d"] == pytest.approx(0.5)
    assert got["active_days_trend_30d"] == pytest.approx(0.5)
    assert got["events_weekly_slope_8w"] < 0
    # a steady weekly rhythm has slope 0
    steady = row(behavioral(events(*[("C1", T - (7 * k + 1) * DAY, "login", "app", None) for k in range(8)])))
    assert steady["events_weekly_slope_8w"] == pytest.approx(0.0, abs=1e-12)


def test_usual_level_is_the_90_days_before_the_window_scaled() -> None:
    # 9 logins in [T-37d, T-7d) ... all within the 90 days before the 7-day window
    frame = events(*[("C1", T - (10 + 3 * k) * DAY, "login", "app", None) for k in range(9)], ("C1", T - DAY, "login", "app", None))
    got = row(behavioral(frame, with_usual=True))
    assert got["events_7d"] == 1
    assert got["events_7d__usual"] == pytest.approx(9 * 7 / 90)
    assert got["active_days_7d__usual"] == pytest.approx(9 * 7 / 90)


def test_local_days_follow_the_schedule_time_zone() -> None:
    tz = "Europe/Paris"  # UTC+2 in June: as_of 2025-06-01 is 2025-05-31 22:00 UTC
    t = as_of_instant(AS_OF, tz)
    assert t == datetime(2025, 5, 31, 22, tzinfo=timezone.utc)
    frame = events(("C1", t - US, "login", "app", None), ("C1", t, "login", "app", None), ("C2", t - 7 * DAY, "login", "app", None))
    got = behavioral(frame, tz=tz).sort("customer_id")
    assert got["events_7d"].to_list() == [1, 1]
    assert got["days_since_last_event"].to_list() == [1, 7]


def test_partitions_give_the_same_frame() -> None:
    frame = events(*[(f"C{k % 7}", T - (k % 50 + 1) * DAY, ("login", "purchase", "x")[k % 3], ("app", "web", None)[k % 3], float(k)) for k in range(300)])
    one = behavioral(frame).sort("customer_id")
    assert_frame_equal(behavioral(frame, partitions=3).sort("customer_id"), one)


def test_several_dates_in_one_call_equal_one_call_per_date() -> None:
    frame = events(*[(f"C{k % 5}", T - (k * 3 % 200) * DAY - k * US, ("login", "purchase")[k % 2], "app", 1.0) for k in range(200)])
    dates = [AS_OF - timedelta(days=60), AS_OF - timedelta(days=30), AS_OF]
    together = build_behavioral(frame.lazy(), dates_frame(dates, "UTC"), tz="UTC", windows=[7, 30, 90], event_types=("login", "purchase"), channels=("app",))
    apart = pl.concat([behavioral(frame, as_of=d, channels=("app",)) for d in dates])
    assert_frame_equal(together.sort("as_of", "customer_id"), apart.sort("as_of", "customer_id"))


def test_huge_values_keep_every_feature_finite() -> None:
    """1e308 values overflow the window sums to inf: every feature stays finite (or null)."""
    frame = events(*[("C1", T - (d + 1) * DAY, "login", "app", 1e308) for d in range(3)], ("C2", T - DAY, "login", "app", 2.0))
    got = behavioral(frame, with_usual=True)
    floats = [c for c, dtype in got.schema.items() if dtype == pl.Float64]
    assert {"value_sum_90d", "value_mean_90d"} <= set(floats)
    infinite = got.select(pl.col(floats).is_infinite().any()).row(0, named=True)
    assert not any(infinite.values()), infinite
    c1 = row(got)
    assert c1["value_sum_7d"] > 1e308 and c1["value_mean_7d"] > 1e308  # the sign and the size survive
    assert row(got, "C2")["value_sum_7d"] == 2.0


@pytest.mark.parametrize(("days_ago", "expected"), [(80, 80), (120, 120), (400, 400)])
def test_per_type_recency_is_the_same_with_or_without_usual_levels(days_ago: int, expected: int | None) -> None:
    """Scoring builds with the usual levels (a longer lookback), training without: per-type
    recency reads the whole history either way, so a last login 120 days ago is 120 in both."""
    frame = events(("C1", T - days_ago * DAY, "login", "app", None), ("C1", T - DAY, "purchase", "app", None))
    trained, scored = row(behavioral(frame)), row(behavioral(frame, with_usual=True))
    assert trained["days_since_last_login"] == scored["days_since_last_login"] == expected
