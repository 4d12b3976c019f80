"""LightGBM binary models: one place that knows our default parameters and how frames become matrices."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import polars as pl

# Shallow-ish trees on purpose: TreeSHAP reasons cost grows with depth squared (STACK_NOTES).
DEFAULT_PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 8,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 2,
}
NUM_BOOST_ROUND = 1000
EARLY_STOPPING_ROUNDS = 50


def to_matrix(frame: pl.DataFrame, features: list[str]) -> np.ndarray:
    """Features as a float64 matrix in schema order; nulls become NaN (LightGBM's missing value).

    Columns the frame lacks are all-missing (a table that existed at training and is gone now is
    reported by the caller before it gets here).
    """
    present = [pl.col(f).cast(pl.Float64) if f in frame.columns else pl.lit(None, pl.Float64).alias(f) for f in features]
    return frame.select(present).to_numpy().astype(np.float64, copy=False)


def train_booster(
    X: np.ndarray,
    y: np.ndarray,
    features: list[str],
    categorical: list[str],
    *,
    seed: int,
    params: dict[str, object] | None = None,
    weight: np.ndarray | None = None,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    valid_weight: np.ndarray | None = None,
    metric: str = "average_precision",
    num_boost_round: int | None = None,
) -> lgb.Booster:
    """Fit a binary booster; with ``valid``, stop early on ``metric`` (average precision by default)."""
    merged = {**DEFAULT_PARAMS, "metric": metric, "seed": seed, **(params or {})}
    train_set = lgb.Dataset(X, label=y, weight=weight, feature_name=features, categorical_feature=categorical, free_raw_data=False)
    callbacks = [lgb.log_evaluation(0)]
    valid_sets = []
    if valid is not None:
        valid_sets = [lgb.Dataset(valid[0], label=valid[1], weight=valid_weight, reference=train_set)]
        callbacks.append(lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False))
    return lgb.train(
        merged,
        train_set,
        num_boost_round=num_boost_round or NUM_BOOST_ROUND,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
