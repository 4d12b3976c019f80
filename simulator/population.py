"""Who the customers are: signup times and the traits that stay fixed for life.

Customers are numbered in signup order (C0000001 signed up first). The installed base signed up
before day 0 with varied tenure and carries the traits of customers who survived that long; the
rest sign up uniformly over the simulated days with traits as acquired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.tables import DAY_US
from simulator.world import EVENT_CHANNELS, TICKET_CHANNELS, WorldParams


@dataclass(frozen=True)
class Population:
    signup_us: np.ndarray  # int64 µs since the epoch, ascending
    signup_day: np.ndarray  # int32 day index relative to start (negative for the installed base)
    plan: np.ndarray  # int8 plan at signup
    region: np.ndarray  # int8
    acquisition: np.ndarray  # int8
    monthly_value: np.ndarray  # float64
    baseline: np.ndarray  # float32 satisfaction the customer reverts to
    frailty: np.ndarray  # float32 unobserved persistent log-hazard
    usage_rate: np.ndarray  # float32 events per day at satisfaction 0
    event_channel: np.ndarray  # int8 primary channel for events
    ticket_channel: np.ndarray  # int8 preferred support channel
    rating_style: np.ndarray  # float32 persistent offset of survey answers
    survey_phase: np.ndarray  # int16 day of the quarter the periodic survey goes out
    billing_phase: np.ndarray  # int16 day of the billing cycle
    payment_failure: np.ndarray  # float32 probability a monthly charge fails

    @property
    def size(self) -> int:
        return len(self.signup_us)


def _draw_traits(rng: np.random.Generator, params: WorldParams, n: int) -> dict[str, np.ndarray]:
    """The churn-relevant traits of `n` fresh customers, as drawn at acquisition."""
    pp, up = params.population, params.usage
    plan = rng.choice(len(pp.plan_shares), size=n, p=pp.plan_shares).astype(np.int8)
    acquisition = rng.choice(len(pp.channel_shares), size=n, p=pp.channel_shares).astype(np.int8)
    baseline = rng.normal(0.0, pp.baseline_sd, n) + np.asarray(pp.channel_baseline_shift)[acquisition]
    frailty = rng.normal(0.0, params.churn.frailty_sd, n) + np.asarray(pp.channel_frailty_shift)[acquisition]
    # lognormal with mean events_per_active_day: median = mean * exp(-sd^2 / 2)
    usage_rate = up.events_per_active_day * np.exp(rng.normal(-0.5 * up.rate_sd**2, up.rate_sd, n))
    return {"plan": plan, "acquisition": acquisition, "baseline": baseline, "frailty": frailty, "usage_rate": usage_rate}


def _typical_daily_hazard(params: WorldParams, traits: dict[str, np.ndarray]) -> np.ndarray:
    """A customer's long-run average churn hazard from fixed traits (transient parts averaged out)."""
    c, up, sp = params.churn, params.usage, params.satisfaction
    mood_sd = sp.drift_sd_per_day / np.sqrt(2 * sp.reversion_per_day)
    usage = traits["usage_rate"] * np.exp(up.satisfaction_effect * traits["baseline"])
    usage_ratio = np.clip(np.log((usage + 0.05) / (up.events_per_active_day + 0.05)), -3.0, 3.0)
    log_h = (
        np.log(c.base_daily_hazard)
        + c.satisfaction_effect * traits["baseline"]
        + 0.5 * (c.satisfaction_effect * mood_sd) ** 2
        + c.usage_effect * usage_ratio
        + np.asarray(c.plan_log_hazard)[traits["plan"]]
        + traits["frailty"]
        + 0.5 * c.life_event_sd**2
    )
    return np.exp(log_h)


def _draw_survivor_traits(rng: np.random.Generator, params: WorldParams, tenure_days: np.ndarray) -> dict[str, np.ndarray]:
    """Traits of customers still subscribed after `tenure_days`: fresh draws kept with their survival probability.

    Without this the installed base would hold as many fickle customers as a new cohort, and churn
    would fall all year as they leave; survivors make the first weeks look like the last.
    """
    traits = _draw_traits(rng, params, len(tenure_days))
    pending = np.arange(len(tenure_days))
    for _ in range(60):  # rejection rounds over the still-rejected customers, not over customers
        survives = rng.random(len(pending)) < np.exp(-_typical_daily_hazard(params, {k: v[pending] for k, v in traits.items()}) * tenure_days[pending])
        pending = pending[~survives]
        if len(pending) == 0:
            break
        for name, values in _draw_traits(rng, params, len(pending)).items():
            traits[name][pending] = values
    return traits


def draw_population(rng: np.random.Generator, params: WorldParams, customers: int, days: int, start_us: int) -> Population:
    """Draw `customers` customers: signup times first (sorted), then traits (survivors' for the installed base)."""
    pp = params.population
    installed = int(round(customers * pp.installed_share))
    tenure_days = np.minimum(rng.exponential(pp.installed_mean_tenure_days, installed), pp.installed_max_tenure_days - 1)
    installed_us = start_us - ((tenure_days + rng.random(installed)) * DAY_US).astype(np.int64) - 1
    joining_us = start_us + (rng.random(customers - installed) * days * DAY_US).astype(np.int64)
    signup_us = np.sort(np.concatenate([installed_us, joining_us]))
    signup_day = np.floor_divide(signup_us - start_us, DAY_US).astype(np.int32)

    n = customers
    is_installed = signup_us < start_us
    traits = _draw_traits(rng, params, n)
    survivors = _draw_survivor_traits(rng, params, ((start_us - signup_us[is_installed]) / DAY_US).astype(np.float64))
    for name, values in survivors.items():
        traits[name][is_installed] = values

    region = rng.choice(len(pp.region_shares), size=n, p=pp.region_shares).astype(np.int8)
    addons = np.round(rng.lognormal(np.log(pp.addon_spend_median), 0.8, n), 2)
    monthly_value = np.asarray(pp.plan_prices)[traits["plan"]] + addons
    up = params.usage
    event_channel = rng.choice(len(EVENT_CHANNELS), size=n, p=up.channel_shares).astype(np.int8)
    ticket_channel = rng.choice(len(TICKET_CHANNELS), size=n, p=params.support.channel_shares).astype(np.int8)
    rating_style = rng.normal(0.0, params.surveys.score_style_sd, n)
    survey_phase = rng.integers(0, params.surveys.periodic_days, n).astype(np.int16)
    billing_phase = rng.integers(0, params.billing.cycle_days, n).astype(np.int16)
    bp = params.billing
    payment_failure = np.minimum(bp.payment_failure_median * np.exp(rng.normal(0.0, bp.payment_failure_log_sd, n)), 0.5)
    return Population(
        signup_us=signup_us,
        signup_day=signup_day,
        plan=traits["plan"],
        region=region,
        acquisition=traits["acquisition"],
        monthly_value=monthly_value,
        baseline=traits["baseline"].astype(np.float32),
        frailty=traits["frailty"].astype(np.float32),
        usage_rate=traits["usage_rate"].astype(np.float32),
        event_channel=event_channel,
        ticket_channel=ticket_channel,
        rating_style=rating_style.astype(np.float32),
        survey_phase=survey_phase,
        billing_phase=billing_phase,
        payment_failure=payment_failure.astype(np.float32),
    )
