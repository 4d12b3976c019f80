"""The churn model: a LightGBM booster plus a calibrator fitted on the validation snapshot.

Class imbalance (a few % churn) is handled deliberately by *not* reweighting or resampling: both
distort the probabilities the CX team reads. Instead early stopping watches average precision
(PR-AUC, which rewards ranking the rare positives) and a calibrator maps scores to probabilities.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from models.boosting import train_booster
from models.calibration import Calibrator


class ChurnModel:
    def __init__(self, features: list[str], categorical: list[str], *, params: dict | None = None, random_state: int = 42):
        self.features = features
        self.categorical = categorical
        self.params = params
        self.random_state = random_state

    def fit(self, X_train: np.ndarray, y_train: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray) -> ChurnModel:
        self.booster_: lgb.Booster = train_booster(
            X_train, y_train, self.features, self.categorical,
            seed=self.random_state, params=self.params, valid=(X_valid, y_valid),
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = Calibrator(random_state=self.random_state).fit(self.predict_raw(X_valid), y_valid)
        return self

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """The booster's own (uncalibrated) probability."""
        return self.booster_.predict(X, num_iteration=self.best_iteration_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(churn within the horizon)."""
        return self.calibrator_.predict(self.predict_raw(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row TreeSHAP contributions in log-odds (last column = bias). The expensive part."""
        return self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True)
