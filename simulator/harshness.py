"""Harshness: the mechanisms that keep the synthetic world from being kind to a churn model.

Customers differ in how much an incident hurts them (a per-customer multiplier of negative
shocks); some react non-linearly (their hazard jumps once decayed friction passes a threshold: the
last straw); surveys can be thin (a response rate); and outages hit a whole region or plan for a
few days. Every draw comes from the simulator's own harshness stream, so switching the knobs off
(`HarshnessParams.off()`) leaves the rest of the world exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.tables import DAY_US
from simulator.world import PLANS, REGIONS, HarshnessParams, SurveyParams

# Base response log-odds minus the log-odds of the share answered: measured on the default worlds
# (dissatisfaction and fatigue make the average invitation less likely answered than a rested,
# content customer's), so `response_rate` is the share of invitations answered, roughly.
RESPONSE_LOGIT_GAP = 0.12


@dataclass(frozen=True)
class Outage:
    start_day: int  # first day (index from the start) the outage is felt
    days: int
    region: int | None  # the group hit: a region ...
    plan: int | None  # ... or a plan (subscription regime only)

    def covers(self, day: int) -> bool:
        return self.start_day <= day < self.start_day + self.days


@dataclass(frozen=True)
class Harshness:
    """The per-customer traits and the outage calendar drawn for one world."""

    params: HarshnessParams
    sensitivity: np.ndarray | None  # float64 multiplier of negative shocks; None when every customer feels them alike
    straw_threshold: np.ndarray | None  # float64 friction above which the hazard jumps; inf for customers without a last straw
    outages: tuple[Outage, ...]

    @property
    def tracks_friction(self) -> bool:
        return self.straw_threshold is not None


def draw_harshness(rng: np.random.Generator, hp: HarshnessParams, customers: int, days: int, with_plans: bool) -> Harshness:
    """Draw tolerance, last-straw types and outages; nothing is drawn for a knob that is off."""
    sensitivity = None
    if hp.tolerance_sd > 0:
        sensitivity = np.exp(rng.normal(-0.5 * hp.tolerance_sd**2, hp.tolerance_sd, customers))  # mean 1
    straw = None
    if hp.last_straw_share > 0:
        has_straw = rng.random(customers) < hp.last_straw_share
        threshold = hp.last_straw_threshold * np.exp(rng.normal(0.0, 0.3, customers))  # thresholds differ a little
        straw = np.where(has_straw, threshold, np.inf)
    outages: list[Outage] = []
    count = int(round(hp.outages_per_year * days / 365.0))
    for start in np.sort(rng.integers(0, max(days - hp.outage_days, 1), count)):  # over outages, a handful
        group = int(rng.integers(0, len(REGIONS) + (len(PLANS) if with_plans else 0)))
        region, plan = (group, None) if group < len(REGIONS) else (None, group - len(REGIONS))
        outages.append(Outage(int(start), hp.outage_days, region, plan))
    return Harshness(hp, sensitivity, straw, tuple(outages))


def outage_hit(harsh: Harshness, day: int, region: np.ndarray, plan: np.ndarray) -> np.ndarray | None:
    """Customers (all of them, active or not) in a group that is down on `day`; None when nothing is down."""
    today = [o for o in harsh.outages if o.covers(day)]
    if not today:
        return None
    hit = np.zeros(len(region), bool)
    for outage in today:  # over today's outages, rarely more than one
        hit |= (region == outage.region) if outage.region is not None else (plan == outage.plan)
    return hit


def felt_shock(shock: np.ndarray, sensitivity: np.ndarray | None) -> np.ndarray:
    """The day's shock as each customer feels it: incidents (negative) scaled by their sensitivity, good news not."""
    return shock if sensitivity is None else np.where(shock < 0, shock * sensitivity, shock)


def decay_friction(friction: np.ndarray, felt: np.ndarray, half_life_days: float) -> None:
    """Friction (in place): yesterday's faded by the half-life, plus today's felt incidents."""
    friction *= 0.5 ** (1.0 / half_life_days)
    friction += np.maximum(-felt, 0.0)


def last_straw_log_hazard(friction: np.ndarray, threshold: np.ndarray, jump: float) -> np.ndarray:
    """The non-linear part of the hazard: a jump once friction passes the customer's threshold, nothing before."""
    return jump * (friction > threshold)


def response_logit(rate: float) -> float:
    """Base response log-odds for which about `rate` of all invitations are answered."""
    return float(np.log(rate / (1.0 - rate)) + RESPONSE_LOGIT_GAP)


def survey_params(sv: SurveyParams, hp: HarshnessParams) -> SurveyParams:
    """The survey knobs in force: `hp.response_rate`, when set, replaces the base response log-odds."""
    return sv if hp.response_rate is None else replace(sv, response_logit=response_logit(hp.response_rate))


def harshness_truth(
    harsh: Harshness, customers: int, start_us: int, purchase_rate: np.ndarray | None, dropout_rate: np.ndarray | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Columns of the ground-truth `traits` (per customer) and `outages` tables (empty when none)."""
    threshold = np.full(customers, np.inf) if harsh.straw_threshold is None else harsh.straw_threshold
    traits = {
        "customer": np.arange(customers),
        "sensitivity": np.ones(customers) if harsh.sensitivity is None else harsh.sensitivity,
        "threshold": np.where(np.isfinite(threshold), threshold, 0.0),
        "has_straw": np.isfinite(threshold),
        "purchase_rate": np.zeros(customers) if purchase_rate is None else purchase_rate,
        "dropout_rate": np.zeros(customers) if dropout_rate is None else dropout_rate,
        "buyer": np.full(customers, purchase_rate is not None),
    }
    if not harsh.outages:
        return traits, {}
    starts = np.array([start_us + o.start_day * DAY_US for o in harsh.outages], np.int64)
    outages = {
        "started": starts,
        "ended": starts + np.array([o.days * DAY_US for o in harsh.outages], np.int64),
        "region": np.array([o.region or 0 for o in harsh.outages], np.int8),
        "by_region": np.array([o.region is not None for o in harsh.outages], bool),
        "plan": np.array([o.plan or 0 for o in harsh.outages], np.int8),
        "by_plan": np.array([o.plan is not None for o in harsh.outages], bool),
    }
    return traits, outages
