"""Operational features: what the company did to the customer (tickets, orders, billing), as of each date.

One group-by per table over all dates at once (:func:`features.timeline.rows_before`). Facts that
arrive after T on rows from before T are unknown at T (:func:`features.timeline.known_at`): a
ticket resolved after T is open at T, an order delivered after T has not arrived. Columns the
contract does not date (``wait_seconds``, ``handoffs``, ``reopened``, ``escalated``, an order's
``status``) are taken as recorded: the contract cannot say when they changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from features.catalog import Feature, FeatureSpec, checked_slugs, counted, merged, select_exprs
from features.friction import decayed
from features.timeline import days_before, known_at, rows_before, with_later_facts
from features.wording import words

FAMILY = "operational"
PRICE_INCREASE = "price_increase"
REPEAT_CONTACT_DAYS = 7
CANCELLED = ("cancelled", "canceled")
RETURNED = ("returned",)
PAYMENT_FAILED = "payment_failed"

_DAYS_AGO = pl.col("_days_ago")
_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR


def _spec(
    table: str, name: str, description: str, reason: str, direction: int, dtype: str = "Int32", absent: float | None = 0, missing: str | None = None
) -> FeatureSpec:
    return FeatureSpec(name, FAMILY, table, description, reason, direction, dtype, absent, missing_reason=missing)


def _hours(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_microseconds() / _US_PER_HOUR


def _friction(table: str, area: str, incidents: Sequence[tuple[pl.Expr, str, str, str]], days_ago: pl.Expr = _DAYS_AGO) -> tuple[list[pl.Expr], list[Feature]]:
    """Decayed sums (features.friction) of a table's incidents: (weight, name with {h},
    what is summed, how a reason says the value)."""
    return merged(
        decayed(weight, days_ago, family=FAMILY, table=table, name=name, description=description, reason=f"{area} friction building up: {said}")
        for weight, name, description, said in incidents
    )


def _family_frame(rows: pl.LazyFrame, aggregations: list[pl.Expr], features: list[Feature], with_usual: bool) -> pl.LazyFrame:
    return rows.group_by("as_of", "customer_id").agg(aggregations).select("as_of", "customer_id", *select_exprs(features, with_usual))


# --- tickets ----------------------------------------------------------------------------------


def ticket_features(windows: Sequence[int], columns: set[str], with_usual: bool = False) -> tuple[list[pl.Expr], list[Feature]]:
    """Aggregations over a customer's tickets opened before T, and the features they make."""
    t = "tickets"

    def count(condition: pl.Expr, name: str, description: str, reason: str) -> tuple[list[pl.Expr], list[Feature]]:
        return counted(condition, _DAYS_AGO, windows, with_usual, family=FAMILY, table=t, name=name, description=description, reason=reason, direction=1)

    aggs, features = merged(
        [
            count(pl.lit(True), "tickets_{w}d", "tickets opened in the {w} days before as_of", "{value:count:support ticket} in the last {w} days"),
            count(
                pl.col("_repeat"),
                "ticket_repeat_contacts_{w}d",
                f"tickets in the {{w}} days before as_of opened within {REPEAT_CONTACT_DAYS} days of the customer's previous ticket",
                "{value:count:repeat support contact} within a week in the last {w} days",
            ),
            *[
                count(pl.col(flag).fill_null(False), f"tickets_{flag}_{{w}}d", f"{flag} tickets among those opened in the {{w}} days before as_of", f"{{value:count:{flag} support ticket}} in the last {{w}} days")
                for flag in ("reopened", "escalated")
                if flag in columns
            ],
        ]
    )
    in_w = {w: _DAYS_AGO <= w for w in windows}
    resolved = pl.col("_resolved_at")
    aggs += [
        resolved.is_null().sum().alias("tickets_open"),
        _DAYS_AGO.min().alias("days_since_last_ticket"),
    ]
    features += [
        Feature(_spec(t, "tickets_open", "tickets opened before as_of and not resolved before it", "{value:count:support ticket} still open", 1)),
        Feature(_spec(t, "days_since_last_ticket", "days from the last ticket opened to as_of (null: never had one)", "{value:days} since the last support ticket", -1, absent=None, missing="has never contacted support")),
    ]
    resolve_hours = _hours(resolved, pl.col("opened_at"))
    for w in windows:
        features.append(
            Feature(_spec(t, f"ticket_resolve_hours_median_{w}d", f"median hours to resolve the tickets opened in the {w} days before as_of and resolved before it (null: none)", f"a typical support ticket took {{value:hours}} to resolve in the last {w} days", 1, "Float64", None))
        )
        aggs.append(pl.when(in_w[w]).then(resolve_hours).median().alias(f"ticket_resolve_hours_median_{w}d"))
        if "wait_seconds" in columns:
            wait_minutes = pl.col("wait_seconds") / 60
            aggs += [
                pl.when(in_w[w]).then(wait_minutes).mean().alias(f"ticket_wait_minutes_mean_{w}d"),
                pl.when(in_w[w]).then(wait_minutes).max().alias(f"ticket_wait_minutes_max_{w}d"),
            ]
            features += [
                Feature(_spec(t, f"ticket_wait_minutes_mean_{w}d", f"mean wait in minutes on tickets opened in the {w} days before as_of (null: no waits recorded)", f"support waits averaged {{value:minutes}} in the last {w} days", 1, "Float64", None)),
                Feature(_spec(t, f"ticket_wait_minutes_max_{w}d", f"longest wait in minutes on tickets opened in the {w} days before as_of (null: no waits recorded)", f"a support wait of {{value:minutes}} in the last {w} days", 1, "Float64", None)),
            ]
        if "handoffs" in columns:
            aggs.append(pl.when(in_w[w]).then(pl.col("handoffs")).sum().alias(f"ticket_handoffs_{w}d"))
            features.append(Feature(_spec(t, f"ticket_handoffs_{w}d", f"handoffs between agents on tickets opened in the {w} days before as_of", f"{{value:count:handoff}} between support agents in the last {w} days", 1)))
    incidents = [
        (pl.lit(1.0), "tickets_friction_{h}d", "tickets opened before as_of", "{value:quantity:ticket}"),
        (resolved.is_null(), "tickets_unresolved_friction_{h}d", "tickets opened before as_of and not resolved before it", "{value:quantity:unresolved ticket}"),
    ]
    if "wait_seconds" in columns:
        incidents.append((pl.col("wait_seconds") / 3600, "ticket_wait_hours_friction_{h}d", "hours waited on tickets opened before as_of", "{value:hours} waited"))
    if "handoffs" in columns:
        incidents.append((pl.col("handoffs"), "ticket_handoffs_friction_{h}d", "handoffs between agents on tickets opened before as_of", "{value:quantity:handoff} between agents"))
    if "reopened" in columns:
        incidents.append((pl.col("reopened"), "tickets_reopened_friction_{h}d", "reopened tickets among those opened before as_of", "{value:quantity:reopened ticket}"))
    return merged([(aggs, features), _friction(t, "support", incidents)])


def build_tickets(tickets: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, windows: Sequence[int], with_usual: bool = False) -> pl.LazyFrame:
    columns = set(tickets.collect_schema().names())
    aggs, features = ticket_features(windows, columns, with_usual)
    previous = pl.col("opened_at").shift(1).over("customer_id", order_by="opened_at")
    with_repeat = tickets.with_columns(
        # the previous ticket is older than this one, so known whenever this one is
        ((pl.col("opened_at") - previous).dt.total_microseconds() <= REPEAT_CONTACT_DAYS * _US_PER_DAY).fill_null(False).alias("_repeat")
    )
    rows = rows_before(with_later_facts(with_repeat, "tickets"), dates, "opened_at", tz).with_columns(known_at("resolved_at", pl.col("_t")).alias("_resolved_at"))
    return _family_frame(rows, aggs, features, with_usual)


# --- orders -----------------------------------------------------------------------------------


def order_features(windows: Sequence[int], columns: set[str], with_usual: bool = False) -> tuple[list[pl.Expr], list[Feature]]:
    """An order is late at T when its promise passed before T and it was not delivered by the
    promise; lateness is dated by the promise (when the customer felt it), the order by ordered_at."""
    t = "orders"

    def count(condition: pl.Expr, name: str, description: str, reason: str, direction: int, days_ago: pl.Expr = _DAYS_AGO) -> tuple[list[pl.Expr], list[Feature]]:
        return counted(condition, days_ago, windows, with_usual, family=FAMILY, table=t, name=name, description=description, reason=reason, direction=direction)

    promised_ago, late = pl.col("_promised_days_ago"), pl.col("_late")
    status = pl.col("status").str.to_lowercase()
    counts = [count(pl.lit(True), "orders_{w}d", "orders placed in the {w} days before as_of", "{value:count:order} in the last {w} days", -1)]
    if "promised_at" in columns:
        description = "orders whose promised date fell in the {w} days before as_of and that were not delivered by it"
        counts.append(count(late, "orders_late_{w}d", description, "{value:count:late delivery|late deliveries} in the last {w} days", 1, promised_ago))
    if "status" in columns:
        counts += [
            count(status.is_in(values).fill_null(False), f"orders_{kind}_{{w}}d", f"{kind} orders among those placed in the {{w}} days before as_of", f"{{value:count:{kind} order}} in the last {{w}} days", 1)
            for kind, values in (("cancelled", CANCELLED), ("returned", RETURNED))
        ]
    aggs, features = merged(counts)
    if "promised_at" in columns:
        due = promised_ago >= 1
        aggs.append((late & pl.col("_delivered_at").is_null()).sum().alias("orders_overdue"))
        for w in windows:
            in_w = due & (promised_ago <= w)
            aggs += [
                pl.when(in_w.sum() > 0).then((late & in_w).sum() / in_w.sum()).alias(f"orders_late_share_{w}d"),
                pl.when(late & in_w).then(pl.col("_delay_days")).mean().alias(f"order_delay_days_mean_{w}d"),
            ]
            features += [
                Feature(_spec(t, f"orders_late_share_{w}d", f"share of the orders due in the {w} days before as_of that were late (null: none due)", f"{{value:percent}} of deliveries late in the last {w} days", 1, "Float64", None)),
                Feature(_spec(t, f"order_delay_days_mean_{w}d", "mean days late (delivery, or as_of when still undelivered, minus promise) of those late orders (null: none late)", f"late deliveries arrived {{value:days}} late on average in the last {w} days", 1, "Float64", None)),
            ]
        features.append(Feature(_spec(t, "orders_overdue", "orders past their promised date and not delivered at as_of", "{value:count:order} overdue and not delivered", 1)))
        late_days = (pl.when(late).then(pl.col("_delay_days").clip(0.0)), "order_late_days_friction_{h}d", "days late of the orders late at as_of, dated by their promise", "{value:days} of late deliveries")
        return merged([(aggs, features), _friction(t, "delivery", [late_days], promised_ago)])
    return aggs, features


def build_orders(orders: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, windows: Sequence[int], with_usual: bool = False) -> pl.LazyFrame:
    columns = set(orders.collect_schema().names())
    aggs, features = order_features(windows, columns, with_usual)
    rows = rows_before(with_later_facts(orders, "orders"), dates, "ordered_at", tz)
    if "promised_at" in columns:
        promised = pl.col("promised_at")
        rows = rows.with_columns(known_at("delivered_at", pl.col("_t")).alias("_delivered_at")).with_columns(
            days_before("promised_at", tz, pl.col("_day")).alias("_promised_days_ago"),
            ((promised < pl.col("_t")) & (pl.col("_delivered_at").is_null() | (pl.col("_delivered_at") > promised))).fill_null(False).alias("_late"),
            (_hours(pl.coalesce(pl.col("_delivered_at"), pl.col("_t")), promised) / 24).alias("_delay_days"),
        )
    return _family_frame(rows, aggs, features, with_usual)


# --- billing ----------------------------------------------------------------------------------


def billing_features(windows: Sequence[int], kinds: Sequence[str], with_usual: bool = False) -> tuple[list[pl.Expr], list[Feature]]:
    """Billing incidents per kind (kinds learned from the training data) and the last payment failure."""
    t = "billing"
    kind = pl.col("kind")
    aggs, features = merged(
        counted(
            kind == value,
            _DAYS_AGO,
            windows,
            with_usual,
            family=FAMILY,
            table=t,
            name=f"billing_{s}_{{w}}d",
            description=f"'{value}' billing incidents in the {{w}} days before as_of",
            reason=f"{{value:count:{words(value)} billing incident}} in the last {{w}} days",
            direction=0 if "recover" in s or "success" in s else 1,  # a recovery is good news
        )
        for value, s in zip(kinds, checked_slugs(kinds, "billing.kind"), strict=True)
    )
    aggs.append(pl.when(kind == PAYMENT_FAILED).then(_DAYS_AGO).min().alias("days_since_last_payment_failure"))
    features.append(Feature(_spec(t, "days_since_last_payment_failure", "days from the last failed payment to as_of (null: never)", "{value:days} since a payment failed", -1, absent=None)))
    incidents = [
        (kind == PAYMENT_FAILED, "billing_payment_failed_friction_{h}d", f"'{PAYMENT_FAILED}' billing incidents before as_of", "{value:quantity:failed payment}"),
        (kind == PRICE_INCREASE, "billing_price_increase_friction_{h}d", f"'{PRICE_INCREASE}' billing incidents before as_of", "{value:quantity:price increase}"),
    ]
    return merged([(aggs, features), _friction(t, "billing", incidents)])


def build_billing(billing: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, windows: Sequence[int], kinds: Sequence[str], with_usual: bool = False) -> pl.LazyFrame:
    aggs, features = billing_features(windows, kinds, with_usual)
    return _family_frame(rows_before(billing, dates, "ts", tz), aggs, features, with_usual)


def learn_billing_kinds(billing: pl.LazyFrame, until: datetime) -> tuple[str, ...]:
    seen = billing.filter(pl.col("ts") < until).select(pl.col("kind").unique()).collect()
    return tuple(sorted(seen["kind"].to_list()))
