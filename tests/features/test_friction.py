"""Accumulated friction: decayed sums of tickets, waits, handoffs, unresolved and reopened tickets,
late-delivery days, failed payments and price increases, against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from features.catalog import reason_text
from features.contract import TABLES
from features.friction import HALF_LIVES_DAYS, decay, decayed
from features.operational import billing_features, build_billing, build_orders, build_tickets, order_features, ticket_features
from features.timeline import dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DATES = dates_frame([AS_OF], "UTC")
WINDOWS = [7, 30, 90]


def w(days_ago: float, half_life: int) -> float:
    """The hand-computed weight of an incident ``days_ago`` whole days before T."""
    return 0.5 ** (days_ago / half_life)


def table(name: str, rows: list[dict]) -> pl.DataFrame:
    specs = [c for c in TABLES[name].columns if c.required or any(c.name in r for r in rows)]
    return pl.DataFrame([{c.name: r.get(c.name) for c in specs} for r in rows], schema={c.name: c.dtype for c in specs}, orient="row")


def only_row(frame: pl.LazyFrame) -> dict:
    out = frame.collect()
    assert out.height == 1
    return out.row(0, named=True)


@pytest.mark.parametrize(
    ("days_ago", "half_life", "weight"),
    [(0, 14, 1.0), (14, 14, 0.5), (28, 14, 0.25), (45, 45, 0.5), (1, 14, 0.5 ** (1 / 14)), (240, 120, 0.25)],
)
def test_an_incident_one_half_life_ago_counts_half(days_ago: int, half_life: int, weight: float) -> None:
    got = pl.select(decay(pl.lit(days_ago), half_life)).item()
    assert got == pytest.approx(weight)


def test_decayed_sums_over_rows_with_weights_and_null_as_zero() -> None:
    rows = pl.DataFrame({"_days_ago": [1, 14, 100, 3], "weight": [2.0, 1.0, 4.0, None]})
    aggs, features = decayed(pl.col("weight"), pl.col("_days_ago"), family="operational", table="tickets", name="x_{h}d", description="x", reason="{value:quantity:x}")
    got = rows.select(aggs).row(0, named=True)
    expected = {f"x_{h}d": pytest.approx(2 * w(1, h) + w(14, h) + 4 * w(100, h)) for h in HALF_LIVES_DAYS}
    assert got == expected
    assert [f.spec.name for f in features] == ["x_14d", "x_45d", "x_120d"]
    assert {(f.spec.direction, f.spec.absent, f.spec.dtype) for f in features} == {(1, 0.0, "Float64")}


def test_ticket_friction() -> None:
    tickets = table(
        "tickets",
        [
            {"ticket_id": "A", "customer_id": "C1", "opened_at": T - 2 * DAY, "resolved_at": None, "wait_seconds": 7200.0, "handoffs": 2, "reopened": True},
            {"ticket_id": "B", "customer_id": "C1", "opened_at": T - 30 * DAY + HOUR, "resolved_at": T - 29 * DAY, "wait_seconds": 3600.0, "handoffs": 0, "reopened": False},
            {"ticket_id": "C", "customer_id": "C1", "opened_at": T - 200 * DAY, "resolved_at": T + DAY, "wait_seconds": None, "handoffs": 1, "reopened": None},  # resolved after T: unresolved at T
            {"ticket_id": "D", "customer_id": "C1", "opened_at": T, "resolved_at": None, "wait_seconds": 1e6, "handoffs": 9, "reopened": True},  # at T: the future
        ],
    )
    got = only_row(build_tickets(tickets.lazy(), DATES, tz="UTC", windows=WINDOWS))
    for h in HALF_LIVES_DAYS:
        assert got[f"tickets_friction_{h}d"] == pytest.approx(w(2, h) + w(30, h) + w(200, h))
        assert got[f"tickets_unresolved_friction_{h}d"] == pytest.approx(w(2, h) + w(200, h))
        assert got[f"ticket_wait_hours_friction_{h}d"] == pytest.approx(2 * w(2, h) + 1 * w(30, h))
        assert got[f"ticket_handoffs_friction_{h}d"] == pytest.approx(2 * w(2, h) + w(200, h))
        assert got[f"tickets_reopened_friction_{h}d"] == pytest.approx(w(2, h))
    # the ticket 200 days ago has all but faded at a 14-day half-life and still counts at 120 days
    assert w(200, 14) < 1e-4 and w(200, 120) == pytest.approx(0.315, abs=1e-3)


def test_ticket_friction_without_optional_columns() -> None:
    names = {f.spec.name for f in ticket_features(WINDOWS, set())[1]}
    assert {"tickets_friction_45d", "tickets_unresolved_friction_45d"} <= names
    assert not {n for n in names if "wait_hours_friction" in n or "handoffs_friction" in n or "reopened_friction" in n}


@pytest.mark.parametrize(
    ("promised_at", "delivered_at", "late_days", "dated_days_ago"),
    [
        (T - 10 * DAY, T - 7 * DAY, 3.0, 10),  # delivered three days late, dated by its promise
        (T - 10 * DAY, None, 10.0, 10),  # not delivered: late so far by T - promise
        (T - 10 * DAY, T + DAY, 10.0, 10),  # delivered after T: not arrived at T
        (T - 10 * DAY, T - 11 * DAY, 0.0, 10),  # early: no friction
        (T + 2 * DAY, None, 0.0, 0),  # promise still ahead: not late yet
    ],
)
def test_late_delivery_friction(promised_at: datetime, delivered_at: datetime | None, late_days: float, dated_days_ago: int) -> None:
    orders = table("orders", [{"order_id": "O1", "customer_id": "C1", "ordered_at": T - 20 * DAY, "promised_at": promised_at, "delivered_at": delivered_at}])
    got = only_row(build_orders(orders.lazy(), DATES, tz="UTC", windows=WINDOWS))
    for h in HALF_LIVES_DAYS:
        assert got[f"order_late_days_friction_{h}d"] == pytest.approx(late_days * w(dated_days_ago, h))


def test_no_promise_column_no_late_delivery_friction() -> None:
    assert not [f for f in order_features(WINDOWS, {"status"})[1] if "friction" in f.spec.name]


def test_billing_friction_by_kind() -> None:
    billing = table(
        "billing",
        [
            {"customer_id": "C1", "ts": T - 3 * DAY, "kind": "payment_failed"},
            {"customer_id": "C1", "ts": T - 50 * DAY, "kind": "payment_failed"},
            {"customer_id": "C1", "ts": T - 60 * DAY, "kind": "price_increase"},
            {"customer_id": "C1", "ts": T - 5 * DAY, "kind": "refund"},  # no friction of these kinds
            {"customer_id": "C1", "ts": T, "kind": "payment_failed"},  # at T: the future
        ],
    )
    got = only_row(build_billing(billing.lazy(), DATES, tz="UTC", windows=WINDOWS, kinds=("payment_failed", "price_increase", "refund")))
    for h in HALF_LIVES_DAYS:
        assert got[f"billing_payment_failed_friction_{h}d"] == pytest.approx(w(3, h) + w(50, h))
        assert got[f"billing_price_increase_friction_{h}d"] == pytest.approx(w(60, h))


def test_friction_reasons_read_aloud() -> None:
    specs = {
        f.spec.name: f.spec
        for f in [*ticket_features(WINDOWS, {"wait_seconds", "handoffs", "reopened"})[1], *order_features(WINDOWS, {"promised_at"})[1], *billing_features(WINDOWS, ())[1]]
    }
    expected = {
        ("tickets_friction_45d", 2.7): "support friction building up: 2.7 tickets, weighted toward the last six weeks",
        ("tickets_friction_14d", 1.0): "support friction building up: 1 ticket, weighted toward the last two weeks",
        ("ticket_wait_hours_friction_120d", 26.0): "support friction building up: 26 hours waited, weighted toward the last four months",
        ("order_late_days_friction_45d", 3.5): "delivery friction building up: 3.5 days of late deliveries, weighted toward the last six weeks",
        ("billing_price_increase_friction_120d", 0.8): "billing friction building up: 0.8 price increases, weighted toward the last four months",
    }
    assert {key: reason_text(specs[key[0]], key[1]) for key in expected} == expected
    assert all(s.direction == 1 and s.missing_reason is None for n, s in specs.items() if "friction" in n)
