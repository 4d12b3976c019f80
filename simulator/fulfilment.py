"""Orders and their fulfilment: on time, late, cancelled or returned.

A late delivery is felt on the day after the promised date (a shock scheduled ahead, and a
trigger for a support ticket that day); a return is refunded a few days after it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.tables import DAY_US, HOUR_US
from simulator.world import ORDER_STATUSES, FulfilmentParams

DELIVERED, CANCELLED, RETURNED, PENDING = (ORDER_STATUSES.index(s) for s in ("delivered", "cancelled", "returned", "pending"))


@dataclass(frozen=True)
class OrderBatch:
    customer: np.ndarray
    ordered_us: np.ndarray
    promised_us: np.ndarray
    delivered_us: np.ndarray
    delivered: np.ndarray  # delivered_at is known (before today)
    amount: np.ndarray
    status: np.ndarray
    refund_customer: np.ndarray  # billing rows for returns
    refund_us: np.ndarray
    refund_amount: np.ndarray
    shock_now: np.ndarray  # per order (cancellation / on-time delivery)
    late: np.ndarray  # per order
    late_days_ahead: np.ndarray  # per order: day the lateness is felt, counted from today
    late_shock: np.ndarray  # per order


def place_orders(
    rng: np.random.Generator,
    fp: FulfilmentParams,
    day_us: int,
    today_us: int,
    customers: np.ndarray,
    satisfaction: np.ndarray,
) -> OrderBatch:
    """Who orders today (Poisson-thin, at most one order a day) and how each order ends."""
    orders = rng.random(len(customers)) < fp.orders_per_day * np.exp(fp.satisfaction_effect * satisfaction)
    cust = customers[orders]
    n = len(cust)
    ordered_us = day_us + (rng.random(n) * DAY_US).astype(np.int64)
    amount = np.round(np.exp(fp.amount_log_median + fp.amount_log_sd * rng.standard_normal(n)), 2)
    return fulfil_orders(rng, fp, day_us, today_us, cust, ordered_us, amount)


def fulfil_orders(
    rng: np.random.Generator,
    fp: FulfilmentParams,
    day_us: int,
    today_us: int,
    cust: np.ndarray,
    ordered_us: np.ndarray,
    amount: np.ndarray,
) -> OrderBatch:
    """How each of today's orders ends (promise, lateness, cancellation, return); arrays aligned with `cust`."""
    n = len(cust)
    promise_days = rng.integers(fp.promise_days[0], fp.promise_days[1], n)
    promised_us = day_us + promise_days * DAY_US + 20 * HOUR_US  # "by 8 pm on the promised day"

    cancelled = rng.random(n) < fp.cancel_probability
    late = ~cancelled & (rng.random(n) < fp.late_probability)
    late_days = rng.integers(1, fp.late_days_max + 1, n)
    transit = rng.random(n)
    on_time_us = ordered_us + HOUR_US + (transit * (promised_us - ordered_us - HOUR_US)).astype(np.int64)
    late_us = day_us + (promise_days + late_days) * DAY_US + (8 * HOUR_US + transit * 12 * HOUR_US).astype(np.int64)
    delivered_us = np.where(late, late_us, on_time_us)
    returned_us = delivered_us + rng.integers(3, 15, n) * DAY_US
    returned = ~cancelled & (rng.random(n) < fp.return_probability) & (returned_us < today_us)
    arrived = ~cancelled & (delivered_us < today_us)

    status = np.full(n, PENDING, dtype=np.int8)
    status[arrived] = DELIVERED
    status[returned] = RETURNED
    status[cancelled] = CANCELLED

    refund_us = returned_us + 2 * DAY_US
    refunded = returned & (refund_us < today_us)
    shock_now = np.where(cancelled, fp.cancel_shock, np.where(late, 0.0, fp.on_time_shock))
    return OrderBatch(
        customer=cust,
        ordered_us=ordered_us,
        promised_us=promised_us,
        delivered_us=delivered_us,
        delivered=arrived,
        amount=amount,
        status=status,
        refund_customer=cust[refunded],
        refund_us=refund_us[refunded],
        refund_amount=amount[refunded],
        shock_now=shock_now,
        late=late,
        late_days_ahead=promise_days + 1,
        late_shock=fp.late_shock + fp.late_shock_per_day * late_days,
    )
