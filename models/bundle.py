"""Everything scoring needs, in one object behind one MLflow model URI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from features.catalog import FeatureSchema, FeatureSpec
from models.boosting import to_matrix
from models.churn import ChurnModel
from models.inputs import TrainingInputs
from models.satisfaction import SatisfactionModel

PREDICT_ROWS = 100_000


@dataclass
class ModelBundle:
    """The fitted models and the one description of their inputs they were trained on."""

    inputs: TrainingInputs  # the feature schema: columns, categorical codes, catalog, tables
    churn: ChurnModel
    satisfaction: SatisfactionModel | None
    metadata: dict = field(default_factory=dict)  # split dates, label window, calibration method, backtest choice
    reference: dict | None = None  # drift reference (models/reference.py); None in models trained before it existed

    # Read-only views of ``inputs``: scoring reads these names, the schema holds the values.
    @property
    def schema(self) -> FeatureSchema:
        """How scoring rebuilds exactly the training columns."""
        return self.inputs.schema

    @property
    def features(self) -> list[str]:
        return self.inputs.features

    @property
    def categorical(self) -> list[str]:
        return self.inputs.categorical

    @property
    def categorical_mappings(self) -> dict[str, dict[str, int]]:
        return self.inputs.categorical_mappings

    @property
    def catalog(self) -> tuple[FeatureSpec, ...]:
        return self.inputs.catalog

    @property
    def tables(self) -> list[str]:
        """Input tables present at training: a missing one at scoring is reported."""
        return self.inputs.tables

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
