"""The `purchases` regime: a non-contractual shop where customers buy until they silently leave.

Each customer has a purchase rate and a dropout rate, both Gamma-distributed across customers
(Pareto/NBD-style), and a gamma-gamma order value. Satisfaction moves both: unhappy customers buy
less often and drop out sooner, and every incident (late delivery, failed checkout, a bad ticket,
an outage) lowers it. Dropout is never written to the input tables: no subscriptions, no "left"
event, only purchases (events of type "purchase" with the order's amount, and the order itself)
that stop. A customer signs up with a first purchase; the history starts with the first customer,
so every customer's whole history is in the tables.

The day loop is the subscription simulator's (dynamics.py) with the buying, billing and survey
steps replaced; the ground truth keeps its schema: `active` means alive, `churn_hazard` is the
dropout hazard, `churn_events` the (unobservable) dropout times.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from simulator import billing, fulfilment
from simulator.dynamics import EMAIL, EVENTS_PER_CHUNK, NEVER, PERIODIC, TableSink, _Simulation
from simulator.tables import DAY_US, HOUR_US, PURCHASES_CUSTOMERS
from simulator.world import EVENT_TYPES, WorldParams

PURCHASE, SESSION, PAGE_VIEW = (EVENT_TYPES.index(t) for t in ("purchase", "session", "page_view"))


class PurchasesSimulation(_Simulation):
    def __init__(self, params: WorldParams, customers: int, days: int, seed: int, start: date, sink: TableSink) -> None:
        super().__init__(params, customers, days, seed, start, sink)
        pp, rng = params.purchases, np.random.default_rng(self.regime_seq)
        # Gamma(shape, mean / shape): the Pareto/NBD rate heterogeneity
        self.buy_rate = rng.gamma(pp.rate_shape, pp.rate_mean_per_day / pp.rate_shape, customers)
        self.dropout_rate = rng.gamma(pp.dropout_shape, pp.dropout_mean_per_day / pp.dropout_shape, customers)
        self.spend_scale = rng.gamma(pp.spend_scale_shape, 1.0 / pp.spend_scale_rate, customers)  # nu; order ~ Gamma(p, 1/nu)
        self.last_purchase_day = np.full(customers, NEVER, np.int32)
        # the truth's "frailty": the customer's log dropout rate relative to the average
        self.pop = dataclasses.replace(self.pop, frailty=np.log(self.dropout_rate / pp.dropout_mean_per_day).astype(np.float32))

    def _step(self, d: int) -> None:
        st, pop, p = self.state, self.pop, self.p
        record = d >= 0
        day_us = self.start_us + d * DAY_US
        at_risk = np.flatnonzero(st.active)
        hazard = self._hazard(at_risk, d)
        if record and d % p.truth_every_days == 0:
            self._write_truth(d, day_us, st.active.copy(), at_risk, hazard)
        new = np.arange(*np.searchsorted(pop.signup_day, [d, d + 1])) if record else np.arange(0)
        self._sign_up(new, d)
        shock, late_today = self._due_today(d)

        if record:
            self._churn(at_risk, hazard, d, day_us)
        act = np.flatnonzero(st.active)
        down = self._outage(d, shock)
        failed_today = self._shop(act, new, d, day_us, record, shock, down)
        self._support(act, d, day_us, record, shock, late_today, failed_today, down)
        if record:
            self._periodic_surveys(act, d, day_us, shock)
        self._update_satisfaction(shock)

    def _hazard(self, idx: np.ndarray, d: int) -> np.ndarray:
        """True daily dropout hazard: the customer's rate, moved by satisfaction, tenure, payment trouble and the last straw."""
        st, pp = self.state, self.p.purchases
        tenure = (d - st.tenure_start_day[idx]).astype(np.float64)
        log_h = (
            np.log(self.dropout_rate[idx])
            + pp.satisfaction_dropout_effect * st.sat[idx]
            + pp.new_customer_log_hazard * np.exp(-tenure / pp.new_customer_decay_days)
            + st.life[idx]
            + self.p.billing.trouble_log_hazard * (st.trouble_until[idx] > d)
            + self._last_straw(idx)
        )
        return np.minimum(np.exp(log_h), self.p.churn.max_daily_hazard)

    def _end_subscriptions(self, who: np.ndarray, ended_us: np.ndarray, ended: bool = True) -> None:
        """A shop has no subscriptions: dropping out ends nothing anyone can see."""

    # ---------------------------------------------------------------- buying
    def _shop(
        self, act: np.ndarray, new: np.ndarray, d: int, day_us: int, record: bool, shock: np.ndarray, down: np.ndarray | None
    ) -> np.ndarray:
        """Today's purchases (every new customer's first one at signup), browsing, checkout payments and deliveries."""
        st, pop, pp, rng = self.state, self.pop, self.p.purchases, self.rng
        factor = self._day_factor(act, 1.0, down)
        rate = np.minimum(self.buy_rate[act] * np.exp(pp.satisfaction_rate_effect * st.sat[act]) * factor, pp.rate_max_per_day)
        is_new = pop.signup_day[act] == d
        buys = is_new | (rng.random(len(act)) < rate)
        buyer = act[buys]
        ordered_us = np.where(is_new[buys], pop.signup_us[buyer], day_us + (rng.random(len(buyer)) * DAY_US).astype(np.int64))
        spend = rng.gamma(pp.spend_shape, 1.0 / self.spend_scale[buyer]) * np.exp(pp.spend_satisfaction_effect * st.sat[buyer])
        amount = np.round(np.maximum(spend, 0.5), 2)
        self.last_purchase_day[buyer] = d

        cb = billing.charge_cycle(rng, self.p.billing, day_us, self.today_us, buyer, amount, pop.payment_failure[buyer], st.sat[buyer])
        shock[cb.failed_customer] += self.p.billing.failure_shock
        st.trouble_until[cb.failed_customer] = d + cb.trouble_days
        failed_today = np.zeros(pop.size, bool)
        failed_today[cb.failed_customer] = True
        self._fulfil(fulfilment.fulfil_orders(rng, self.p.fulfilment, day_us, self.today_us, buyer, ordered_us, amount), d, record, shock)

        browse_rate = pp.browse_per_purchase * self.buy_rate[act] * np.exp(pp.browse_satisfaction_effect * st.sat[act]) * factor
        browsers = rng.poisson(browse_rate)
        if record:
            st.payment_failures[cb.failed_customer] += 1
            self.billing.add(customer=cb.rows_customer, ts=cb.rows_us, kind=cb.rows_kind, amount=cb.rows_amount)
            self.events.add(**self._purchase_rows(buyer, ordered_us, amount))
            self.events.add(**self._browse_rows(act, browsers, day_us))
            if self.events.count >= EVENTS_PER_CHUNK:
                self._flush_events()
        return failed_today

    def _purchase_rows(self, buyer: np.ndarray, ordered_us: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "customer": buyer,
            "ts": ordered_us,
            "event_type": np.full(len(buyer), PURCHASE, np.int8),
            "channel": self.pop.event_channel[buyer],
            "value": amount,
        }

    def _browse_rows(self, act: np.ndarray, counts: np.ndarray, day_us: int) -> dict[str, np.ndarray]:
        """Sessions and page views (value: seconds spent), spread over the day; row details from the events stream."""
        rng, up = self.events_rng, self.p.usage
        customer = np.repeat(act, counts)
        n = len(customer)
        kind = np.where(rng.random(n) < self.p.purchases.session_share, SESSION, PAGE_VIEW).astype(np.int8)
        seconds = np.exp(np.asarray(up.value_log_median)[kind] + np.asarray(up.value_log_sd)[kind] * rng.standard_normal(n))
        return {
            "customer": customer,
            "ts": day_us + (rng.random(n) * DAY_US).astype(np.int64),
            "event_type": kind,
            "channel": self.pop.event_channel[customer],
            "value": np.round(seconds, 2),
        }

    # ---------------------------------------------------------------- surveys
    def _periodic_surveys(self, act: np.ndarray, d: int, day_us: int, shock: np.ndarray) -> None:
        """The relationship survey: everyone who bought within a year, alive or gone (the shop cannot tell); the gone answer less."""
        st, pop, sv, pp, rng = self.state, self.pop, self.sv, self.p.purchases, self.rng
        recent = self.last_purchase_day >= d - pp.survey_recent_days
        due = np.flatnonzero(recent & ((d - pop.survey_phase) % sv.periodic_days == 0) & (d - pop.signup_day >= 14))
        sent_us = day_us + 7 * HOUR_US + (rng.random(len(due)) * 14 * HOUR_US).astype(np.int64)
        channel = np.full(len(due), EMAIL, np.int8)  # a shop has no app to prompt in
        shift = np.where(st.active[due], 0.0, pp.lapsed_response_shift)
        self._invite(due, sent_us, PERIODIC, channel, st.sat[due] + shock[due], d, shift)

    # ---------------------------------------------------------------- output
    def _write_customers(self) -> None:
        pop = self.pop
        customers = {
            "customer": np.arange(pop.size),
            "number": np.arange(1, pop.size + 1),
            "signup_us": pop.signup_us,
            "region": pop.region,
            "acquisition": pop.acquisition,
        }
        self._write("customers", self._assemble("customers", customers, schema=PURCHASES_CUSTOMERS))

    def _write_subscriptions(self) -> None:
        """No subscriptions table: the regime's point."""

    def _write_harshness_truth(self, purchase_rate: np.ndarray | None = None, dropout_rate: np.ndarray | None = None) -> None:
        super()._write_harshness_truth(self.buy_rate, self.dropout_rate)
