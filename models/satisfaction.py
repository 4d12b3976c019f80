"""Dissatisfaction for customers who never answer, corrected for who does answer.

Unhappy customers answer surveys less, so respondents are a biased sample. A response model,
fitted on every invitation (answered or not), gives each answer's response propensity p; the
satisfaction model is trained on respondents weighted by 1/p (inverse propensity), so answers from
the kinds of customers who rarely answer count for more. The same weights give a Hájek estimate
of the population's mean score.

The correction is only as good as the response model: weights fix the part of non-response that
the features explain. Where people skip surveys for reasons the features cannot see (their mood
itself), part of the bias stays. On the simulated world the respondents' mean overstates the truth
by ~0.6 points, these weights remove ~40% of that, and the true propensities would remove all of
it (bench/listening_quality.py prints both).

The booster learns from thousands of answers, not the churn model's hundreds of thousands of
customer-dates, so its leaves need fewer rows (``SATISFACTION_PARAMS``), and it keeps the catalog's
directions as monotone constraints: the silent lie outside the respondents' range (no recent
answer), where an unconstrained tree extrapolates noise. Blending in the churn model's log-odds
was measured and left out: it did not help the silent (docs/satisfaction-model.md).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from models.boosting import train_booster
from models.metrics import expected_calibration_error
from models.sampling import uniform_rows

# Propensities are clipped so that one rare respondent cannot carry the whole estimate.
MIN_PROPENSITY = 0.02
RESPONSE_PARAMS = {"num_leaves": 8, "min_data_in_leaf": 200, "learning_rate": 0.05}  # depth 3 (default) allows 8 leaves
RESPONSE_ROUNDS = 200
# The response model's ~40 leaves a round are pinned down by half a million invitations; above that a
# seeded uniform sample (time order kept) fits it: a uniform sample keeps the answer rate, so its
# propensities stay calibrated, and at a million customers (2.2M invitations) it saves two fits of
# ~2 min each. Every answer still trains the satisfaction model.
RESPONSE_MAX_ROWS = 500_000
HELD_OUT_SHARE = 0.15  # the newest invitations (and answers) judge the response and satisfaction models
SATISFACTION_PARAMS = {"min_data_in_leaf": 100}  # the churn defaults' 300 suit ~2% positives in 100k+ rows, not ~25% in a few thousand


def _time_order_split(n: int, shares: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows are in time order: the oldest share[0] train, the next share[1] validate, the rest test."""
    a, b = int(n * shares[0]), int(n * (shares[0] + shares[1]))
    idx = np.arange(n)
    return idx[:a], idx[a:b], idx[b:]


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(np.sum(y)) < len(y)


def hajek_mean(values: np.ndarray, propensity: np.ndarray) -> float:
    """Inverse-propensity weighted mean, normalised by the weights (Hájek)."""
    w = 1.0 / np.clip(propensity, MIN_PROPENSITY, 1.0)
    return float(np.sum(w * values) / np.sum(w))


class SatisfactionModel:
    """``fit`` takes invitations in time order (features as of each one's sending day)."""

    def __init__(
        self, features: list[str], categorical: list[str], *, dissatisfied_cut: float, monotone: list[int] | None = None, random_state: int = 42
    ):
        self.features = features
        self.categorical = categorical
        self.dissatisfied_cut = dissatisfied_cut
        self.monotone = monotone  # one of -1/0/+1 per feature (models.churn.monotone_directions), None: free
        self.random_state = random_state

    def fit(self, X: np.ndarray, responded: np.ndarray, score: np.ndarray, *, fit_booster=train_booster) -> SatisfactionModel:
        """``fit_booster``: ``train_booster`` here, or ``models.distributed.ClusterFit`` on Dask."""
        responded = np.asarray(responded, dtype=bool)
        self.response_booster_, self.response_metrics_ = self._fit_response(X, responded, fit_booster)
        Xr, scores = X[responded], np.asarray(score, dtype=float)[responded]
        propensity = self.response_propensity(Xr)
        weight = 1.0 / propensity
        weight = weight / weight.mean()
        y = (scores <= self.dissatisfied_cut).astype(int)
        train, valid, test = _time_order_split(len(y), (1 - 2 * HELD_OUT_SHARE, HELD_OUT_SHARE))
        self.booster_: lgb.Booster = fit_booster(
            Xr[train], y[train], self.features, self.categorical, seed=self.random_state,
            weight=weight[train], valid=(Xr[valid], y[valid]), valid_weight=weight[valid], metric="binary_logloss",
            params=SATISFACTION_PARAMS, monotone=self.monotone,
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.held_out_roc_auc_ = float(roc_auc_score(y[test], self.predict_proba(Xr[test]))) if _both_classes(y[test]) else float("nan")
        self.respondents_ = int(len(y))
        self.invitations_ = int(len(responded))
        return self

    def _fit_response(self, X: np.ndarray, responded: np.ndarray, fit_booster) -> tuple[lgb.Booster, dict[str, float]]:
        """P(answer) on every invitation; judged on the newest invitations by a fit on the older ones, then refit on all."""
        metrics = {"response_base_rate": float(responded.mean())}
        sample = uniform_rows(len(responded), RESPONSE_MAX_ROWS, self.random_state)
        self.response_rows_ = int(len(sample))
        older, _, newest = (sample[part] for part in _time_order_split(len(sample), (1 - HELD_OUT_SHARE, 0.0)))

        def fit(rows: np.ndarray) -> lgb.Booster:
            return fit_booster(
                X[rows], responded[rows].astype(int), self.features, self.categorical, seed=self.random_state,
                params=RESPONSE_PARAMS, metric="binary_logloss", num_boost_round=RESPONSE_ROUNDS,
            )

        if _both_classes(responded[older]) and _both_classes(responded[newest]):
            p = fit(older).predict(X[newest])
            y = responded[newest].astype(int)
            metrics |= {
                "response_roc_auc": float(roc_auc_score(y, p)),
                "response_brier": float(brier_score_loss(y, p)),
                "response_ece": expected_calibration_error(y, p),
            }
        return fit(sample), metrics

    def response_propensity(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self.response_booster_.predict(X), MIN_PROPENSITY, 1.0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(dissatisfied if asked), for anyone, respondent or not."""
        return self.booster_.predict(X, num_iteration=self.best_iteration_)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True)

    def population_scores(self, X: np.ndarray, responded: np.ndarray, score: np.ndarray) -> tuple[float, float]:
        """(respondent mean score, non-response-corrected population mean score) over these invitations."""
        responded = np.asarray(responded, dtype=bool)
        scores = np.asarray(score, dtype=float)[responded]
        return float(scores.mean()), hajek_mean(scores, self.response_propensity(X[responded]))
