"""BG/NBD (Fader, Hardie & Lee 2005): the textbook buy-till-you-die baseline for non-contractual churn.

Each customer buys at a Poisson rate lambda ~ Gamma(r, alpha) and, after each purchase, drops out
for good with probability p ~ Beta(a, b). From (x repeat purchases, t_x the time of the last one,
T the customer's age, both counted from the first purchase) the model gives P(alive), the churn
ranking a CX team could get from a purchase log alone: quietchurn must do at least as well.

Own small implementation (scipy only): `lifetimes` is unmaintained and `pymc-marketing` is heavy.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

PARAMS = ("r", "alpha", "a", "b")


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (FHL 2005, eq. 6), for params (r, alpha, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + T)
    # dropped right after the last purchase: only possible with a repeat purchase (x > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return common + np.logaddexp(still_alive, dropped)


def p_alive(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still alive at T | x, t_x, T) (FHL 2005, eq. 11); 1 for customers without a repeat purchase.

    With x = 0 the model has given them no chance to drop out yet (dropout follows a purchase).
    """
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_odds_dead, 700.0))), 1.0)


def expected_purchases(params: np.ndarray, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10).

    Unlike P(alive) it ranks one-time buyers too: an old single purchase predicts few new ones.
    """
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if np.isclose(a, 1.0):
        raise ValueError("expected_purchases needs a != 1 (the closed form divides by a - 1)")
    z = t / (alpha + T + t)
    numerator = (a + b + x - 1) / (a - 1) * (1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
    return numerator * p_alive(params, x, t_x, T)


class BGNBD:
    """Maximum-likelihood BG/NBD: `fit(x, t_x, T)` then `p_alive(x, t_x, T)`; times in any one unit (days here)."""

    def fit(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        _check_rfm(x, t_x, T)
        # times rescaled to a unit of the mean age: alpha's optimum then lies near 1 like the others
        scale = float(T.mean()) or 1.0
        t_x_s, T_s = t_x / scale, T / scale

        def loss(log_params: np.ndarray) -> float:
            return -float(bgnbd_log_likelihood(np.exp(log_params), x, t_x_s, T_s).mean())

        result = minimize(loss, np.zeros(4), method="L-BFGS-B", bounds=[(-10.0, 10.0)] * 4)
        r, alpha, a, b = np.exp(result.x)
        self.params_ = np.array([r, alpha * scale, a, b])
        self.log_likelihood_ = -result.fun * len(x)
        self.converged_ = bool(result.success)
        return self

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return p_alive(self.params_, x, t_x, T)

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return expected_purchases(self.params_, t, x, t_x, T)

    @property
    def named_params_(self) -> dict[str, float]:
        return dict(zip(PARAMS, (float(v) for v in self.params_)))


def _check_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if not (len(x) == len(t_x) == len(T)) or len(x) == 0:
        raise ValueError(f"x, t_x and T must be equally long and not empty, got {len(x)}, {len(t_x)}, {len(T)}")
    if (x < 0).any() or (t_x < 0).any() or (t_x > T).any() or ((x == 0) & (t_x != 0)).any():
        raise ValueError("need 0 <= t_x <= T, x >= 0, and t_x = 0 where x = 0 (times from each customer's first purchase)")


def rfm_as_of(events: pl.DataFrame | pl.LazyFrame, as_of: date, event_types: tuple[str, ...] | None = ("purchase",)) -> pl.DataFrame:
    """Per customer with a qualifying event strictly before `as_of` (00:00 UTC): frequency, recency and age in days.

    Purchases are counted by UTC day, as BG/NBD counts them: `x` = purchase days after the first,
    `t_x` = days from the first to the last, `T` = days from the first to `as_of`.
    `event_types` None counts every event.
    """
    lazy = events.lazy()
    if event_types is not None:
        lazy = lazy.filter(pl.col("event_type").is_in(list(event_types)))
    cutoff = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    day = pl.col("ts").dt.convert_time_zone("UTC").dt.date()
    return (
        lazy.filter(pl.col("ts") < cutoff)
        .select("customer_id", day=day)
        .unique()
        .group_by("customer_id")
        .agg(x=pl.len() - 1, first=pl.col("day").min(), last=pl.col("day").max())
        .select(
            "customer_id",
            pl.col("x").cast(pl.Int64),
            t_x=(pl.col("last") - pl.col("first")).dt.total_days(),
            T=(pl.lit(as_of) - pl.col("first")).dt.total_days(),
        )
        .sort("customer_id")
        .collect()
    )
