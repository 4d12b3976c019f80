"""A logistic regression whose coefficients keep the catalog's directions: the linear half of the churn blend.

Where the churn signal is close to additive and smooth, a linear model ranks as well as boosted
trees and more steadily (trees step where the truth slopes); where it is not, trees win. The churn
model averages both in log-odds with a weight the backtest chooses (models/backtest.py,
docs/dates-and-training.md "How the model is chosen"), so the data decides how much of each.

Like the booster's monotone constraints, each numeric feature's coefficient is bounded by its
catalog ``direction`` (+1: >= 0, -1: <= 0), so a reason such as "3 unresolved tickets" can never
come from a term that lowers risk as tickets grow. Inputs are median-imputed with a missing flag,
clipped to their training 0.5-99.5 percentiles (one extreme customer must not swing a slope) and
standardised. Categorical features are left to the trees.

Contributions are exact for a linear model: coefficient x (value - training mean), summed over a
feature's value and missing-flag terms; they add up to the margin with the bias. The margin is
computed as that row-wise sum, so a customer's score never depends on which rows share its chunk.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from models.chunked import in_chunks
from models.sampling import uniform_rows

# ~200 coefficients: 300k rows pin them down, and the float64 design of 300k x 300 is 0.7 GB
MAX_ROWS = 300_000
CLIP_PERCENTILES = (0.5, 99.5)
L2 = 5.0  # as the logistic baseline's C=0.1 (penalty ||w||^2 / (2C)) on standardised inputs


class MonotoneLogistic:
    def __init__(self, features: list[str], categorical: list[str], directions: list[int] | None, *, random_state: int = 42):
        self.features = features
        self.categorical = categorical
        self.directions = list(directions) if directions is not None else [0] * len(features)
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> MonotoneLogistic:
        if len(X) > MAX_ROWS:  # uniform: the base rate, hence the intercept, stays the population's
            keep = uniform_rows(len(X), MAX_ROWS, self.random_state)
            X, y = X[keep], y[keep]
        self.numeric_ = np.array([i for i, f in enumerate(self.features) if f not in self.categorical], dtype=np.int64)
        values = X[:, self.numeric_]
        seen = ~np.isnan(values)
        any_seen = seen.any(axis=0)
        with np.errstate(all="ignore"):
            self.median_ = np.where(any_seen, np.nanmedian(np.where(any_seen, values, 0.0), axis=0), 0.0)
            low, high = np.nanpercentile(np.where(any_seen, values, 0.0), CLIP_PERCENTILES, axis=0)
        self.low_, self.high_ = np.where(any_seen, low, 0.0), np.where(any_seen, high, 0.0)
        self.flagged_ = np.flatnonzero(~seen.all(axis=0))  # numeric columns with a missing-value flag
        clipped = self._clipped(values)
        self.center_ = clipped.mean(axis=0)
        spread = clipped.std(axis=0)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        self.flag_mean_ = (~seen[:, self.flagged_]).mean(axis=0)
        Z = self._design(X)
        y = np.asarray(y, dtype=np.float64)
        direction = np.asarray(self.directions)[self.numeric_]
        bounds = [(0.0, None) if d > 0 else (None, 0.0) if d < 0 else (None, None) for d in direction]
        bounds += [(None, None)] * (len(self.flagged_) + 1)  # missing flags and the intercept are free
        columns = Z.shape[1]

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            margin = Z @ w[:columns] + w[columns]
            penalty = 0.5 * L2 * float(w[:columns] @ w[:columns])
            residual = expit(margin) - y
            grad = np.append(Z.T @ residual + L2 * w[:columns], residual.sum())
            return float(np.sum(np.logaddexp(0.0, margin) - y * margin)) + penalty, grad

        start = np.zeros(columns + 1)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        start[-1] = np.log(rate / (1 - rate))
        fitted = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
        self.coef_ = fitted.x[:columns]
        self.intercept_ = float(fitted.x[columns])
        self.converged_ = bool(fitted.success)
        return self

    def _clipped(self, values: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(values), self.median_, values)
        return np.clip(filled, self.low_, self.high_)

    def _design(self, X: np.ndarray) -> np.ndarray:
        """Centred, standardised clipped values, then centred missing flags (training means are 0)."""
        values = X[:, self.numeric_]
        scaled = (self._clipped(values) - self.center_) / self.scale_
        flags = np.isnan(values[:, self.flagged_]).astype(np.float64) - self.flag_mean_
        return np.hstack([scaled, flags])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row contributions in log-odds, one column per feature (categoricals 0) plus the bias last."""
        terms = self._design(X) * self.coef_
        out = np.zeros((len(X), len(self.features) + 1))
        numeric = len(self.numeric_)
        out[:, self.numeric_] = terms[:, :numeric]
        out[:, self.numeric_[self.flagged_]] += terms[:, numeric:]  # a flag belongs to its feature (one flag each)
        out[:, -1] = self.intercept_
        return out

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Log-odds: the row-wise sum of the contributions (independent of the other rows scored with it,
        so it is computed a chunk of rows at a time)."""
        return in_chunks(lambda rows: self.contributions(rows).sum(axis=1), X)
