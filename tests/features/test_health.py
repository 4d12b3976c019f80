"""Data health of a snapshot: stale tables, volume jumps and reject shares, each named in words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from features.health import data_health, freshness_column

AS_OF = date(2026, 1, 1)
MIDNIGHT = datetime(2026, 1, 1, tzinfo=UTC)


def tables(events_h: float = 3, tickets_h: float = 20) -> dict[str, pl.DataFrame]:
    """events and tickets whose newest row is that many hours before the as-of; one row after it (ignored)."""
    def times(hours: float) -> list[datetime]:
        return [MIDNIGHT - timedelta(hours=hours + 50), MIDNIGHT - timedelta(hours=hours), MIDNIGHT + timedelta(hours=5)]

    return {
        "events": pl.DataFrame({"customer_id": ["a", "b", "c"], "ts": times(events_h)}),
        "tickets": pl.DataFrame({"customer_id": ["a", "b", "c"], "opened_at": times(tickets_h)}),
    }


def manifest(events: int = 1000, tickets: int = 100, rejected: int = 0) -> dict:
    return {"tables": {"events": {"read": events + rejected, "accepted": events, "rejected": rejected},
                       "tickets": {"read": tickets, "accepted": tickets, "rejected": 0}}}


EARLIER = [manifest(900), manifest(950), manifest(1000)]


def test_freshness_reads_each_tables_first_required_time():
    assert {t: freshness_column(t) for t in ("customers", "events", "tickets", "surveys")} == {
        "customers": "signup_at", "events": "ts", "tickets": "opened_at", "surveys": "sent_at",
    }


def test_a_healthy_snapshot_has_no_issues(make_config):
    health = data_health(tables(), manifest(), EARLIER, AS_OF, make_config())
    assert health["status"] == "ok" and health["issues"] == []
    events = health["tables"]["events"]
    assert events["hours_old"] == 3.0 and events["newest"].startswith("2025-12-31T21:00")  # the row after the as-of is not counted
    assert events["trailing_median_rows"] == 950 and events["volume_ratio"] == pytest.approx(1000 / 950)


@pytest.mark.parametrize(
    ("snapshot", "current", "expected"),
    [
        (tables(tickets_h=72), manifest(), "tickets: newest opened_at 2025-12-29 00:00 is 72 h before as-of 2026-01-01 (monitoring.max_staleness_hours=48)"),
        (tables(), manifest(events=400), "events: 400 rows, 0.42 x the median of the last 3 runs"),
        (tables(), manifest(events=2500), "events: 2,500 rows, 2.63 x the median of the last 3 runs"),
        (tables(), manifest(rejected=20), "events: 2.0% of rows rejected (monitoring.max_reject_share=0.01)"),
    ],
)
def test_each_breach_is_named_with_its_table_and_key(make_config, snapshot, current, expected):
    health = data_health(snapshot, current, EARLIER, AS_OF, make_config())
    assert health["status"] == "warn" and health["issues"] == [expected]


def test_the_first_run_has_no_volume_history(make_config):
    health = data_health(tables(), manifest(), [], AS_OF, make_config())
    assert health["tables"]["events"]["volume_ratio"] is None and health["status"] == "ok"
