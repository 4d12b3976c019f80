"""Turn raw booster scores into probabilities that mean what they say.

Isotonic or sigmoid (Platt on the log-odds), chosen on the backtest's out-of-fold scores by
cross-fitted Brier score, then refit on all of them. Isotonic wins when there are enough rows to
estimate a free-form curve; sigmoid is safer when they are few.

Calibration must never cost ranking: isotonic regression is a step function and would tie
hundreds of customers at one probability (on one simulated world that alone lowered test PR-AUC
from 0.047 to 0.045), so its ties are broken by the raw score, moving no probability by more than
``TIE_BREAK``.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

_EPS = 1e-6
TIE_BREAK = 1e-6  # weight of the raw score mixed into isotonic output: strictly increasing, probabilities unchanged in practice


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Maps raw probabilities to calibrated ones; ``method`` is 'isotonic', 'sigmoid' or 'auto'."""

    def __init__(self, method: str = "auto", folds: int = 5, random_state: int = 0):
        self.method = method
        self.folds = folds
        self.random_state = random_state

    @staticmethod
    def _fit_one(method: str, raw: np.ndarray, y: np.ndarray):
        if method == "isotonic":
            return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        return LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)

    @staticmethod
    def _apply(method: str, fitted, raw: np.ndarray) -> np.ndarray:
        if method == "isotonic":
            return (1 - TIE_BREAK) * fitted.predict(raw) + TIE_BREAK * raw  # stays within [0, 1]
        return fitted.predict_proba(_logit(raw).reshape(-1, 1))[:, 1]

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=int)
        self.cv_brier_ = {}
        if self.method == "auto":
            splitter = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
            for method in ("isotonic", "sigmoid"):
                out = np.empty_like(raw)
                for fit_idx, eval_idx in splitter.split(raw.reshape(-1, 1), y):
                    out[eval_idx] = self._apply(method, self._fit_one(method, raw[fit_idx], y[fit_idx]), raw[eval_idx])
                self.cv_brier_[method] = float(brier_score_loss(y, out))
            self.method_ = min(self.cv_brier_, key=self.cv_brier_.get)
        else:
            self.method_ = self.method
        self.fitted_ = self._fit_one(self.method_, raw, y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(self._apply(self.method_, self.fitted_, np.asarray(raw, dtype=float)), 0.0, 1.0)
