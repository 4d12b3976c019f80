"""The daily state machine of the synthetic world, vectorized over customers.

Each simulated day, in order: the 00:00 state is observed (churn hazard; weekly ground truth);
today's signups start; shocks scheduled for today land; customers churn, come back or change
plan; the active ones use the product, are billed, order, write to support and are surveyed;
then satisfaction reverts toward its baseline, takes the day's noise and the day's shocks.

Harshness (harshness.py) adds the day's outages to the shocks, scales how each customer feels
incidents, and adds a last-straw jump to the hazard; with its knobs off it draws and changes
nothing. The purchases regime (purchases.py) reuses this loop with buying in place of contracts.

The loop runs over days and mechanisms, never over customers or rows. Before day 0 a burn-in
runs the same dynamics without writing anything, surveying or letting anyone churn, so the
installed base (drawn as survivors of its tenure, see population.py) starts day 0 with the
satisfaction its recent incidents give it and the first weeks look like the last. The written
history (events, tickets, surveys, ...) starts at `start`; only `signup_at` and `started_at` of
the installed base lie before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

import numpy as np
import pyarrow as pa

from simulator import billing, fulfilment, support, surveys, usage
from simulator.harshness import (
    decay_friction,
    draw_harshness,
    felt_shock,
    harshness_truth,
    last_straw_log_hazard,
    outage_hit,
    survey_params,
)
from simulator.population import Population, draw_population
from simulator.tables import DAY_US, HOUR_US, LAYOUTS, SCHEMAS, TRUTH_SCHEMAS, Rows, assemble, id_array, id_width
from simulator.world import PLANS, REGIMES, SURVEY_CHANNELS, SURVEY_TRIGGERS, WorldParams

RING_DAYS = 40  # delayed effects (late deliveries, reopened tickets, survey answers) land within this many days
EVENTS_PER_CHUNK = 2_000_000  # events are streamed to the sink in chunks of about this many rows
NEVER = -(10**6)  # "day index" of something that never happened
POST_TICKET, PERIODIC = SURVEY_TRIGGERS.index("post_ticket"), SURVEY_TRIGGERS.index("periodic")
EMAIL, IN_APP = SURVEY_CHANNELS.index("email"), SURVEY_CHANNELS.index("in_app")


class TableSink(Protocol):
    """Receives the simulator's tables; a name may be written several times (streamed chunks)."""

    def write(self, name: str, table: pa.Table) -> None: ...


def epoch_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


@dataclass
class _State:
    """Everything about customers that changes from day to day (arrays of length n)."""

    sat: np.ndarray
    life: np.ndarray  # transient log-hazard (life events)
    usage_ewma: np.ndarray
    active: np.ndarray  # a customer now (not churned); true during a plan-change gap
    tenure_start_day: np.ndarray
    sub_start_us: np.ndarray
    sub_plan: np.ndarray
    sub_amount: np.ndarray
    gap_start_us: np.ndarray  # plan-change gap [gap_start, gap_end): not subscribed
    gap_end_us: np.ndarray
    trouble_until: np.ndarray  # day until which an unrecovered payment raises the hazard
    invite_load: np.ndarray  # exponentially decayed count of recent survey invitations
    last_invite_day: np.ndarray
    last_answer_day: np.ndarray
    churn_count: np.ndarray
    first_churn_us: np.ndarray
    last_churn_us: np.ndarray
    last_churn_day: np.ndarray
    won_back: np.ndarray
    tickets: np.ndarray
    handoffs: np.ndarray
    long_waits: np.ndarray
    late_deliveries: np.ndarray
    payment_failures: np.ndarray
    answered: np.ndarray
    friction: np.ndarray  # decayed sum of felt incidents (the last-straw knob; stays 0 when it is off)
    ring_shock: np.ndarray  # (RING_DAYS, n) satisfaction shocks scheduled ahead
    ring_late: np.ndarray  # (RING_DAYS, n) a delivery turns out late that day
    ring_answer: np.ndarray  # (RING_DAYS, n) a survey answer arrives that day

    @classmethod
    def initial(cls, pop: Population, params: WorldParams, rng: np.random.Generator) -> _State:
        n = pop.size
        sp = params.satisfaction
        stationary_sd = sp.drift_sd_per_day / np.sqrt(2 * sp.reversion_per_day)
        sat = pop.baseline.astype(np.float64) + rng.normal(0.0, stationary_sd, n)
        c = params.churn
        life = rng.normal(0.0, c.life_event_sd, n)
        prices = np.asarray(params.population.plan_prices)
        return cls(
            sat=sat,
            life=life,
            usage_ewma=pop.usage_rate * np.exp(params.usage.satisfaction_effect * sat),
            active=pop.signup_day < 0,
            tenure_start_day=pop.signup_day.copy(),
            sub_start_us=pop.signup_us.copy(),
            sub_plan=pop.plan.copy(),
            sub_amount=prices[pop.plan],
            gap_start_us=np.zeros(n, np.int64),
            gap_end_us=np.zeros(n, np.int64),
            trouble_until=np.full(n, NEVER, np.int32),
            invite_load=np.zeros(n, np.float32),
            last_invite_day=np.full(n, NEVER, np.int32),
            last_answer_day=np.full(n, NEVER, np.int32),
            churn_count=np.zeros(n, np.int32),
            first_churn_us=np.full(n, -1, np.int64),
            last_churn_us=np.full(n, -1, np.int64),
            last_churn_day=np.full(n, NEVER, np.int32),
            won_back=np.zeros(n, bool),
            tickets=np.zeros(n, np.int32),
            handoffs=np.zeros(n, np.int32),
            long_waits=np.zeros(n, np.int32),
            late_deliveries=np.zeros(n, np.int32),
            payment_failures=np.zeros(n, np.int32),
            answered=np.zeros(n, np.int32),
            friction=np.zeros(n, np.float64),
            ring_shock=np.zeros((RING_DAYS, n), np.float32),
            ring_late=np.zeros((RING_DAYS, n), bool),
            ring_answer=np.zeros((RING_DAYS, n), bool),
        )


class _Simulation:
    def __init__(self, params: WorldParams, customers: int, days: int, seed: int, start: date, sink: TableSink) -> None:
        # spawn(6)'s first four children are spawn(4)'s: the harshness and regime streams leave the others alone
        pop_seq, dyn_seq, events_seq, truth_seq, harsh_seq, self.regime_seq = np.random.SeedSequence(seed).spawn(6)
        self.p, self.days, self.start, self.sink = params, days, start, sink
        self.start_us = epoch_us(start)
        self.today_us = self.start_us + days * DAY_US
        self.rng = np.random.default_rng(dyn_seq)
        self.events_rng = np.random.default_rng(events_seq)  # row details of events: never feed back
        self.truth_rng = np.random.default_rng(truth_seq)  # would-be answers in the ground truth
        self.pop = draw_population(np.random.default_rng(pop_seq), params, customers, days, self.start_us)
        self.state = _State.initial(self.pop, params, self.rng)
        self.customer_ids = id_array("C", np.arange(1, customers + 1), id_width(customers))
        self.harsh = draw_harshness(np.random.default_rng(harsh_seq), params.harshness, customers, days, params.regime == "subscription")
        self.sv = survey_params(params.surveys, params.harshness)
        self.plan_price = np.asarray(params.population.plan_prices, dtype=np.float64).copy()
        sp, bp = params.support, params.billing
        self.bad_days = support.bad_days(sp, days) or (0, 0)
        self.price_increase_day = int(bp.price_increase_at * days)
        self.weekday0 = start.weekday()
        self.subscriptions, self.tickets, self.orders = Rows(), Rows(), Rows()
        self.billing, self.surveys, self.churn_events, self.events = Rows(), Rows(), Rows(), Rows()
        self.row_counts: dict[str, int] = {}

    # ---------------------------------------------------------------- the loop
    def run(self) -> dict[str, int]:
        for day in range(-self.p.burn_in_days, self.days):
            self._step(day)
        self._flush_events(final=True)
        self._write_final_tables()
        return self.row_counts

    def _step(self, d: int) -> None:
        st, pop, p = self.state, self.pop, self.p
        record = d >= 0
        day_us = self.start_us + d * DAY_US
        subscribed = st.active & ~((st.gap_start_us <= day_us) & (day_us < st.gap_end_us))
        at_risk = np.flatnonzero(subscribed)
        hazard = self._hazard(at_risk, d)
        if record and d % p.truth_every_days == 0:
            self._write_truth(d, day_us, subscribed, at_risk, hazard)

        if record:
            lo, hi = np.searchsorted(pop.signup_day, [d, d + 1])
            self._sign_up(np.arange(lo, hi), d)
        shock, late_today = self._due_today(d)

        if record:
            self._churn(at_risk, hazard, d, day_us)
            self._win_back(d, day_us)
            self._change_plans(at_risk, d, day_us)
        act = np.flatnonzero(st.active & (pop.signup_day != d))  # no activity on the signup day itself
        down = self._outage(d, shock)
        self._use(act, d, day_us, record, down)
        failed_today = self._bill(act, d, day_us, record, shock)
        self._order(act, d, day_us, record, shock)
        self._support(act, d, day_us, record, shock, late_today, failed_today, down)
        if record:
            self._periodic_surveys(act, d, day_us, shock)
        self._update_satisfaction(shock)

    def _due_today(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Empty today's ring slot: the shocks that land today, who learns today that a delivery is late, who answered today."""
        st, slot = self.state, d % RING_DAYS
        shock = st.ring_shock[slot].astype(np.float64)
        st.ring_shock[slot] = 0.0
        late_today = st.ring_late[slot].copy()
        st.ring_late[slot] = False
        st.last_answer_day[st.ring_answer[slot]] = d
        st.ring_answer[slot] = False
        return shock, late_today

    def _outage(self, d: int, shock: np.ndarray) -> np.ndarray | None:
        """Customers whose region or plan is down today (None: nobody's); the active ones are annoyed."""
        if d < 0:
            return None
        down = outage_hit(self.harsh, d, self.pop.region, self.state.sub_plan)
        if down is not None:
            shock[down & self.state.active] += self.p.harshness.outage_shock_per_day
        return down

    # ---------------------------------------------------------------- churn
    def _hazard(self, idx: np.ndarray, d: int) -> np.ndarray:
        """True daily churn hazard of customers `idx` at the 00:00 state of day d."""
        st, pop, c = self.state, self.pop, self.p.churn
        typical = self.p.usage.events_per_active_day
        usage_ratio = np.clip(np.log((st.usage_ewma[idx] + 0.05) / (typical + 0.05)), -3.0, 3.0)
        tenure = (d - st.tenure_start_day[idx]).astype(np.float64)
        log_h = (
            np.log(c.base_daily_hazard)
            + c.satisfaction_effect * st.sat[idx]
            + c.usage_effect * usage_ratio
            + np.asarray(c.plan_log_hazard)[st.sub_plan[idx]]
            + c.new_customer_log_hazard * np.exp(-tenure / c.new_customer_decay_days)
            + pop.frailty[idx]
            + st.life[idx]
            + self.p.billing.trouble_log_hazard * (st.trouble_until[idx] > d)
            + self._last_straw(idx)
        )
        return np.minimum(np.exp(log_h), c.max_daily_hazard)

    def _last_straw(self, idx: np.ndarray) -> np.ndarray | float:
        """The hazard's jump for customers past their last straw (0.0 when the knob is off: adding it changes nothing)."""
        if not self.harsh.tracks_friction:
            return 0.0
        return last_straw_log_hazard(self.state.friction[idx], self.harsh.straw_threshold[idx], self.p.harshness.last_straw_log_hazard)

    def _sign_up(self, new: np.ndarray, d: int) -> None:
        st, pop = self.state, self.pop
        st.active[new] = True
        st.tenure_start_day[new] = d
        st.sat[new] = pop.baseline[new] + self.p.satisfaction.honeymoon_boost
        st.usage_ewma[new] = pop.usage_rate[new]
        st.sub_amount[new] = self.plan_price[pop.plan[new]]

    def _churn(self, at_risk: np.ndarray, hazard: np.ndarray, d: int, day_us: int) -> None:
        st = self.state
        gone = at_risk[self.rng.random(len(at_risk)) < hazard]
        ts = day_us + (self.rng.random(len(gone)) * DAY_US).astype(np.int64)
        self._end_subscriptions(gone, ts)
        self.churn_events.add(customer=gone, ts=ts, involuntary=st.trouble_until[gone] > d)
        st.active[gone] = False
        st.churn_count[gone] += 1
        st.first_churn_us[gone] = np.where(st.first_churn_us[gone] < 0, ts, st.first_churn_us[gone])
        st.last_churn_us[gone] = ts
        st.last_churn_day[gone] = d

    def _win_back(self, d: int, day_us: int) -> None:
        st, c = self.state, self.p.churn
        gone = np.flatnonzero(~st.active & (st.churn_count > 0) & (d - st.last_churn_day >= c.winback_min_days))
        p = c.winback_per_day * np.exp(c.winback_satisfaction_effect * st.sat[gone])
        back = gone[self.rng.random(len(gone)) < p]
        st.active[back] = True
        st.won_back[back] = True
        st.tenure_start_day[back] = d
        st.sub_start_us[back] = day_us + (self.rng.random(len(back)) * DAY_US).astype(np.int64)
        st.sub_amount[back] = self.plan_price[st.sub_plan[back]]
        st.sat[back] += self.p.satisfaction.honeymoon_boost

    def _change_plans(self, at_risk: np.ndarray, d: int, day_us: int) -> None:
        """Old subscription ends, a new one starts at once or after a short gap (a grace rule matters)."""
        st, c, rng = self.state, self.p.churn, self.rng
        staying = at_risk[st.active[at_risk]]
        moving = staying[rng.random(len(staying)) < c.plan_change_per_day]
        n = len(moving)
        ts = day_us + (rng.random(n) * DAY_US).astype(np.int64)
        self._end_subscriptions(moving, ts)
        gap_days = np.where(rng.random(n) < c.plan_change_gap_share, rng.integers(1, c.plan_change_gap_days_max + 1, n), 0)
        new_start = ts + gap_days * DAY_US
        new_start = np.where(new_start < self.today_us, new_start, ts)  # a restart must be visible by today
        st.sub_plan[moving] = (st.sub_plan[moving] + rng.integers(1, len(PLANS), n)) % len(PLANS)
        st.sub_amount[moving] = self.plan_price[st.sub_plan[moving]]
        st.gap_start_us[moving] = ts
        st.gap_end_us[moving] = new_start
        st.sub_start_us[moving] = new_start

    def _end_subscriptions(self, who: np.ndarray, ended_us: np.ndarray, ended: bool = True) -> None:
        """Record the current subscriptions of `who` (still open at today when `ended` is False)."""
        st = self.state
        self.subscriptions.add(
            customer=who,
            started=st.sub_start_us[who],
            ended=ended_us,
            has_end=np.full(len(who), ended),
            plan=st.sub_plan[who],
            amount=np.round(st.sub_amount[who], 2),
        )

    # ---------------------------------------------------------------- activity
    def _use(self, act: np.ndarray, d: int, day_us: int, record: bool, down: np.ndarray | None = None) -> None:
        st, pop, up = self.state, self.pop, self.p.usage
        weekend = (self.weekday0 + d) % 7 >= 5
        factor = self._day_factor(act, up.weekend_factor if weekend else 1.0, down)
        counts = usage.daily_event_counts(self.rng, up, pop.usage_rate[act], st.sat[act], factor)
        st.usage_ewma *= 1.0 - 1.0 / up.ewma_days
        st.usage_ewma[act] += counts / up.ewma_days
        if record:
            rows = usage.expand_events(self.events_rng, up, act, counts, st.sat[act], pop.event_channel[act], day_us)
            self.events.add(**rows)
            if self.events.count >= EVENTS_PER_CHUNK:
                self._flush_events()

    def _day_factor(self, act: np.ndarray, factor: float, down: np.ndarray | None) -> np.ndarray | float:
        """Today's activity multiplier of customers `act`: the weekday's, less where an outage is on."""
        return factor if down is None else np.where(down[act], factor * self.p.harshness.outage_usage_factor, factor)

    def _bill(self, act: np.ndarray, d: int, day_us: int, record: bool, shock: np.ndarray) -> np.ndarray:
        """Monthly charges (failures raise the hazard until recovered) and the price increase."""
        st, pop, bp = self.state, self.pop, self.p.billing
        due = act[(d - pop.billing_phase[act]) % bp.cycle_days == 0]
        cb = billing.charge_cycle(self.rng, bp, day_us, self.today_us, due, st.sub_amount[due], pop.payment_failure[due], st.sat[due])
        shock[cb.failed_customer] += bp.failure_shock
        st.trouble_until[cb.failed_customer] = d + cb.trouble_days
        failed_today = np.zeros(pop.size, bool)
        failed_today[cb.failed_customer] = True
        if record:
            st.payment_failures[cb.failed_customer] += 1
            self.billing.add(customer=cb.rows_customer, ts=cb.rows_us, kind=cb.rows_kind, amount=cb.rows_amount)
        if record and d == self.price_increase_day:
            plans = [PLANS.index(name) for name in bp.price_increase_plans]
            hit = act[np.isin(st.sub_plan[act], plans)]
            increase = np.round(st.sub_amount[hit] * bp.price_increase_share, 2)
            ts = day_us + (self.rng.random(len(hit)) * DAY_US).astype(np.int64)
            self.billing.add(customer=hit, ts=ts, kind=np.full(len(hit), billing.PRICE_INCREASE, np.int8), amount=increase)
            st.sub_amount[hit] += increase
            self.plan_price[plans] = np.round(self.plan_price[plans] * (1 + bp.price_increase_share), 2)
            shock[hit] += bp.price_increase_shock
        return failed_today

    def _order(self, act: np.ndarray, d: int, day_us: int, record: bool, shock: np.ndarray) -> None:
        ob = fulfilment.place_orders(self.rng, self.p.fulfilment, day_us, self.today_us, act, self.state.sat[act])
        self._fulfil(ob, d, record, shock)

    def _fulfil(self, ob: fulfilment.OrderBatch, d: int, record: bool, shock: np.ndarray) -> None:
        """Deliveries' effects (late ones felt ahead) and the order and refund rows."""
        st = self.state
        shock[ob.customer] += ob.shock_now
        late = ob.late
        slots = (d + ob.late_days_ahead[late]) % RING_DAYS
        st.ring_shock[slots, ob.customer[late]] += ob.late_shock[late]
        st.ring_late[slots, ob.customer[late]] = True
        if record:
            st.late_deliveries[ob.customer[late]] += 1
            self.orders.add(
                customer=ob.customer,
                ordered=ob.ordered_us,
                promised=ob.promised_us,
                delivered=ob.delivered_us,
                has_delivered=ob.delivered,
                amount=ob.amount,
                status=ob.status,
            )
            refunds = len(ob.refund_customer)
            self.billing.add(
                customer=ob.refund_customer, ts=ob.refund_us, kind=np.full(refunds, billing.REFUND, np.int8), amount=ob.refund_amount
            )

    def _support(
        self,
        act: np.ndarray,
        d: int,
        day_us: int,
        record: bool,
        shock: np.ndarray,
        late_today: np.ndarray,
        failed_today: np.ndarray,
        down: np.ndarray | None = None,
    ) -> None:
        st, pop, sp, rng = self.state, self.pop, self.p.support, self.rng
        bad = self.bad_days[0] <= d < self.bad_days[1]
        tb = support.open_tickets(
            rng, sp, day_us, act, st.sat[act] + shock[act], late_today[act], failed_today[act], pop.ticket_channel[act], bad,
            None if down is None else down[act], self.p.harshness.outage_ticket_probability,
        )
        cust = tb.customer
        shock[cust] += tb.shock_now
        ahead = np.minimum(tb.delayed_days, RING_DAYS - 1)
        np.add.at(st.ring_shock, ((d + ahead) % RING_DAYS, tb.delayed_customer), tb.delayed_shock)
        if not record:
            return
        st.tickets[cust] += 1
        st.handoffs[cust] += tb.handoffs
        st.long_waits[cust] += tb.long_wait
        resolved = ~tb.never_resolved & (tb.resolved_us < self.today_us)
        self.tickets.add(
            customer=cust,
            opened=tb.opened_us,
            resolved=tb.resolved_us,
            has_resolved=resolved,
            channel=tb.channel,
            category=tb.category,
            wait_seconds=tb.wait_seconds,
            handoffs=tb.handoffs,
            reopened=tb.reopened,
            escalated=tb.escalated,
        )
        goodwill = tb.escalated & resolved & (rng.random(len(cust)) < self.p.billing.goodwill_refund_after_escalation)
        refund_us = tb.resolved_us[goodwill] + HOUR_US
        keep = refund_us < self.today_us
        self.billing.add(
            customer=cust[goodwill][keep],
            ts=refund_us[keep],
            kind=np.full(int(keep.sum()), billing.REFUND, np.int8),
            amount=np.round(0.5 * st.sub_amount[cust[goodwill][keep]], 2),
        )
        sv = self.sv
        asked = resolved & (rng.random(len(cust)) < sv.post_ticket_probability) & (d - st.last_invite_day[cust] >= sv.post_ticket_quiet_days)
        sent_us = tb.resolved_us[asked] + HOUR_US + (rng.random(int(asked.sum())) * 23 * HOUR_US).astype(np.int64)
        keep = sent_us < self.today_us
        who = cust[asked][keep]
        self._invite(who, sent_us[keep], POST_TICKET, np.full(len(who), EMAIL, np.int8), st.sat[who] + shock[who], d)

    # ---------------------------------------------------------------- surveys
    def _periodic_surveys(self, act: np.ndarray, d: int, day_us: int, shock: np.ndarray) -> None:
        st, pop, sv, rng = self.state, self.pop, self.sv, self.rng
        due = act[((d - pop.survey_phase[act]) % sv.periodic_days == 0) & (d - st.tenure_start_day[act] >= 14)]
        sent_us = day_us + 7 * HOUR_US + (rng.random(len(due)) * 14 * HOUR_US).astype(np.int64)
        channel = np.where(rng.random(len(due)) < sv.periodic_in_app_share, IN_APP, EMAIL).astype(np.int8)
        self._invite(due, sent_us, PERIODIC, channel, st.sat[due] + shock[due], d)

    def _invite(
        self, who: np.ndarray, sent_us: np.ndarray, trigger: int, channel: np.ndarray, sat: np.ndarray, d: int, shift: np.ndarray | float = 0.0
    ) -> None:
        st, pop = self.state, self.pop
        sb = surveys.answer_invitations(
            self.rng, self.sv, sent_us, self.today_us, sat, st.invite_load[who], pop.rating_style[who], channel == IN_APP, shift
        )
        st.invite_load[who] += 1.0
        st.last_invite_day[who] = (sent_us - self.start_us) // DAY_US
        answered = who[sb.responded]
        st.answered[answered] += 1
        answer_day = (sb.responded_us[sb.responded] - self.start_us) // DAY_US
        today = answer_day <= d
        st.last_answer_day[answered[today]] = d
        ahead = np.minimum(answer_day[~today] - d, RING_DAYS - 1)
        st.ring_answer[(d + ahead) % RING_DAYS, answered[~today]] = True
        self.surveys.add(
            customer=who,
            sent=sent_us,
            responded=sb.responded_us,
            has_responded=sb.responded,
            score=sb.score,
            channel=channel,
            trigger=np.full(len(who), trigger, np.int8),
            satisfaction=sat.astype(np.float32),
            response_probability=sb.response_probability,
        )

    # ---------------------------------------------------------------- satisfaction
    def _update_satisfaction(self, shock: np.ndarray) -> None:
        st, pop, sp, c, rng = self.state, self.pop, self.p.satisfaction, self.p.churn, self.rng
        n = pop.size
        shock = felt_shock(shock, self.harsh.sensitivity)
        if self.harsh.tracks_friction:
            decay_friction(st.friction, shock, self.p.harshness.friction_half_life_days)
        st.sat += sp.reversion_per_day * (pop.baseline - st.sat) + sp.drift_sd_per_day * rng.standard_normal(n) + shock
        np.clip(st.sat, sp.floor, sp.ceiling, out=st.sat)
        rho = np.exp(-1.0 / c.life_event_days)
        st.life *= rho
        st.life += np.sqrt(1 - rho**2) * c.life_event_sd * rng.standard_normal(n)
        st.invite_load *= np.float32(0.5 ** (1.0 / self.p.surveys.fatigue_half_life_days))

    # ---------------------------------------------------------------- output
    def _write(self, name: str, table: pa.Table) -> None:
        self.sink.write(name, table)
        self.row_counts[name] = self.row_counts.get(name, 0) + table.num_rows

    def _flush_events(self, final: bool = False) -> None:
        if self.events.count or (final and "events" not in self.row_counts):
            self._write("events", self._assemble("events", self.events.columns()))
            self.events.clear()

    def _assemble(self, name: str, columns: dict[str, np.ndarray], order: np.ndarray | None = None, schema: pa.Schema | None = None) -> pa.Table:
        return assemble(schema or SCHEMAS[name], LAYOUTS[name], columns, self.customer_ids, order)

    def _write_truth(self, d: int, day_us: int, subscribed: np.ndarray, at_risk: np.ndarray, hazard: np.ndarray) -> None:
        """Weekly ground truth: everyone signed up before this day's 00:00 (a prefix, ids are in signup order)."""
        st, pop = self.state, self.pop
        m = int(np.searchsorted(pop.signup_us, day_us))
        churn_hazard = np.zeros(m)
        churn_hazard[at_risk] = hazard
        score = surveys.would_score(self.truth_rng, self.p.surveys, st.sat[:m], pop.rating_style[:m])
        columns = {
            "customer": np.arange(m),
            "week": np.full(m, (self.start - date(1970, 1, 1)).days + d, np.int32),
            "satisfaction": st.sat[:m],
            "churn_hazard": churn_hazard,
            "would_score": score,
            "dissatisfied": score <= self.p.dissatisfied_max_score,
            "silent": st.last_answer_day[:m] < d - self.p.silent_days,
            "active": subscribed[:m],
        }
        self._write("ground_truth/weekly", self._assemble("weekly", columns, schema=TRUTH_SCHEMAS["weekly"]))

    def _write_customers(self) -> None:
        pop = self.pop
        customers = {
            "customer": np.arange(pop.size),
            "number": np.arange(1, pop.size + 1),
            "signup_us": pop.signup_us,
            "plan": pop.plan,
            "region": pop.region,
            "acquisition": pop.acquisition,
            "monthly_value": np.round(pop.monthly_value, 2),
        }
        self._write("customers", self._assemble("customers", customers))

    def _write_subscriptions(self) -> None:
        current = np.flatnonzero(self.state.active)  # everyone subscribed at today holds one open subscription
        self._end_subscriptions(current, np.zeros(len(current), np.int64), ended=False)
        subs = self.subscriptions.columns()
        by_customer = np.lexsort((subs["started"], subs["customer"])) if subs else None
        self._write("subscriptions", self._assemble("subscriptions", subs, by_customer))

    def _write_harshness_truth(self, purchase_rate: np.ndarray | None = None, dropout_rate: np.ndarray | None = None) -> None:
        """Who feels friction how much, who has a last straw, and when which group was down."""
        traits, outages = harshness_truth(self.harsh, self.pop.size, self.start_us, purchase_rate, dropout_rate)
        self._write("ground_truth/traits", self._assemble("traits", traits, schema=TRUTH_SCHEMAS["traits"]))
        self._write("ground_truth/outages", self._assemble("outages", outages, schema=TRUTH_SCHEMAS["outages"]))
        periods = support.support_period_truth(self.p.support, self.days, self.start_us)
        self._write("ground_truth/support_periods", self._assemble("support_periods", periods, schema=TRUTH_SCHEMAS["support_periods"]))

    def _write_final_tables(self) -> None:
        st, pop = self.state, self.pop
        self._write_customers()
        self._write_subscriptions()
        for name, rows in (("tickets", self.tickets), ("orders", self.orders)):
            self._write(name, self._assemble(name, rows.columns()))
        bills = self.billing.columns()
        self._write("billing", self._assemble("billing", bills, np.argsort(bills["ts"], kind="stable") if bills else None))
        invitations = self.surveys.columns()
        self._write("surveys", self._assemble("surveys", invitations))
        self._write("ground_truth/surveys", self._assemble("survey_truth", invitations, schema=TRUTH_SCHEMAS["surveys"]))

        churn = {
            "customer": np.arange(pop.size),
            "churned": st.first_churn_us >= 0,
            "first_churn_us": st.first_churn_us,
            "last_churn_us": st.last_churn_us,
            "churn_count": st.churn_count,
            "won_back": st.won_back,
            "active_at_today": st.active,  # plan-change gaps always end before today
            "baseline_satisfaction": pop.baseline,
            "final_satisfaction": st.sat,
            "frailty": pop.frailty,
            "tickets": st.tickets,
            "handoffs": st.handoffs,
            "long_waits": st.long_waits,
            "late_deliveries": st.late_deliveries,
            "payment_failures": st.payment_failures,
            "surveys_answered": st.answered,
        }
        self._write("ground_truth/churn", self._assemble("churn", churn, schema=TRUTH_SCHEMAS["churn"]))
        self._write(
            "ground_truth/churn_events", self._assemble("churn_events", self.churn_events.columns(), schema=TRUTH_SCHEMAS["churn_events"])
        )
        self._write_harshness_truth()


def run_world(params: WorldParams, customers: int, days: int, seed: int, start: date, sink: TableSink) -> dict[str, int]:
    """Simulate the world day by day, streaming every table to `sink`; returns row counts per table."""
    if customers < 1 or days < 1:
        raise ValueError(f"need at least one customer and one day, got customers={customers}, days={days}")
    if params.regime not in REGIMES:
        raise ValueError(f"unknown regime {params.regime!r} (WorldParams.regime): choose one of {', '.join(REGIMES)}")
    if params.regime == "purchases":
        from simulator.purchases import PurchasesSimulation  # builds on this module's loop

        return PurchasesSimulation(params, customers, days, seed, start, sink).run()
    return _Simulation(params, customers, days, seed, start, sink).run()
