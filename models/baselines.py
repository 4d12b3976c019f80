"""Baselines evaluated on the same out-of-time test snapshot as the model (metric names: docs/dates-and-training.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.chunked import in_chunks


def recency_score(days_since_last_activity: np.ndarray) -> np.ndarray:
    """Recency rule: the longer since the last activity, the riskier; never active = riskiest."""
    days = np.asarray(days_since_last_activity, dtype=float)
    worst = np.nanmax(days) + 1 if np.isfinite(days).any() else 0.0
    return np.where(np.isnan(days), worst, days)


def recency_days(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Row-wise smallest of the recency ``columns`` (days since the last qualifying activity); NaN when all are null."""
    return frame.select(pl.min_horizontal([pl.col(c).cast(pl.Float64) for c in columns])).to_series().fill_null(np.nan).to_numpy()


def survey_score(last_survey_score: np.ndarray) -> np.ndarray:
    """Survey-only rule: lowest last answer first; customers without an answer last."""
    last = np.asarray(last_survey_score, dtype=float)
    unanswered = -(np.nanmax(last) + 1) if np.isfinite(last).any() else 0.0
    return np.where(np.isnan(last), unanswered, -last)


class LogisticBaseline:
    """Logistic regression on the same features: median-imputed, missing flags, scaled; categoricals one-hot."""

    def __init__(self, features: list[str], categorical: list[str], random_state: int = 42):
        self.features = features
        self.categorical = categorical
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        cat_idx = [self.features.index(c) for c in self.categorical]
        num_idx = [i for i in range(len(self.features)) if i not in cat_idx]
        numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler())
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=-1.0), OneHotEncoder(handle_unknown="ignore", min_frequency=20)
        )
        columns = ColumnTransformer([("num", numeric, num_idx), ("cat", categorical, cat_idx)])
        model = LogisticRegression(C=0.1, max_iter=2000, random_state=self.random_state)
        self.pipeline_ = make_pipeline(columns, model).fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return in_chunks(lambda rows: self.pipeline_.predict_proba(rows)[:, 1], X)  # row-wise: a chunk's copies at a time
