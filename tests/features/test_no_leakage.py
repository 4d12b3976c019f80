"""No leakage, as a property: what happens at or after T never changes the features as of T, and
nothing after the label window (plus grace) changes a label."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.contract import TABLES
from features.labels import label_churn
from features.snapshots import build_scoring_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
HORIZON_DAYS, GRACE_DAYS = 30, 5
CUSTOMERS = ["C1", "C2", "C3"]
TYPES = ["login", "purchase", "view"]

customer = st.sampled_from(CUSTOMERS)
hours_before = st.integers(1, 400 * 24)  # strictly before T, across the 90/180-day lookbacks and before signup
hours_from_t = st.one_of(st.just(0), st.integers(0, 120 * 24))  # at or after T (0 = exactly T, drawn often)


def before(hours: int) -> datetime:
    return T - timedelta(hours=hours)


def at_or_after(hours: int, start: datetime = T) -> datetime:
    return start + timedelta(hours=hours)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    specs = TABLES[table].columns  # every contract column, whatever the rows hold: the same columns before and after
    return pl.DataFrame([{c.name: r.get(c.name) for c in specs} for r in rows], schema={c.name: c.dtype for c in specs}, orient="row")


def dated_with_later_fact(draw) -> tuple[datetime, datetime | None]:
    """A row's time before T, and its later fact: known before T (after the row), or not yet (None)."""
    start = draw(hours_before)
    later = draw(st.one_of(st.none(), st.integers(1, start)))
    return before(start), None if later is None else before(later)


@st.composite
def histories(draw) -> dict[str, list[dict]]:
    """Rows dated before T whose later facts are either known before T or not yet known (null)."""
    rows: dict[str, list[dict]] = {
        "customers": [{"customer_id": c, "signup_at": before(300 * 24), "plan": draw(st.sampled_from(["a", "b"]))} for c in CUSTOMERS],
        "subscriptions": [],
        "events": [],
        "tickets": [],
        "orders": [],
        "billing": [],
        "surveys": [],
    }
    for c in CUSTOMERS:
        start = draw(st.integers(48, 250 * 24))
        ended = None if c == "C1" else draw(st.one_of(st.none(), st.integers(1, start - 1)))  # C1 is eligible at T
        rows["subscriptions"].append({"customer_id": c, "started_at": before(start), "ended_at": None if ended is None else before(ended)})
    for _ in range(draw(st.integers(1, 25))):
        rows["events"].append(
            {
                "customer_id": draw(customer),
                "ts": before(draw(hours_before)),
                "event_type": draw(st.sampled_from(TYPES)),
                "channel": draw(st.sampled_from(["app", "web", None])),
                "value": draw(st.one_of(st.none(), st.floats(0, 100))),
            }
        )
    for k in range(draw(st.integers(0, 8))):
        opened, resolved = dated_with_later_fact(draw)
        rows["tickets"].append(
            {
                "ticket_id": f"T{k}",
                "customer_id": draw(customer),
                "opened_at": opened,
                "resolved_at": resolved,
                "wait_seconds": draw(st.floats(0, 10_000)),
                "handoffs": draw(st.integers(0, 3)),
                "reopened": draw(st.booleans()),
                "escalated": draw(st.booleans()),
            }
        )
    for k in range(draw(st.integers(0, 8))):
        ordered, delivered = dated_with_later_fact(draw)
        rows["orders"].append(
            {
                "order_id": f"O{k}",
                "customer_id": draw(customer),
                "ordered_at": ordered,
                "promised_at": at_or_after(draw(st.integers(0, 240)), ordered),  # may lie after T
                "delivered_at": delivered,
                "status": draw(st.sampled_from(["delivered", "cancelled", "returned", None])),
            }
        )
    for _ in range(draw(st.integers(0, 6))):
        rows["billing"].append({"customer_id": draw(customer), "ts": before(draw(hours_before)), "kind": draw(st.sampled_from(["payment_failed", "price_increase", "refund"]))})
    for k in range(draw(st.integers(0, 8))):
        sent, responded = dated_with_later_fact(draw)
        rows["surveys"].append(
            {
                "survey_id": f"S{k}",
                "customer_id": draw(customer),
                "sent_at": sent,
                "responded_at": responded,
                "score": None if responded is None else float(draw(st.integers(0, 10))),
            }
        )
    return rows


@st.composite
def futures(draw, history: dict[str, list[dict]], after: datetime) -> dict[str, list[dict]]:
    """``history`` plus arbitrary rows dated at or after ``after``, and later facts at or after it
    filled in on older rows that did not have them."""
    when = lambda: at_or_after(draw(hours_from_t), after)  # noqa: E731
    rows = {name: [dict(r) for r in table] for name, table in history.items()}
    for r in rows["tickets"]:
        if r["resolved_at"] is None and draw(st.booleans()):
            r["resolved_at"] = when()
    for r in rows["orders"]:
        if r["delivered_at"] is None and draw(st.booleans()):
            r["delivered_at"] = max(when(), r["ordered_at"])
    for r in rows["surveys"]:
        if r["responded_at"] is None and draw(st.booleans()):
            r["responded_at"], r["score"] = when(), 0.0
    for r in rows["subscriptions"]:
        if r["ended_at"] is None and draw(st.booleans()):
            r["ended_at"] = when()
    for k in range(draw(st.integers(0, 4))):
        ts = when()
        rows["events"].append({"customer_id": draw(customer), "ts": ts, "event_type": draw(st.sampled_from([*TYPES, "new_type"])), "channel": "new_channel", "value": 1e6})
        rows["tickets"].append({"ticket_id": f"FT{k}", "customer_id": draw(customer), "opened_at": ts, "resolved_at": None, "wait_seconds": 1e5, "handoffs": 9, "reopened": True, "escalated": True})
        rows["orders"].append({"order_id": f"FO{k}", "customer_id": draw(customer), "ordered_at": ts, "promised_at": ts, "delivered_at": None, "status": "cancelled"})
        rows["billing"].append({"customer_id": draw(customer), "ts": ts, "kind": draw(st.sampled_from(["payment_failed", "new_kind"]))})
        rows["surveys"].append({"survey_id": f"FS{k}", "customer_id": draw(customer), "sent_at": ts, "responded_at": ts, "score": 0.0})
        rows["subscriptions"].append({"customer_id": draw(customer), "started_at": ts, "ended_at": None})
        rows["customers"].append({"customer_id": f"F{k}", "signup_at": ts, "plan": "new_plan"})
    return rows


def tables(rows: dict[str, list[dict]]) -> dict[str, pl.DataFrame]:
    built = {name: frame(name, r) for name, r in rows.items() if name != "customers"}
    customers = pl.DataFrame(rows["customers"], schema={"customer_id": pl.String, "signup_at": pl.Datetime("us", "UTC"), "plan": pl.String})
    return {"customers": customers, **built}


@st.composite
def worlds_with_futures(draw, after: datetime) -> tuple[dict, dict]:
    history = draw(histories())
    return tables(history), tables(draw(futures(history, after)))


# whole-history and decayed features (features/history.py, features/friction.py) must be in the
# frames compared, or the property would say nothing about them
WHOLE_HISTORY = [
    "days_since_last_event", "events_total", "active_days_total",
    "value_total", "active_days_per_30d", "value_per_30d", "active_gap_days_mean", "overdue_ratio",
    *[f"{name}_{h}d" for h in (14, 45, 120) for name in (
        "tickets_friction", "tickets_unresolved_friction", "ticket_wait_hours_friction", "ticket_handoffs_friction", "tickets_reopened_friction",
        "order_late_days_friction", "billing_payment_failed_friction", "billing_price_increase_friction",
    )],
]  # fmt: skip

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def config():
    from configs import parse_config

    raw = {
        "name": "leak",
        "workspace": "w",
        "source": {"kind": "files", "path": "d"},
        "sink": {"kind": "duckdb", "path": "s.duckdb"},
        "churn": {"horizon_days": HORIZON_DAYS, "grace_days": GRACE_DAYS},
        "training": {"step_days": HORIZON_DAYS + GRACE_DAYS},
    }
    return parse_config(raw)


@SETTINGS
@given(worlds=worlds_with_futures(T))
def test_features_ignore_everything_at_or_after_t(config, worlds) -> None:
    past, with_future = worlds
    expected = build_scoring_frame(past, config, AS_OF, with_usual=True)
    assert expected.height > 0
    per_type = {f"days_since_last_{t}" for t in past["events"]["event_type"].unique()}  # the types seen before T
    assert set(WHOLE_HISTORY) | per_type <= set(expected.columns)
    assert_frame_equal(build_scoring_frame(with_future, config, AS_OF, with_usual=True), expected)


@SETTINGS
@given(worlds=worlds_with_futures(T + timedelta(days=HORIZON_DAYS + GRACE_DAYS)))
def test_labels_ignore_everything_after_the_label_window_and_grace(config, worlds) -> None:
    past, with_future = worlds
    observed_until = AS_OF + timedelta(days=HORIZON_DAYS + GRACE_DAYS + 200)
    expected = label_churn(past, config, AS_OF, observed_until)
    assert_frame_equal(label_churn(with_future, config, AS_OF, observed_until), expected)
