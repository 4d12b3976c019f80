"""The churn model: a LightGBM booster plus a calibrator fitted on out-of-fold backtest predictions.

Class imbalance (a few % churn) is handled deliberately by *not* reweighting or resampling: both
distort the probabilities the CX team reads. Instead the trees are kept small and heavily
regularised for the ~1-2k positives a training run holds (``models.boosting.DEFAULT_PARAMS``),
the number of rounds comes from the backtest's early stops (models.backtest: log loss on held-out
customers, smooth unlike average precision on ~300 positives), and a calibrator fitted on the
backtest's out-of-fold scores maps scores to probabilities.

Monotone constraints follow the catalog's ``direction`` (+1: more never lowers risk, -1: more
never raises it, 0: free), so a reason such as "3 unresolved tickets" can never lower a score and
the model cannot learn a noise wiggle against a known effect. A wrong direction in the catalog
therefore costs accuracy: directions are part of the feature's contract.

With ``booster_weight`` below 1 the score is a log-odds blend of the booster and a logistic
regression bounded by the same directions (models/linear.py), weight chosen by the backtest:
where churn is close to additive the linear half ranks more steadily than trees' steps.
Contributions blend the same way, so reasons still explain the published score.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from scipy.special import expit

from models.boosting import train_booster
from models.calibration import Calibrator
from models.linear import MonotoneLogistic


def monotone_directions(features: list[str], categorical: list[str], catalog: list) -> list[int]:
    """One constraint per feature from catalog entries (dicts or FeatureSpecs); categoricals are free."""
    direction = {}
    for entry in catalog:
        name = entry["name"] if isinstance(entry, dict) else entry.name
        value = entry.get("direction", 0) if isinstance(entry, dict) else entry.direction
        direction[name] = int(np.sign(value or 0))
    return [0 if f in categorical else direction.get(f, 0) for f in features]


class ChurnModel:
    def __init__(
        self,
        features: list[str],
        categorical: list[str],
        *,
        params: dict | None = None,
        monotone: list[int] | None = None,
        num_boost_round: int | None = None,
        booster_weight: float = 1.0,
        directions: list[int] | None = None,
        random_state: int = 42,
    ):
        self.features = features
        self.categorical = categorical
        self.params = params
        self.monotone = monotone
        self.num_boost_round = num_boost_round
        self.booster_weight = booster_weight
        self.directions = directions if directions is not None else monotone  # the linear half's bounds
        self.random_state = random_state

    def fit(
        self, X: np.ndarray, y: np.ndarray, raw_out_of_fold: np.ndarray, y_out_of_fold: np.ndarray, *, fit_booster=train_booster
    ) -> ChurnModel:
        """Boost ``num_boost_round`` rounds on all of X; calibrate on scores of models that never saw their rows.

        The final model's own training scores would be overconfident; out-of-fold scores come from
        the same setting fitted on less history, the closest honest stand-in. ``fit_booster`` is
        where the trees grow: ``train_booster`` here, or ``models.distributed.ClusterFit`` on Dask.
        """
        self.booster_: lgb.Booster = fit_booster(
            X, y, self.features, self.categorical,
            seed=self.random_state, params=self.params, monotone=self.monotone, num_boost_round=self.num_boost_round,
        )
        self.best_iteration_ = int(self.booster_.current_iteration())
        self.linear_ = None
        if self.booster_weight < 1:
            self.linear_ = MonotoneLogistic(self.features, self.categorical, self.directions, random_state=self.random_state).fit(X, y)
        self.calibrator_ = Calibrator(random_state=self.random_state).fit(raw_out_of_fold, y_out_of_fold)
        return self

    def _linear(self) -> MonotoneLogistic | None:
        return getattr(self, "linear_", None)  # models pickled before the blend have none

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """The (uncalibrated) probability: the booster's own, or its log-odds blend with the linear half."""
        linear = self._linear()
        if linear is None:
            return self.booster_.predict(X, num_iteration=self.best_iteration_)
        w = self.booster_weight
        return expit(w * self.booster_.predict(X, num_iteration=self.best_iteration_, raw_score=True) + (1 - w) * linear.margin(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(churn within the horizon)."""
        return self.calibrator_.predict(self.predict_raw(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row contributions in log-odds (last column = bias): TreeSHAP, blended with the linear
        half's exact terms when there is one. The expensive part."""
        trees = self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True)
        linear = self._linear()
        if linear is None:
            return trees
        w = self.booster_weight
        return w * trees + (1 - w) * linear.contributions(X)
