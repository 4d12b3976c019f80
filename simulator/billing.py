"""Billing incidents: failed monthly charges (and their recovery), chargebacks, price increases.

An unrecovered failed payment puts the customer "in payment trouble" until the next cycle, which
raises the churn hazard (involuntary churn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.tables import DAY_US
from simulator.world import BILLING_KINDS, BillingParams

FAILED, RECOVERED, REFUND, CHARGEBACK, PRICE_INCREASE = range(len(BILLING_KINDS))


@dataclass(frozen=True)
class ChargeBatch:
    failed_customer: np.ndarray  # customers whose charge failed today (aligned with trouble_days)
    trouble_days: np.ndarray  # days of payment trouble from today
    rows_customer: np.ndarray  # billing rows written (failures, recoveries, chargebacks)
    rows_us: np.ndarray
    rows_kind: np.ndarray
    rows_amount: np.ndarray


def charge_cycle(
    rng: np.random.Generator,
    bp: BillingParams,
    day_us: int,
    today_us: int,
    customers: np.ndarray,
    amount: np.ndarray,
    failure_probability: np.ndarray,
    satisfaction: np.ndarray,
) -> ChargeBatch:
    """Charge the customers whose billing day is today; arrays are aligned with `customers`."""
    n = len(customers)
    failed = rng.random(n) < failure_probability
    recovered = failed & (rng.random(n) < bp.recovery_probability)
    recovery_days = rng.integers(1, bp.recovery_days_max + 1, n)
    charged_us = day_us + (rng.random(n) * DAY_US).astype(np.int64)
    recovered_us = charged_us + recovery_days * DAY_US
    recovered_known = recovered & (recovered_us < today_us)
    p_chargeback = bp.chargeback_per_cycle * np.exp(-bp.chargeback_satisfaction_effect * satisfaction)
    chargeback = ~failed & (rng.random(n) < p_chargeback)
    chargeback_us = charged_us + rng.integers(5, 30, n) * DAY_US
    chargeback &= chargeback_us < today_us

    trouble_days = np.where(recovered, recovery_days, bp.cycle_days)
    return ChargeBatch(
        failed_customer=customers[failed],
        trouble_days=trouble_days[failed],
        rows_customer=np.concatenate([customers[failed], customers[recovered_known], customers[chargeback]]),
        rows_us=np.concatenate([charged_us[failed], recovered_us[recovered_known], chargeback_us[chargeback]]),
        rows_kind=np.concatenate(
            [np.full(failed.sum(), FAILED), np.full(recovered_known.sum(), RECOVERED), np.full(chargeback.sum(), CHARGEBACK)]
        ).astype(np.int8),
        rows_amount=np.concatenate([amount[failed], amount[recovered_known], amount[chargeback]]),
    )
