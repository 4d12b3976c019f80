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
        X = self.matrix(frame)
        out = {"churn_probability": self.churn.predict_proba(X)}
        if self.satisfaction is not None:
            out["dissatisfaction_probability"] = self.satisfaction.predict_proba(X)
        else:
            out["dissatisfaction_probability"] = np.full(len(X), np.nan)
        return pl.DataFrame(out).with_columns(pl.col("dissatisfaction_probability").fill_nan(None))

    def predict_pandas(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(pl.from_pandas(frame)).to_pandas()
