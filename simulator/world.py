"""The parameters of the synthetic world, with defaults and the reason for each.

Two regimes: `subscription` (contracts that end; the default and the demo's)
and `purchases` (a non-contractual shop: buy-till-you-die purchases, no subscriptions, churn only
visible as inactivity). `regime_params(regime)` gives each regime's default world.

Satisfaction lives on a latent scale centred near 0 (cross-customer sd about 0.8); effects on
rates are multiplicative (log-linear). Every default is one line with its rationale, so tuning the
world means reading and editing this file only.

Measured with the defaults (20,000 customers x 365 days, seed 42; `bench/simulate.py --figures`):
monthly churn 2.5%; ~100 events per customer-year; 0.39 tickets and 0.76 orders per
customer-month; 7% of deliveries late; 3.4% of customers with a failed payment per month; 21% of
invitations answered (9% in the least satisfied quintile, 38% in the most); 66% of churners never
answered a survey before leaving; ROC-AUC of the true hazard for 30-day churn 0.79-0.83.

The purchases regime (20,000 customers x 730 days, seed 42): 5.2% of living customers drop out per
month (10% of those alive at an as-of within the next 90 days); ~1.1 orders per living
customer-month, 77% repeat buyers; 8.8% of invitations answered (3% in the least satisfied
quintile, 17% in the most); 86% of dropouts never answered; true-hazard 30-day AUC 0.80-0.83.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

DEFAULT_START = date(2025, 1, 1)  # fixed so a seed always gives the same world
SIMULATOR_VERSION = "1"  # bump when a change makes the same seed give a different world

PLANS = ("basic", "standard", "premium")
REGIONS = ("north_america", "europe", "asia_pacific", "latin_america")
ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "referral", "partner")
EVENT_TYPES = ("login", "session", "page_view", "feature_use", "purchase")
EVENT_CHANNELS = ("web", "mobile", "api")
TICKET_CHANNELS = ("chat", "email", "phone")
TICKET_CATEGORIES = ("technical", "billing", "delivery", "account", "other")
ORDER_STATUSES = ("delivered", "cancelled", "returned", "pending")
BILLING_KINDS = ("payment_failed", "payment_recovered", "refund", "chargeback", "price_increase")
SURVEY_CHANNELS = ("email", "in_app")
SURVEY_TRIGGERS = ("post_ticket", "periodic")
REGIMES = ("subscription", "purchases")


@dataclass(frozen=True)
class PopulationParams:
    installed_share: float = 0.70  # most customers of a going concern are already subscribed on day one
    installed_mean_tenure_days: float = 540.0  # installed base tenure ~exponential, mean 1.5 years
    installed_max_tenure_days: int = 2_500  # the company is about 7 years old
    plan_shares: tuple[float, ...] = (0.50, 0.35, 0.15)  # basic / standard / premium: a typical pyramid
    plan_prices: tuple[float, ...] = (9.99, 19.99, 39.99)  # monthly list prices of the three plans
    region_shares: tuple[float, ...] = (0.45, 0.30, 0.15, 0.10)  # one dominant home market
    channel_shares: tuple[float, ...] = (0.35, 0.25, 0.15, 0.15, 0.10)  # organic first, then paid
    channel_baseline_shift: tuple[float, ...] = (0.0, -0.10, -0.15, 0.20, 0.0)  # referred customers start happier, social ones less
    channel_frailty_shift: tuple[float, ...] = (0.0, 0.15, 0.25, -0.25, 0.0)  # paid/social acquisitions are more fickle
    baseline_sd: float = 0.60  # persistent between-customer differences in satisfaction
    addon_spend_median: float = 6.0  # monthly value = plan price + add-ons (lognormal, median $6)


@dataclass(frozen=True)
class SatisfactionParams:
    reversion_per_day: float = 1 / 45  # pulled back to the baseline with a ~31-day half-life: slow recovery
    drift_sd_per_day: float = 0.09  # daily mood noise; stationary sd ~0.43 around the baseline
    honeymoon_boost: float = 0.25  # new (and won-back) customers start a little above their baseline
    floor: float = -4.0  # keeps repeated incidents from pushing the latent scale to absurd values
    ceiling: float = 3.0  # symmetric guard at the happy end


@dataclass(frozen=True)
class UsageParams:
    events_per_active_day: float = 0.34  # ~100 events per customer-year once churn and late signups are counted
    rate_sd: float = 0.90  # lognormal spread: a few power users, many light users
    satisfaction_effect: float = 0.55  # log-rate per unit satisfaction: unhappy customers use the product less
    weekend_factor: float = 0.75  # less activity on Saturdays and Sundays
    type_shares: tuple[float, ...] = (0.24, 0.26, 0.30, 0.15, 0.05)  # login, session, page_view, feature_use, purchase
    purchase_satisfaction_effect: float = 0.40  # happier customers buy more often (log-odds of a purchase event)
    value_log_median: tuple[float, ...] = (0.0, 5.7, 3.0, 4.1, 3.2)  # login 0 s; session ~300 s; page 20 s; feature 60 s; purchase ~$25
    value_log_sd: tuple[float, ...] = (0.0, 1.0, 0.8, 0.9, 0.7)  # spread of durations and amounts
    value_satisfaction_effect: float = 0.15  # happier customers stay longer and spend more per event
    channel_shares: tuple[float, ...] = (0.55, 0.40, 0.05)  # primary channel: web, mobile, api
    hop_logit: float = -2.6  # ~7% of a content customer's events leave their primary channel
    hop_satisfaction_effect: float = 0.9  # channel hopping rises as satisfaction falls (log-odds per unit)
    ewma_days: float = 14.0  # the usage level the churn hazard reacts to: a two-week average


@dataclass(frozen=True)
class SupportParams:
    tickets_per_day: float = 0.012  # ~0.36 spontaneous tickets per customer-month for a content customer
    satisfaction_effect: float = 0.45  # unhappy customers contact support more (log-rate per unit)
    ticket_after_late_delivery: float = 0.35  # a third of late deliveries make the customer write in
    ticket_after_payment_failure: float = 0.25  # a quarter of failed payments do
    channel_shares: tuple[float, ...] = (0.45, 0.35, 0.20)  # preferred contact channel: chat, email, phone
    hop_logit: float = -2.2  # ~10% of a content customer's tickets use another channel
    hop_satisfaction_effect: float = 0.9  # unhappy customers try every channel (log-odds per unit)
    wait_median_seconds: tuple[float, ...] = (90.0, 7_200.0, 240.0)  # chat 1.5 min, email 2 h, phone 4 min
    wait_log_sd: float = 0.9  # waits are long-tailed
    handoffs_mean: float = 0.35  # most tickets are handled by one agent
    reopen_probability: float = 0.07  # a few "resolved" tickets come back
    escalate_probability: float = 0.05  # plus more with every handoff (see escalate_per_handoff)
    escalate_per_handoff: float = 0.06  # handoffs and escalations go together
    never_resolved_probability: float = 0.03  # some tickets fall through the cracks
    resolution_median_hours: float = 7.0  # typical time from first contact to resolution
    hours_per_handoff: float = 2.0  # every handoff adds a couple of hours
    resolution_log_sd: float = 1.3  # a long tail of multi-day tickets
    resolution_max_days: int = 20  # keeps delayed effects inside the simulator's ring buffer
    # A company-wide period of worse support (a hiring freeze, a botched outsourcing, a peak season nobody
    # staffed for): the same customers, the same problems, handled worse for ~2 months, as shares of the
    # horizon (days 200-260 of 365); written to ground_truth/support_periods. None: support never worsens.
    bad_period: tuple[float, float] | None = (0.55, 0.71)
    bad_wait_multiplier: float = 3.0  # understaffed: waits triple
    bad_handoffs_multiplier: float = 2.5  # and tickets bounce between agents
    bad_never_resolved_multiplier: float = 2.0  # and more fall through the cracks
    bad_resolution_multiplier: float = 2.0  # and resolutions take twice as long
    bad_reopen_multiplier: float = 1.5  # and more "fixed" problems come back
    wait_max_days: float = 3.0  # guard on the lognormal tail (keeps delayed effects within the ring buffer)
    contact_shock: float = -0.05  # needing support at all is a small annoyance
    wait_shock_per_log: float = -0.12  # per unit of ln(wait / channel median) above the median
    handoff_shock: float = -0.12  # each handoff
    escalation_shock: float = -0.08  # being escalated is a sign something went wrong
    slow_resolution_days: float = 3.0  # an open ticket older than this hurts ...
    slow_resolution_shock: float = -0.15  # ... by this much, on that day
    never_resolved_shock: float = -0.40  # an abandoned ticket hurts a week after opening
    reopen_shock: float = -0.25  # the problem came back
    good_service_shock: float = 0.10  # fast, single-agent, same-day resolution restores a little


@dataclass(frozen=True)
class FulfilmentParams:
    orders_per_day: float = 0.025  # ~0.75 orders per customer-month (box / add-on deliveries)
    satisfaction_effect: float = 0.30  # happier customers order more (log-rate per unit)
    amount_log_median: float = 3.4  # ~$30 per order
    amount_log_sd: float = 0.6  # order values vary
    promise_days: tuple[int, int] = (2, 6)  # promised delivery 2-5 days after ordering
    cancel_probability: float = 0.03  # out of stock, payment issues
    late_probability: float = 0.07  # 7% of deliveries arrive after the promised date
    late_days_max: int = 7  # late by 1-7 days
    return_probability: float = 0.04  # returned after delivery (refund follows)
    late_shock: float = -0.20  # a late delivery hurts on the promised day ...
    late_shock_per_day: float = -0.04  # ... and more the later it is
    cancel_shock: float = -0.12  # a cancelled order
    on_time_shock: float = 0.02  # on-time deliveries restore a little


@dataclass(frozen=True)
class BillingParams:
    cycle_days: int = 30  # monthly billing on a customer-specific day
    payment_failure_median: float = 0.025  # a few % of charges fail per month ...
    payment_failure_log_sd: float = 0.8  # ... concentrated on some customers (expiring cards)
    recovery_probability: float = 0.75  # dunning recovers most failed payments
    recovery_days_max: int = 7  # within a week
    failure_shock: float = -0.20  # a failed payment is stressful
    trouble_log_hazard: float = 1.20  # unrecovered payment: involuntary churn risk until the next cycle
    chargeback_per_cycle: float = 0.0008  # rare, and more likely from unhappy customers
    chargeback_satisfaction_effect: float = 1.0  # log-odds per unit of dissatisfaction
    goodwill_refund_after_escalation: float = 0.25  # support refunds part of the fee after an escalation
    price_increase_at: float = 0.33  # share of the horizon when the price increase lands (day ~120 of 365)
    price_increase_share: float = 0.10  # +10% ...
    price_increase_plans: tuple[str, ...] = ("basic", "standard")  # ... on the two cheaper plans
    price_increase_shock: float = -0.30  # customers dislike price increases


@dataclass(frozen=True)
class SurveyParams:
    periodic_days: int = 90  # quarterly relationship survey, customer-specific phase
    periodic_in_app_share: float = 0.35  # the rest go by email
    post_ticket_probability: float = 0.70  # most resolved tickets trigger a transactional survey
    post_ticket_quiet_days: int = 14  # the company skips a post-ticket survey if it invited within 2 weeks
    response_logit: float = -1.10  # base response rate ~25% for an average, rested customer
    response_satisfaction_effect: float = 0.80  # dissatisfied customers answer less (log-odds per unit)
    response_fatigue_effect: float = 0.55  # each recent invitation lowers the log-odds by this
    fatigue_half_life_days: float = 45.0  # how long an invitation counts as "recent"
    in_app_response_shift: float = 0.30  # in-app prompts are answered a bit more often
    response_days_max: float = 7.0  # answers arrive within 0-7 days ...
    response_median_hours: float = 6.0  # ... mostly within hours
    score_mean: float = 7.7  # NPS 0-10: the average customer is a "passive"
    score_satisfaction_slope: float = 1.9  # a unit of satisfaction moves the score by ~2 points
    score_style_sd: float = 0.7  # some customers never give a 10, some always do
    score_noise_sd: float = 1.0  # the answer of the day is noisy


@dataclass(frozen=True)
class ChurnParams:
    base_daily_hazard: float = 0.0002  # calibrated for ~2.5% monthly churn with the effects below
    satisfaction_effect: float = -1.5  # log-hazard per unit satisfaction: the main driver
    usage_effect: float = -0.7  # log-hazard per unit of ln(recent usage / typical usage)
    plan_log_hazard: tuple[float, ...] = (0.30, 0.0, -0.35)  # cheap plans churn more
    new_customer_log_hazard: float = 0.80  # early-tenure churn, decaying ...
    new_customer_decay_days: float = 120.0  # ... over the first months
    frailty_sd: float = 0.50  # unobserved, persistent propensity (life situation, competitors nearby)
    life_event_sd: float = 0.45  # unobserved transient shocks (moves, budget cuts): with frailty, sets the true hazard's 30-day AUC ~0.82 ...
    life_event_days: float = 10.0  # ... lasting about ten days: the part of churn nobody can foresee
    max_daily_hazard: float = 0.5  # numeric guard
    plan_change_per_day: float = 0.0004  # ~1.2% of customers change plan each month
    plan_change_gap_share: float = 0.45  # share of plan changes with a gap between old end and new start ...
    plan_change_gap_days_max: int = 5  # ... of 1-5 days, so a churn grace rule matters
    winback_per_day: float = 0.0004  # churned customers come back rarely (~7% within 6 months) ...
    winback_min_days: int = 30  # ... and never within a month
    winback_satisfaction_effect: float = 0.5  # happier ex-customers return more often


@dataclass(frozen=True)
class PurchaseParams:
    """The `purchases` regime: Pareto/NBD-style buying (rate and dropout heterogeneous, dropout unobserved), gamma-gamma spend."""

    rate_shape: float = 0.8  # purchase rate ~ Gamma: shape < 1, many occasional buyers and a few regulars
    rate_mean_per_day: float = 1 / 30  # the average customer buys about once a month at satisfaction 0
    rate_max_per_day: float = 0.5  # numeric guard: nobody buys every day
    dropout_shape: float = 0.8  # dropout rate ~ Gamma: lifetimes differ a lot between customers
    dropout_mean_per_day: float = 1 / 700  # mean lifetime ~2 years at satisfaction 0, before the effects below
    satisfaction_rate_effect: float = 0.35  # log-rate per unit satisfaction: unhappy customers buy less often before leaving
    satisfaction_dropout_effect: float = -1.2  # log-hazard per unit satisfaction: unhappy customers quietly leave sooner
    new_customer_log_hazard: float = 1.2  # many one-and-done buyers: dropout is high in the first weeks ...
    new_customer_decay_days: float = 45.0  # ... and fades over a couple of months
    spend_shape: float = 6.0  # gamma-gamma spend: an order's value ~ Gamma(p, nu) ...
    spend_scale_shape: float = 4.0  # ... nu ~ Gamma(q, gamma) across customers (Fader-Hardie-Lee 2005's CDNow fit is p 6.3, q 3.7)
    spend_scale_rate: float = 15.0  # ... mean order p * gamma / (q - 1) = $30
    spend_satisfaction_effect: float = 0.10  # happier customers spend a little more per order
    browse_per_purchase: float = 3.0  # sessions and page views per purchase (browsing before buying)
    browse_satisfaction_effect: float = 0.45  # unhappy customers browse less
    session_share: float = 0.35  # browsing events: sessions, the rest page views
    survey_recent_days: int = 365  # the relationship survey goes to everyone who bought within a year, gone or not (nobody knows)
    lapsed_response_shift: float = -1.0  # customers who have quietly left answer less (log-odds)


@dataclass(frozen=True)
class HarshnessParams:
    """What makes a world less kind to a churn model (customer-level heterogeneity, non-linearity, thin surveys, mass incidents).

    `HarshnessParams()` holds plausible values and is the `purchases` regime's default;
    `HarshnessParams.off()` switches every knob off and is the `subscription` default, so the demo's
    world stays as it was. Each knob works in both regimes.
    """

    tolerance_sd: float = 0.5  # customers differ in how much friction hurts: negative shocks x lognormal(mean 1, this sd of the log)
    last_straw_share: float = 0.3  # some customers react non-linearly ...
    last_straw_threshold: float = 0.6  # ... once their decayed friction passes this (2-3 incidents within a couple of months) ...
    last_straw_log_hazard: float = 1.6  # ... their churn hazard jumps ~5x, and stays up until the friction fades
    friction_half_life_days: float = 45.0  # how fast the friction of past incidents fades
    response_rate: float | None = 0.10  # thin surveys: share of invitations answered (many companies see 5-10%); None keeps SurveyParams
    outages_per_year: float = 3.0  # incidents that hit many customers at once: a region (or a plan) goes down ...
    outage_days: int = 3  # ... for a few days
    outage_ticket_probability: float = 0.08  # per affected customer and outage day: some write in
    outage_shock_per_day: float = -0.12  # everyone affected is annoyed, every day it lasts
    outage_usage_factor: float = 0.4  # and can hardly use the product (or buy) meanwhile

    @classmethod
    def off(cls) -> HarshnessParams:
        return cls(tolerance_sd=0.0, last_straw_share=0.0, response_rate=None, outages_per_year=0.0)


@dataclass(frozen=True)
class WorldParams:
    """All knobs of the synthetic world; `WorldParams()` is the documented default (subscription) world."""

    population: PopulationParams = field(default_factory=PopulationParams)
    satisfaction: SatisfactionParams = field(default_factory=SatisfactionParams)
    usage: UsageParams = field(default_factory=UsageParams)
    support: SupportParams = field(default_factory=SupportParams)
    fulfilment: FulfilmentParams = field(default_factory=FulfilmentParams)
    billing: BillingParams = field(default_factory=BillingParams)
    surveys: SurveyParams = field(default_factory=SurveyParams)
    churn: ChurnParams = field(default_factory=ChurnParams)
    regime: str = "subscription"  # one of REGIMES
    purchases: PurchaseParams = field(default_factory=PurchaseParams)  # used by the purchases regime only
    harshness: HarshnessParams = field(default_factory=HarshnessParams.off)
    burn_in_days: int = 60  # satisfaction and incidents run this long before day 0 (nothing written), so week 1 looks steady
    truth_every_days: int = 7  # ground-truth snapshot cadence (weekly)
    silent_days: int = 180  # ground truth "silent": no survey answer within this many days
    dissatisfied_max_score: int = 6  # NPS detractor cut


def regime_params(regime: str, response_rate: float | None = None) -> WorldParams:
    """The default world of `regime`; `response_rate` (0-1) thins or thickens the surveys of either."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}: choose one of {', '.join(REGIMES)}")
    if response_rate is not None and not 0.0 < response_rate < 1.0:
        raise ValueError(f"response_rate must lie strictly between 0 and 1, got {response_rate}")
    if regime == "subscription":
        params = WorldParams()
    else:
        params = WorldParams(
            regime="purchases",
            population=replace(PopulationParams(), installed_share=0.0),  # every customer's whole history is written
            support=replace(SupportParams(), tickets_per_day=0.004),  # a shop's customers write in less often than subscribers (~1.5/year)
            harshness=HarshnessParams(),
        )
    if response_rate is not None:
        params = replace(params, harshness=replace(params.harshness, response_rate=response_rate))
    return params
