"""Support tickets: who writes in, how the company handles it, and what that does to satisfaction.

Unhappy customers and customers hit by an incident today (late delivery, failed payment) open more
tickets, and try more channels. Long waits, handoffs, escalations, slow or missing resolutions and
reopened tickets lower satisfaction; quick single-agent resolutions restore a little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.tables import DAY_US, HOUR_US
from simulator.world import TICKET_CATEGORIES, TICKET_CHANNELS, SupportParams

SPONTANEOUS_CATEGORY_SHARES = (0.45, 0.15, 0.10, 0.20, 0.10)  # technical, billing, delivery, account, other
TECHNICAL, BILLING, DELIVERY = (TICKET_CATEGORIES.index(c) for c in ("technical", "billing", "delivery"))
LONG_WAIT_FACTOR = 3.0  # a wait above 3x the channel median counts as "long" in the ground truth


def bad_days(sp: SupportParams, days: int) -> tuple[int, int] | None:
    """The [first, end) day indexes of the company-wide period of worse support (None: there is none)."""
    if sp.bad_period is None:
        return None
    return int(sp.bad_period[0] * days), int(sp.bad_period[1] * days)


def support_period_truth(sp: SupportParams, days: int, start_us: int) -> dict[str, np.ndarray]:
    """Columns of the ground-truth `support_periods` table: when support was worse, and by how much (empty when never)."""
    period = bad_days(sp, days)
    if period is None or period[1] <= period[0]:
        return {}
    one = np.ones(1)
    return {
        "started": np.array([start_us + period[0] * DAY_US], np.int64),
        "ended": np.array([start_us + period[1] * DAY_US], np.int64),
        "wait_multiplier": one * sp.bad_wait_multiplier,
        "handoffs_multiplier": one * sp.bad_handoffs_multiplier,
        "never_resolved_multiplier": one * sp.bad_never_resolved_multiplier,
        "resolution_multiplier": one * sp.bad_resolution_multiplier,
        "reopen_multiplier": one * sp.bad_reopen_multiplier,
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class TicketBatch:
    customer: np.ndarray
    opened_us: np.ndarray
    resolved_us: np.ndarray  # final resolution time; meaningless where never_resolved
    never_resolved: np.ndarray
    channel: np.ndarray
    category: np.ndarray
    wait_seconds: np.ndarray
    handoffs: np.ndarray
    reopened: np.ndarray
    escalated: np.ndarray
    long_wait: np.ndarray
    shock_now: np.ndarray  # per ticket, applied today
    delayed_customer: np.ndarray  # shocks that land on a later day
    delayed_days: np.ndarray
    delayed_shock: np.ndarray


def open_tickets(
    rng: np.random.Generator,
    sp: SupportParams,
    day_us: int,
    customers: np.ndarray,
    satisfaction: np.ndarray,
    late_today: np.ndarray,
    payment_failed_today: np.ndarray,
    preferred_channel: np.ndarray,
    bad_period: bool,
    outage_today: np.ndarray | None = None,
    outage_ticket_probability: float = 0.0,
) -> TicketBatch:
    """At most one ticket per customer and day; arrays are aligned with `customers`.

    `outage_today` marks customers whose region or plan is down today (None: nobody's).
    """
    p_spont = sp.tickets_per_day * np.exp(-sp.satisfaction_effect * satisfaction)
    p_late = np.where(late_today, sp.ticket_after_late_delivery, 0.0)
    p_pay = np.where(payment_failed_today, sp.ticket_after_payment_failure, 0.0)
    p_out = 0.0 if outage_today is None else np.where(outage_today, outage_ticket_probability, 0.0)
    p_any = 1.0 - (1.0 - p_spont) * (1.0 - p_late) * (1.0 - p_pay) * (1.0 - p_out)
    opens = rng.random(len(customers)) < p_any
    cust, sat = customers[opens], satisfaction[opens]
    p_spont, p_late, p_pay, p_any = p_spont[opens], p_late[opens], p_pay[opens], p_any[opens]
    p_out = p_out if outage_today is None else p_out[opens]
    pref = preferred_channel[opens]
    n = len(cust)

    # what it is about: the incident that most likely caused it, else a spontaneous category
    w = rng.random(n) * (p_spont + p_late + p_pay + p_out)
    spontaneous = rng.choice(len(TICKET_CATEGORIES), size=n, p=SPONTANEOUS_CATEGORY_SHARES)
    other = np.where(w < p_late + p_pay + p_out, TECHNICAL, spontaneous)  # an outage is a technical problem
    category = np.where(w < p_late, DELIVERY, np.where(w < p_late + p_pay, BILLING, other)).astype(np.int8)

    h = rng.random(n)
    p_hop = _sigmoid(sp.hop_logit - sp.hop_satisfaction_effect * sat)
    step = 1 + (h / p_hop < 0.5)
    channel = np.where(h < p_hop, (pref + step) % len(TICKET_CHANNELS), pref).astype(np.int8)

    median_wait = np.asarray(sp.wait_median_seconds)[channel]
    wait_mult = sp.bad_wait_multiplier if bad_period else 1.0
    wait_seconds = median_wait * wait_mult * np.exp(sp.wait_log_sd * rng.standard_normal(n))
    wait_seconds = np.round(np.minimum(wait_seconds, sp.wait_max_days * 86_400.0), 1)
    handoffs = rng.poisson(sp.handoffs_mean * (sp.bad_handoffs_multiplier if bad_period else 1.0), n)
    escalated = rng.random(n) < sp.escalate_probability + sp.escalate_per_handoff * handoffs
    p_never = sp.never_resolved_probability * (sp.bad_never_resolved_multiplier if bad_period else 1.0)
    never_resolved = rng.random(n) < p_never
    reopened = ~never_resolved & (rng.random(n) < sp.reopen_probability * (sp.bad_reopen_multiplier if bad_period else 1.0))

    opened_us = day_us + (rng.random(n) * DAY_US).astype(np.int64)
    resolution_hours = sp.resolution_median_hours * np.exp(sp.resolution_log_sd * rng.standard_normal(n)) + sp.hours_per_handoff * handoffs
    resolution_hours *= sp.bad_resolution_multiplier if bad_period else 1.0
    resolution_hours = np.minimum(resolution_hours, sp.resolution_max_days * 24.0)
    resolved_us = opened_us + (wait_seconds * 1e6).astype(np.int64) + (resolution_hours * HOUR_US).astype(np.int64)
    resolution_days = (resolved_us - day_us) // DAY_US  # days after today that it is resolved

    long_wait = wait_seconds > LONG_WAIT_FACTOR * median_wait
    good = (~never_resolved & ~reopened & (handoffs == 0) & (wait_seconds <= median_wait) & (resolution_hours < 24.0))
    shock_now = (
        sp.contact_shock
        + sp.wait_shock_per_log * np.maximum(0.0, np.log(wait_seconds / median_wait))
        + sp.handoff_shock * handoffs
        + sp.escalation_shock * escalated
        + sp.good_service_shock * good
    )
    slow = ~never_resolved & (resolution_hours > 24.0 * sp.slow_resolution_days)
    delayed = [
        (slow, np.full(n, int(sp.slow_resolution_days)), sp.slow_resolution_shock),
        (never_resolved, np.full(n, 7), sp.never_resolved_shock),
        (reopened, resolution_days + 1, sp.reopen_shock),
    ]
    return TicketBatch(
        customer=cust,
        opened_us=opened_us,
        resolved_us=resolved_us,
        never_resolved=never_resolved,
        channel=channel,
        category=category,
        wait_seconds=wait_seconds,
        handoffs=handoffs,
        reopened=reopened,
        escalated=escalated,
        long_wait=long_wait,
        shock_now=shock_now,
        delayed_customer=np.concatenate([cust[m] for m, _, _ in delayed]),
        delayed_days=np.concatenate([d[m] for m, d, _ in delayed]).astype(np.int64),
        delayed_shock=np.concatenate([np.full(int(m.sum()), s) for m, _, s in delayed]),
    )
