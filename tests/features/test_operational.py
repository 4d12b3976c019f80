"""Operational features on hand-made tickets, orders and billing rows: what was known before T."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from features.contract import TABLES
from features.operational import build_billing, build_orders, build_tickets
from features.timeline import dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DATES = dates_frame([AS_OF], "UTC")
WINDOWS = [7, 30, 90]


def table(name: str, rows: list[dict]) -> pl.DataFrame:
    """Rows typed as the contract says (columns: those named in any row, plus the required)."""
    specs = [c for c in TABLES[name].columns if c.required or any(c.name in r for r in rows)]
    return pl.DataFrame([{c.name: r.get(c.name) for c in specs} for r in rows], schema={c.name: c.dtype for c in specs}, orient="row")


def ticket(opened_at: datetime, **values) -> dict:
    ticket.count = getattr(ticket, "count", 0) + 1
    return {"ticket_id": f"T{ticket.count}", "customer_id": "C1", "opened_at": opened_at, **values}


def tickets_row(*rows: dict) -> dict:
    out = build_tickets(table("tickets", list(rows)).lazy(), DATES, tz="UTC", windows=WINDOWS).collect()
    return out.row(0, named=True) if out.height else {}


@pytest.mark.parametrize(
    ("opened_at", "counted_7d"),
    [(T, None), (T + DAY, None), (T - US, 1), (T - 7 * DAY, 1), (T - 7 * DAY - US, 0)],
    ids=["at-T", "after-T", "just-before-T", "window-start", "just-outside"],
)
def test_ticket_windows(opened_at: datetime, counted_7d: int | None) -> None:
    got = tickets_row(ticket(opened_at))
    assert got.get("tickets_7d") == counted_7d


@pytest.mark.parametrize(
    ("resolved_at", "open_at_t", "resolve_hours"),
    [
        (None, 1, None),
        (T, 1, None),  # resolved at exactly T: still open at T
        (T + 5 * DAY, 1, None),  # resolved after T: open at T, and its resolution time unknown
        (T - HOUR, 0, 46.0),
    ],
)
def test_a_ticket_resolved_after_t_is_open_at_t(resolved_at: datetime | None, open_at_t: int, resolve_hours: float | None) -> None:
    got = tickets_row(ticket(T - 2 * DAY + HOUR, resolved_at=resolved_at))
    assert got["tickets_open"] == open_at_t
    assert got["ticket_resolve_hours_median_7d"] == resolve_hours


def test_ticket_handling_features() -> None:
    got = tickets_row(
        ticket(T - 20 * DAY, resolved_at=T - 19 * DAY, wait_seconds=600.0, handoffs=2, reopened=True, escalated=False),
        ticket(T - 15 * DAY, resolved_at=T - 15 * DAY + 2 * HOUR, wait_seconds=1800.0, handoffs=0, reopened=False, escalated=True),  # 5 days later: repeat
        ticket(T - 3 * DAY, wait_seconds=None, handoffs=1, reopened=None, escalated=True),  # 12 days later: no repeat
    )
    expected = {
        "tickets_7d": 1, "tickets_30d": 3, "tickets_open": 1, "days_since_last_ticket": 3,
        "ticket_wait_minutes_mean_30d": 20.0, "ticket_wait_minutes_max_30d": 30.0, "ticket_wait_minutes_mean_7d": None,
        "ticket_handoffs_30d": 3, "ticket_handoffs_7d": 1,
        "tickets_reopened_30d": 1, "tickets_escalated_30d": 2, "tickets_escalated_7d": 1,
        "ticket_repeat_contacts_30d": 1, "ticket_repeat_contacts_7d": 0,
        "ticket_resolve_hours_median_30d": 13.0,  # median of 24 h and 2 h
    }  # fmt: skip
    assert {k: got[k] for k in expected} == expected


def test_no_tickets_means_no_row_so_the_snapshot_fills_absent_values() -> None:
    assert tickets_row(ticket(T + DAY)) == {}


def orders_row(*rows: dict) -> dict:
    frame = table("orders", [{"order_id": f"O{k}", "customer_id": "C1", **r} for k, r in enumerate(rows)])
    out = build_orders(frame.lazy(), DATES, tz="UTC", windows=WINDOWS).collect()
    return out.row(0, named=True)


@pytest.mark.parametrize(
    ("promised_at", "delivered_at", "late_7d", "delay_days"),
    [
        (T - 3 * DAY, T - 4 * DAY, 0, None),  # early
        (T - 3 * DAY, T - 3 * DAY, 0, None),  # on the promise
        (T - 3 * DAY, T - 1 * DAY, 1, 2.0),  # two days late
        (T - 3 * DAY, None, 1, 3.0),  # not delivered: late so far by T - promise
        (T - 3 * DAY, T + DAY, 1, 3.0),  # delivered after T: has not arrived at T
        (T + 2 * DAY, None, 0, None),  # promise still ahead: not late yet
    ],
)
def test_late_deliveries_are_judged_at_t(promised_at: datetime, delivered_at: datetime | None, late_7d: int, delay_days: float | None) -> None:
    got = orders_row({"ordered_at": T - 6 * DAY, "promised_at": promised_at, "delivered_at": delivered_at})
    assert got["orders_late_7d"] == late_7d
    assert got["order_delay_days_mean_7d"] == delay_days
    assert got["orders_overdue"] == int(late_7d == 1 and (delivered_at is None or delivered_at >= T))


def test_order_shares_and_statuses() -> None:
    got = orders_row(
        {"ordered_at": T - 10 * DAY, "promised_at": T - 5 * DAY, "delivered_at": T - 6 * DAY, "status": "delivered"},
        {"ordered_at": T - 10 * DAY, "promised_at": T - 5 * DAY, "delivered_at": T - 4 * DAY, "status": "returned"},
        {"ordered_at": T - 2 * DAY, "promised_at": T + 3 * DAY, "status": "Cancelled"},
    )
    expected = {
        "orders_7d": 1, "orders_30d": 3, "orders_late_7d": 1, "orders_late_share_7d": 0.5,
        "orders_late_share_30d": 0.5, "orders_cancelled_7d": 1, "orders_returned_7d": 0, "orders_returned_30d": 1,
    }  # fmt: skip
    assert {k: got[k] for k in expected} == expected


def test_billing_incidents_by_kind() -> None:
    frame = table(
        "billing",
        [
            {"customer_id": "C1", "ts": T - 2 * DAY, "kind": "payment_failed"},
            {"customer_id": "C1", "ts": T - 40 * DAY, "kind": "payment_failed"},
            {"customer_id": "C1", "ts": T - DAY, "kind": "payment_recovered"},
            {"customer_id": "C1", "ts": T, "kind": "chargeback"},  # at T: the future
            {"customer_id": "C2", "ts": T - 5 * DAY, "kind": "refund"},
        ],
    )
    out = build_billing(frame.lazy(), DATES, tz="UTC", windows=WINDOWS, kinds=("chargeback", "payment_failed", "payment_recovered", "refund")).collect()
    c1, c2 = out.sort("customer_id").rows(named=True)
    assert (c1["billing_payment_failed_7d"], c1["billing_payment_failed_90d"], c1["billing_chargeback_90d"]) == (1, 2, 0)
    assert c1["days_since_last_payment_failure"] == 2
    assert c2["days_since_last_payment_failure"] is None  # never failed: null, not 0
    assert c2["billing_refund_7d"] == 1
