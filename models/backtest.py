"""Model selection over time: a walk-forward backtest of a few LightGBM settings and of the baselines.

Each fold (models.split.walk_forward) fits every candidate on earlier snapshots only and predicts
the fold's snapshot; the baselines score the same rows. The candidate with the best mean PR-AUC
wins, except that the simplest candidate within one standard error of the best is preferred (the
folds are few and noisy: a more flexible setting must win clearly to be chosen). Its fold
predictions are the out-of-fold scores the final model is calibrated on, and its early-stopping
rounds set the final refit's length. Then the share of a linear half in the score (a log-odds blend
with models.linear.MonotoneLogistic, fitted on the same fold rows) is chosen the same way: the best
mean PR-AUC over the folds, ties to trees alone. docs/dates-and-training.md, "How the model is chosen".
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy import stats

from configs import Config
from models.baselines import LogisticBaseline, recency_days, recency_score, survey_score
from models.boosting import to_matrix, train_booster, training_matrix
from models.churn import monotone_directions
from models.inputs import LABEL, TrainingInputs
from models.linear import MonotoneLogistic
from models.metrics import ranking_metrics
from models.sampling import customer_bucket, customer_sample
from models.split import Fold

SELECTION_METRIC = "pr_auc"
# 1 customer in STOPPING_SHARE of a fold's training rows is held out to stop the boosting early:
# by customer, so no one is on both sides, and inside the fold's past, so the fold's as-of stays unseen.
STOPPING_SHARE = 5
# The booster's share of the churn score's log-odds, trees alone first (chosen on a tie); the rest is
# the linear half. Three levels: the folds are too few to tune a finer weight.
BOOSTER_WEIGHTS = (1.0, 0.7, 0.5)
LINEAR = "linear_margin"


@dataclass(frozen=True)
class Candidate:
    """A LightGBM setting: parameters over models.boosting.DEFAULT_PARAMS, monotone constraints on or off."""

    name: str
    params: dict
    monotone: bool = True


# Simplest first: on a tie within one standard error the earlier one is chosen.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("regularised", {"num_leaves": 4, "max_depth": 2, "min_data_in_leaf": 600, "lambda_l2": 30.0, "feature_fraction": 0.4}),
    Candidate("default", {}),  # today's DEFAULT_PARAMS, constrained by the catalog's directions
    Candidate("unconstrained", {}, monotone=False),
    Candidate("flexible", {"num_leaves": 15, "max_depth": 5, "min_data_in_leaf": 100, "lambda_l2": 3.0}),
    # linear leaves can bend against a direction whatever the split constraints say: left free
    Candidate("linear_tree", {"linear_tree": True, "linear_lambda": 1.0}, monotone=False),
)


@dataclass
class Backtest:
    folds: tuple[Fold, ...]
    per_fold: dict[str, list[float]]  # candidate -> its PR-AUC on each fold, in fold order
    chosen: Candidate
    rounds: int  # boosting rounds of the final refit: the median of the chosen candidate's early stops
    booster_weight: float  # the chosen candidate's share of the blended log-odds (1.0: no linear half)
    per_weight: dict[float, list[float]]  # booster weight -> the blend's PR-AUC on each fold
    scores: pl.DataFrame  # as_of, customer_id, churned, model (chosen, raw), baseline_* on every fold row
    notes: list[str]


def candidate_params(candidate: Candidate, config: Config) -> dict:
    """A candidate's parameters; the config's training.lightgbm still wins."""
    return {**candidate.params, **config.training.lightgbm}


def candidate_monotone(candidate: Candidate, spec: TrainingInputs) -> list[int] | None:
    return monotone_directions(spec.features, spec.categorical, spec.catalog) if candidate.monotone else None


def _labels(frame: pl.DataFrame) -> np.ndarray:
    return frame[LABEL].cast(pl.Int8).to_numpy()


def fit_candidate(candidate: Candidate, rows: pl.DataFrame, spec: TrainingInputs, config: Config) -> lgb.Booster:
    """A fold's booster, stopped early on a held-out share of the fold's own customers."""
    seed = config.training.seed
    stop = customer_bucket(seed + 1) % STOPPING_SHARE == 0
    fit, held = rows.filter(~stop), rows.filter(stop)
    return train_booster(
        training_matrix(fit, spec.features), _labels(fit), spec.features, spec.categorical,
        seed=seed, params=candidate_params(candidate, config), monotone=candidate_monotone(candidate, spec),
        valid=(training_matrix(held, spec.features), _labels(held)),
    )


def _fold_scores(training: pl.DataFrame, fold: Fold, spec: TrainingInputs, config: Config, candidates, rounds) -> pl.DataFrame:
    seed = config.training.seed
    rows = customer_sample(training, fold.train, config.training.backtest.max_rows, seed)
    # the fold's snapshot as a matrix gathered from the frame, and as a frame only of the few columns
    # the baselines read: a copy of its every column beside the matrix was ~1 GB at 1M customers
    on_fold = np.flatnonzero(training.select(pl.col("as_of") == fold.as_of).to_series().to_numpy())
    X = to_matrix(training, spec.features, rows=on_fold)
    read = ["as_of", "customer_id", LABEL, *spec.recency_features, *[c for c in [spec.last_score_feature] if c and c in training.columns]]
    target = training.select(list(dict.fromkeys(read)))[on_fold]
    columns = {}
    for candidate in candidates:
        booster = fit_candidate(candidate, rows, spec, config)
        best = int(booster.best_iteration or booster.current_iteration())
        rounds[candidate.name].append(best)
        columns[candidate.name] = booster.predict(X, num_iteration=best)
    X_rows, y_rows = training_matrix(rows, spec.features), _labels(rows)
    directions = monotone_directions(spec.features, spec.categorical, spec.catalog)
    columns[LINEAR] = MonotoneLogistic(spec.features, spec.categorical, directions, random_state=seed).fit(X_rows, y_rows).margin(X)
    logreg = LogisticBaseline(spec.features, spec.categorical, random_state=seed).fit(X_rows, y_rows)
    columns["baseline_recency"] = recency_score(recency_days(target, spec.recency_features))
    columns["baseline_logreg"] = logreg.predict_proba(X)
    if spec.last_score_feature and spec.last_score_feature in target.columns:
        columns["baseline_survey"] = survey_score(target[spec.last_score_feature].fill_null(np.nan).to_numpy())
    return target.select("as_of", "customer_id", LABEL).with_columns(pl.Series(k, v, dtype=pl.Float64) for k, v in columns.items())


def fold_metric(scores: pl.DataFrame, column: str, metric: str, config: Config) -> list[float]:
    """``metric`` of one score column on each fold (as_of order), capacity taken per fold as at scoring."""
    out = []
    for (_,), fold in scores.sort("as_of").group_by("as_of", maintain_order=True):
        capacity = config.scoring.capacity_for(fold.height)
        out.append(ranking_metrics(_labels(fold), fold[column].to_numpy(), capacity)[metric])
    return out


def blend(probability: pl.Expr, linear_margin: pl.Expr, booster_weight: float) -> pl.Expr:
    """The blended probability: expit of booster_weight x the booster's log-odds + the rest x the linear margin."""
    p = probability.clip(1e-15, 1 - 1e-15)
    logit = booster_weight * (p / (1 - p)).log() + (1 - booster_weight) * linear_margin
    return 1 / (1 + (-logit).exp())


def choose(per_fold: dict[str, list[float]]) -> str:
    """The simplest candidate (dict order) whose mean is within one standard error of the best mean."""
    means = {name: float(np.nanmean(values)) for name, values in per_fold.items()}
    best = max(means, key=lambda name: (means[name], -list(means).index(name)))
    values = np.asarray(per_fold[best], dtype=float)
    se = float(np.nanstd(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return next(name for name in per_fold if means[name] >= means[best] - se)


def paired_difference(model: list[float], rival: list[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean of the per-fold differences model − rival and its t interval (NaN bounds from one fold)."""
    diff = np.asarray(model, dtype=float) - np.asarray(rival, dtype=float)
    k, mean = len(diff), float(np.mean(diff))
    if k < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "folds": float(k)}
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1) * np.std(diff, ddof=1) / np.sqrt(k))
    return {"mean": mean, "low": mean - half, "high": mean + half, "folds": float(k)}


def run_backtest(training: pl.DataFrame, folds: tuple[Fold, ...], spec: TrainingInputs, config: Config) -> Backtest:
    """Every configured candidate and baseline on every fold; the chosen candidate's scores become ``model``."""
    wanted = config.training.backtest.candidates
    candidates = [c for c in CANDIDATES if c.name in wanted]
    notes = []
    if len(folds) < config.training.backtest.folds:
        notes.append(
            f"only {len(folds)} backtest fold(s) have earlier training data (training.backtest.folds is "
            f"{config.training.backtest.folds}): raise training.snapshots for more"
        )
    rounds: dict[str, list[int]] = {c.name: [] for c in candidates}
    scores = pl.concat([_fold_scores(training, fold, spec, config, candidates, rounds) for fold in folds])
    per_fold = {c.name: fold_metric(scores, c.name, SELECTION_METRIC, config) for c in candidates}
    chosen = next(c for c in candidates if c.name == choose(per_fold))
    blends = {w: blend(pl.col(chosen.name), pl.col(LINEAR), w) for w in BOOSTER_WEIGHTS}
    per_weight = {w: fold_metric(scores.with_columns(model=b), "model", SELECTION_METRIC, config) for w, b in blends.items()}
    means = {w: float(np.nanmean(v)) for w, v in per_weight.items()}
    weight = max(BOOSTER_WEIGHTS, key=lambda w: (means[w], w))  # ties to the larger booster share
    scores = scores.with_columns(model=blends[weight]).drop(*(c.name for c in candidates), LINEAR)
    return Backtest(folds, per_fold, chosen, int(np.median(rounds[chosen.name])), weight, per_weight, scores, notes)
