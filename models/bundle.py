"""Everything scoring needs, in one object behind one MLflow model URI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from features.catalog import FeatureSchema
from models.boosting import to_matrix
from models.churn import ChurnModel
from models.satisfaction import SatisfactionModel

PREDICT_ROWS = 100_000


@dataclass
class ModelBundle:
    features: list[str]
    categorical: list[str]
    categorical_mappings: dict[str, dict[str, int]]  # column -> {value: code}, codes as fed to LightGBM
    catalog: list[dict]  # one entry per feature: name, family, description, template, direction
    churn: ChurnModel
    satisfaction: SatisfactionModel | None
    tables: list[str]  # input tables present at training: a missing one at scoring is reported
    metadata: dict = field(default_factory=dict)  # split dates, label window, calibration method
    schema: FeatureSchema | None = None  # how scoring rebuilds exactly the training columns

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        return to_matrix(frame, self.features)

    def missing_features(self, columns: list[str]) -> list[str]:
        return [f for f in self.features if f not in columns]

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The scoring columns for a feature frame (extra columns are ignored, missing ones are null)."""
        empty = pl.DataFrame(schema={"churn_probability": pl.Float64, "dissatisfaction_probability": pl.Float64})
        return pl.concat([empty, *self._by_chunks(frame, self._predict)])

    def response_propensity(self, frame: pl.DataFrame) -> np.ndarray:
        """P(answers when asked) per row, from the satisfaction model's response model."""
        if self.satisfaction is None:
            raise ValueError("this model has no satisfaction model, hence no response model")
        return np.concatenate([np.empty(0), *self._by_chunks(frame, lambda rows: self.satisfaction.response_propensity(self.matrix(rows)))])

    @staticmethod
    def _by_chunks(frame: pl.DataFrame, fn):
        """``fn`` over PREDICT_ROWS rows at a time (no call for no rows): rows are scored independently,
        and the float64 matrix of a million customers would hold another GB beside the frame."""
        return [fn(frame.slice(start, PREDICT_ROWS)) for start in range(0, frame.height, PREDICT_ROWS)]

    def _predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        X = self.matrix(frame)
        out = {"churn_probability": self.churn.predict_proba(X)}
        if self.satisfaction is not None:
            out["dissatisfaction_probability"] = self.satisfaction.predict_proba(X)
        else:
            out["dissatisfaction_probability"] = np.full(len(X), np.nan)
        return pl.DataFrame(out).with_columns(pl.col("dissatisfaction_probability").fill_nan(None))

    def predict_pandas(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(pl.from_pandas(frame)).to_pandas()
