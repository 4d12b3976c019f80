"""Behavioral events: how many a customer makes each day, and what each one is.

Usage follows satisfaction: unhappy customers come less often, buy less, stay shorter and drift
away from their usual channel (channel hopping).
"""

from __future__ import annotations

import numpy as np

from simulator.tables import DAY_US
from simulator.world import EVENT_CHANNELS, UsageParams

PURCHASE = 4  # index of "purchase" in EVENT_TYPES


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def daily_event_counts(rng: np.random.Generator, up: UsageParams, usage_rate: np.ndarray, satisfaction: np.ndarray, weekday_factor: float) -> np.ndarray:
    """Poisson event counts for one day; the rate scales with exp(effect * satisfaction)."""
    rate = usage_rate * np.exp(up.satisfaction_effect * satisfaction) * weekday_factor
    return rng.poisson(rate)


def expand_events(
    rng: np.random.Generator,
    up: UsageParams,
    customers: np.ndarray,
    counts: np.ndarray,
    satisfaction: np.ndarray,
    primary_channel: np.ndarray,
    day_us: int,
) -> dict[str, np.ndarray]:
    """One row per event: counts -> np.repeat, then a few uniform/normal draws per row.

    `customers`, `counts`, `satisfaction`, `primary_channel` are aligned per customer.
    """
    keep = counts > 0
    customers, counts = customers[keep], counts[keep]
    sat = satisfaction[keep]
    shares = np.asarray(up.type_shares, dtype=np.float64)
    base_purchase = shares[PURCHASE]
    p_purchase = _sigmoid(np.log(base_purchase / (1 - base_purchase)) + up.purchase_satisfaction_effect * sat)
    p_hop = _sigmoid(up.hop_logit - up.hop_satisfaction_effect * sat)

    row_customer = np.repeat(customers, counts)
    row_sat = np.repeat(sat, counts)
    row_p_purchase = np.repeat(p_purchase, counts)
    row_p_hop = np.repeat(p_hop, counts)
    n = len(row_customer)

    ts = day_us + (rng.random(n) * DAY_US).astype(np.int64)
    # one uniform picks the type: below p_purchase -> purchase, otherwise the other types by share
    u = rng.random(n)
    other_cum = np.cumsum(shares[:PURCHASE]) / shares[:PURCHASE].sum()
    rescaled = (u - row_p_purchase) / (1.0 - row_p_purchase)
    event_type = np.where(u < row_p_purchase, PURCHASE, np.searchsorted(other_cum, rescaled, side="right")).astype(np.int8)
    event_type = np.minimum(event_type, PURCHASE)
    # one uniform decides hopping and, rescaled, which other channel
    h = rng.random(n)
    hop = h < row_p_hop
    step = 1 + (h / row_p_hop < 0.5)
    row_primary = np.repeat(primary_channel[keep], counts)
    channel = np.where(hop, (row_primary + step) % len(EVENT_CHANNELS), row_primary).astype(np.int8)

    mu = np.asarray(up.value_log_median)[event_type] + up.value_satisfaction_effect * row_sat
    sd = np.asarray(up.value_log_sd)[event_type]
    value = np.exp(mu + sd * rng.standard_normal(n))
    value = np.where(event_type == 0, 0.0, np.round(value, 2))  # a login has no duration
    return {"customer": row_customer, "ts": ts, "event_type": event_type, "channel": channel, "value": value}
