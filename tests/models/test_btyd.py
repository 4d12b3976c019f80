"""BG/NBD: the likelihood against numerical integration, parameter recovery, P(alive)'s shape, and the RFM builder."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import integrate, stats

from models.btyd import BGNBD, bgnbd_log_likelihood, expected_purchases, p_alive, rfm_as_of

TRUE = np.array([0.5, 20.0, 0.8, 2.5])  # r, alpha (days), a, b: a purchase every ~40 days, a quarter drop after each


def simulate_bgnbd(params: np.ndarray, customers: int, seed: int, horizon: float = 0.0) -> tuple[np.ndarray, ...]:
    """(x, t_x, T, purchases in (T, T + horizon]) drawn from the BG/NBD story itself: Poisson buying, a coin after each purchase."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, customers)
    p = rng.beta(a, b, customers)
    T = rng.uniform(100.0, 500.0, customers)
    x, t_x, t, future = np.zeros(customers), np.zeros(customers), np.zeros(customers), np.zeros(customers)
    buying = np.ones(customers, bool)
    while buying.any():  # over purchase rounds, not customers
        t = t + rng.exponential(1.0 / np.maximum(lam, 1e-12))
        buying &= t < T + horizon
        past = buying & (t < T)
        x += past
        t_x = np.where(past, t, t_x)
        future += buying & (t >= T)
        buying &= rng.random(customers) >= p  # dropout right after this purchase
    return x, t_x, T, future


def integrated_likelihood(params: np.ndarray, x: int, t_x: float, T: float) -> float:
    """The BG/NBD likelihood by quadrature over lambda and p, independent of the closed form."""
    r, alpha, a, b = params
    lam = stats.gamma(r, scale=1.0 / alpha).pdf
    beta = stats.beta(a, b).pdf

    def e_lam(t: float) -> float:
        peak = max(x + r - 1, 0.0) / (alpha + t)  # the integrand's mode: quad must not miss a narrow peak
        upper = 50.0 * (x + r + 1) / (alpha + t)
        return integrate.quad(lambda v: v**x * np.exp(-v * t) * lam(v), 0, upper, points=[peak], limit=400, epsabs=0, epsrel=1e-10)[0]

    survive = integrate.quad(lambda q: (1 - q) ** x * beta(q), 0, 1)[0]
    value = survive * e_lam(T)
    if x > 0:
        value += integrate.quad(lambda q: q * (1 - q) ** (x - 1) * beta(q), 0, 1)[0] * e_lam(t_x)
    return value


@pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 30.0), (1, 10.0, 30.0), (4, 90.0, 100.0), (4, 5.0, 100.0), (12, 200.0, 365.0)])
def test_log_likelihood_matches_numerical_integration(x, t_x, T):
    params = np.array([0.9, 15.0, 1.3, 2.2])
    closed = bgnbd_log_likelihood(params, np.array([x]), np.array([t_x]), np.array([T]))[0]
    assert closed == pytest.approx(np.log(integrated_likelihood(params, x, t_x, T)), abs=1e-6)


def test_parameters_are_recovered_from_simulated_purchases():
    x, t_x, T, _ = simulate_bgnbd(TRUE, 4_000, seed=1)
    model = BGNBD().fit(x, t_x, T)
    print("\nfitted", model.named_params_)
    assert model.converged_
    assert model.params_[:2] == pytest.approx(TRUE[:2], rel=0.15)  # r, alpha: well identified
    assert model.params_[2:] == pytest.approx(TRUE[2:], rel=0.35)  # a, b: the dropout coin is seen less directly
    # the truth fits about as well as the optimum: a wrong optimum would be far off
    assert model.log_likelihood_ >= bgnbd_log_likelihood(TRUE, x, t_x, T).sum() - 1e-6


def test_another_world_gives_other_parameters():
    other = np.array([2.0, 10.0, 0.3, 6.0])
    x, t_x, T, _ = simulate_bgnbd(other, 4_000, seed=2)
    fitted = BGNBD().fit(x, t_x, T).params_
    assert fitted[:2] == pytest.approx(other[:2], rel=0.15)
    assert not np.allclose(fitted, TRUE, rtol=0.35)


def test_p_alive_is_one_without_a_repeat_purchase():
    assert p_alive(TRUE, np.zeros(3), np.zeros(3), np.array([1.0, 100.0, 1000.0])) == pytest.approx([1.0, 1.0, 1.0])


def test_p_alive_falls_as_the_last_purchase_gets_older():
    T = np.full(5, 300.0)
    alive = p_alive(TRUE, np.full(5, 3.0), np.array([290.0, 250.0, 150.0, 60.0, 10.0]), T)
    assert (np.diff(alive) < 0).all()
    # by hand: 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert alive[0] == pytest.approx(1 / (1 + 0.8 / 4.5 * (320 / 310) ** 3.5))
    assert alive[-1] == pytest.approx(1 / (1 + 0.8 / 4.5 * (320 / 30) ** 3.5))


def test_a_frequent_buyer_gone_quiet_is_likelier_gone_than_a_rare_one():
    # both last bought 200 days ago; the frequent one has broken their rhythm far more
    alive = p_alive(TRUE, np.array([1.0, 10.0]), np.array([100.0, 100.0]), np.array([300.0, 300.0]))
    assert alive[1] < alive[0]
    # and a frequent buyer who bought yesterday is likelier alive than one silent for 200 days
    recent = p_alive(TRUE, np.array([10.0]), np.array([299.0]), np.array([300.0]))
    assert recent[0] > alive[1]


def test_p_alive_is_lower_for_customers_overdue_on_their_own_rhythm():
    x, t_x, T, _ = simulate_bgnbd(TRUE, 3_000, seed=3)
    score = BGNBD().fit(x, t_x, T).p_alive(x, t_x, T)
    # a customer whose rhythm stopped long ago scores lower than one who just bought, on average
    overdue = (T - t_x) > 3 * np.where(x > 0, t_x / np.maximum(x, 1), np.inf)
    assert score[overdue & (x > 0)].mean() < score[~overdue & (x > 0)].mean() - 0.2


def test_expected_purchases_match_what_the_simulated_customers_then_buy():
    x, t_x, T, future = simulate_bgnbd(TRUE, 20_000, seed=4, horizon=90.0)
    predicted = expected_purchases(TRUE, 90.0, x, t_x, T)
    for group in (x == 0, (x >= 1) & (x <= 2), (x >= 3) & (x <= 6), x >= 7):
        print(f"\n{group.sum():>6} customers: predicted {predicted[group].mean():.3f}, bought {future[group].mean():.3f}")
        assert predicted[group].mean() == pytest.approx(future[group].mean(), rel=0.1)


def test_expected_purchases_rank_old_one_time_buyers_below_recent_ones():
    # P(alive) cannot tell them apart (both 1 at x = 0); expected purchases can
    assert p_alive(TRUE, np.zeros(2), np.zeros(2), np.array([10.0, 400.0])) == pytest.approx([1.0, 1.0])
    fresh, stale = expected_purchases(TRUE, 90.0, np.zeros(2), np.zeros(2), np.array([10.0, 400.0]))
    assert stale < 0.5 * fresh


def test_expected_purchases_refuse_a_equal_to_one():
    with pytest.raises(ValueError, match="a != 1"):
        expected_purchases(np.array([0.5, 20.0, 1.0, 2.5]), 90.0, np.ones(1), np.ones(1), np.full(1, 10.0))


@pytest.mark.parametrize(
    "x, t_x, T, message",
    [([1.0], [20.0], [10.0], "t_x <= T"), ([0.0], [5.0], [10.0], "t_x = 0 where x = 0"), ([-1.0], [0.0], [10.0], "x >= 0"), ([], [], [], "not empty")],
)
def test_impossible_rfm_is_refused(x, t_x, T, message):
    with pytest.raises(ValueError, match=message):
        BGNBD().fit(np.array(x), np.array(t_x), np.array(T))


def _ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


EVENTS = pl.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "C", "D", "E", "E"],
        "ts": [
            _ts(2025, 1, 1, 10),
            _ts(2025, 1, 1, 15),  # same day as the first: one purchase day
            _ts(2025, 1, 5, 12),
            _ts(2025, 1, 10, 0),  # at as_of: not before it
            _ts(2025, 1, 3, 9),
            _ts(2025, 1, 2, 8),  # a page view only
            _ts(2025, 1, 10, 0),  # only at as_of
            _ts(2025, 1, 2, 0),
            _ts(2025, 1, 9, 23, 59),  # the last minute before as_of counts
        ],
        "event_type": ["purchase", "purchase", "purchase", "purchase", "purchase", "page_view", "purchase", "purchase", "purchase"],
    },
    schema_overrides={"ts": pl.Datetime("us", "UTC")},
)


def test_rfm_as_of_truth_table():
    expected = pl.DataFrame(
        {"customer_id": ["A", "B", "E"], "x": [1, 0, 1], "t_x": [4, 0, 7], "T": [9, 7, 8]},
        schema={"customer_id": pl.String, "x": pl.Int64, "t_x": pl.Int64, "T": pl.Int64},
    )
    assert_frame_equal(rfm_as_of(EVENTS, date(2025, 1, 10)), expected)


def test_rfm_as_of_counts_every_event_when_asked():
    rfm = rfm_as_of(EVENTS.lazy(), date(2025, 1, 10), event_types=None)
    assert rfm["customer_id"].to_list() == ["A", "B", "C", "E"]
    assert rfm.filter(pl.col("customer_id") == "C").select("x", "t_x", "T").row(0) == (0, 0, 8)


def test_rfm_as_of_ignores_the_future():
    future = pl.DataFrame(
        {"customer_id": ["A", "F"], "ts": [_ts(2025, 2, 1), _ts(2025, 3, 1)], "event_type": ["purchase", "purchase"]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    assert_frame_equal(rfm_as_of(pl.concat([EVENTS, future]), date(2025, 1, 10)), rfm_as_of(EVENTS, date(2025, 1, 10)))
