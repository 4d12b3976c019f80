"""LightGBM binary models: one place that knows our default parameters and how frames become matrices."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import polars as pl

# Tuned for churn data: ~1-2k positives among tens of thousands of rows, ~120 correlated windowed
# features. On 8 simulated worlds (20k customers, 6 snapshots) these took the churn model's mean test
# PR-AUC from 0.0628 to 0.0656 and ROC-AUC from 0.738 to 0.746 (the old set: 31 leaves, depth 8,
# early stopping on average precision after 35-148 rounds). Deeper trees do not help there: the
# simulated churn signal is additive (depth-1 stumps rank as well as depth 4).
DEFAULT_PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.03,  # small steps, many rounds: less variance than a few big trees
    "num_leaves": 7,  # with max_depth 3: at most 7 leaves, so each leaf holds enough positives
    "max_depth": 3,  # depth 1-4 rank alike on the simulator; TreeSHAP cost grows with depth squared
    "min_data_in_leaf": 300,  # ~6 positives per leaf at a 2% base rate: no leaf fitted on a handful
    "feature_fraction": 0.5,  # decorrelates trees over the many near-duplicate 7/30/90-day windows
    "bagging_fraction": 0.8,  # row subsampling: a little more variance reduction
    "bagging_freq": 1,
    "lambda_l2": 10.0,  # shrinks leaf values estimated from few positives
    "cat_smooth": 10.0,  # smooths rare categories toward the prior
    "verbose": -1,
    "deterministic": True,  # same data + seed = same model (reproducible runs)
    "force_col_wise": True,
    "num_threads": 2,
}
NUM_BOOST_ROUND = 3000  # an upper bound only: early stopping ends training (~300-800 rounds at this rate)
EARLY_STOPPING_ROUNDS = 100  # patient: log loss moves slowly at learning_rate 0.03
# Early stopping watches log loss: smooth, and it rewards the probabilities we publish. Average
# precision on a validation snapshot with ~300 positives is too noisy to stop on (it stopped the
# old defaults after 35-148 rounds, wherever a lucky bump fell).
STOPPING_METRIC = "binary_logloss"


def to_matrix(frame: pl.DataFrame, features: list[str], dtype: type = np.float64, rows: np.ndarray | None = None) -> np.ndarray:
    """Features as a matrix in schema order; nulls become NaN (LightGBM's missing value).

    Scoring reads float64 (reasons show the exact values); the fits read ``TRAINING_DTYPE``.
    Columns the frame lacks are all-missing (a table that existed at training and is gone now is
    reported by the caller before it gets here). ``rows``: only these row indices, so a sample of a
    large frame is never copied as a frame first.
    """
    kind = pl.Float32 if dtype == np.float32 else pl.Float64
    # filled one column at a time: a frame of the cast columns before the matrix would double the peak
    matrix = np.full((frame.height if rows is None else len(rows), len(features)), np.nan, dtype=dtype, order="F")
    for j, feature in enumerate(features):
        if feature in frame.columns:
            column = frame[feature].cast(kind).to_numpy()
            matrix[:, j] = column if rows is None else column[rows]
    return matrix


# The fits' matrices are float32: LightGBM bins every value and reads float32 without a copy, and the
# final fit's matrix at a million customers (~3.7M rows x ~160 features) is 2.4 GB instead of 4.7 GB.
# Split thresholds then lie midway between float32 training values, so a float64 value at scoring goes
# the way of its float32 rounding unless it is within half a float32 step of a threshold
# (docs/scale.md, "Training on one machine").
TRAINING_DTYPE = np.float32


def training_matrix(frame: pl.DataFrame, features: list[str], rows: np.ndarray | None = None) -> np.ndarray:
    return to_matrix(frame, features, TRAINING_DTYPE, rows)


def booster_params(*, seed: int, params: dict[str, object] | None, metric: str, monotone: list[int] | None) -> dict[str, object]:
    """The parameters a fit runs with: our defaults, the stopping metric and seed, constraints, then ``params``."""
    constraints = {"monotone_constraints": list(monotone)} if monotone is not None and any(monotone) else {}
    return {**DEFAULT_PARAMS, "metric": metric, "seed": seed, **constraints, **(params or {})}


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
    metric: str = STOPPING_METRIC,
    monotone: list[int] | None = None,
    num_boost_round: int | None = None,
) -> lgb.Booster:
    """Fit a binary booster; with ``valid``, stop early on ``metric`` (log loss by default).

    ``monotone`` (one of -1/0/+1 per feature) forbids the model from bending the score against a
    feature's known direction; explicit ``params`` still win.
    """
    merged = booster_params(seed=seed, params=params, metric=metric, monotone=monotone)
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
