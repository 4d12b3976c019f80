"""Fit the churn and satisfaction models and the baselines out of time; evaluate on the test snapshot.

The churn model's setting is chosen by a walk-forward backtest over the snapshots before the test
one (models.backtest), refit on all of them and calibrated on the backtest's out-of-fold scores.

Pure: frames in, a :class:`TrainingResult` out. MLflow logging and registration live in
``models.registry``; reading data lives in ``flows``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from configs import Config
from features.sufficiency import CannotTrain, label_problem
from models.baselines import LogisticBaseline, recency_days, recency_score, survey_score
from models.boosting import to_matrix, train_booster, training_matrix
from models.bundle import ModelBundle
from models.backtest import SELECTION_METRIC, Backtest, candidate_monotone, candidate_params, fold_metric, paired_difference, run_backtest
from models.churn import ChurnModel, monotone_directions
from models.inputs import LABEL, TrainingInputs
from models.metrics import probability_metrics, ranking_metrics
from models.reference import training_reference
from models.sampling import customer_rows, rows_on, uniform_rows_on
from models.satisfaction import SatisfactionModel
from models.split import TimeSplit, split_by_time, walk_forward

# Invitations of the last quarter of survey history give the run's respondent / population score.
SCORE_WINDOW_DAYS = 90
MIN_ANSWERS_FOR_SATISFACTION = 200
# The logistic baseline learns ~200 coefficients: half a million rows pin them down, while sklearn's
# imputer/scaler/solver copies of 3.4M rows (1M customers) took 22 GB
LOGREG_MAX_ROWS = 500_000


@dataclass
class TrainingResult:
    bundle: ModelBundle
    split: TimeSplit
    metrics: dict[str, float]
    test_scores: pl.DataFrame  # customer_id, churned, model / raw / baseline scores on the test snapshot
    notes: list[str]
    backtest: Backtest | None = None  # the folds' scores: the gate's paired comparisons


def _labels(frame: pl.DataFrame) -> np.ndarray:
    return frame[LABEL].cast(pl.Int8).to_numpy()


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def evaluate_on_test(test: pl.DataFrame, scores: dict[str, np.ndarray], capacity: int) -> dict[str, float]:
    """Ranking metrics for every scorer on the same test snapshot, with the metric prefixes of docs/dates-and-training.md."""
    y = _labels(test)
    out: dict[str, float] = {}
    for prefix, score in scores.items():
        out |= _prefixed(prefix, ranking_metrics(y, score, capacity))
    return out


def train_churn(
    training: pl.DataFrame, spec: TrainingInputs, config: Config, fit_booster=train_booster, notes: list[str] | None = None
) -> tuple[ChurnModel, TimeSplit, pl.DataFrame, Backtest]:
    """Choose a setting by walk-forward backtest, then refit it on every snapshot before the test one
    (above training.max_rows rows, on every snapshot of a seeded sample of customers; said in ``notes``).

    The backtest's fits (samples of at most training.backtest.max_rows) run here; the refit
    runs on ``fit_booster`` (the cluster's with engine.kind dask, docs/scale.md)."""
    dates = training["as_of"].unique().sort().to_list()
    split = split_by_time(dates, config.churn.horizon_days + config.churn.grace_days)
    # checked before any fit: a fit on one class fails deep in LightGBM or the calibrator
    problem = label_problem(training.select("as_of", LABEL), {"training": split.train, "validation": [split.valid], "test": [split.test]})
    if problem:
        raise CannotTrain(problem)
    history = split.history
    folds = walk_forward(list(history), split.label_days, config.training.backtest.folds)
    backtest = run_backtest(training, folds, spec, config)
    # neither the training part nor the refit's sample is copied as a frame: the refit's matrix is
    # gathered from the frame column by column (at 1M customers each copy was GBs; docs/scale.md,
    # "Training on one machine")
    training_rows = rows_on(training, history)
    cap = config.training.max_rows or training_rows
    fit_rows = customer_rows(training, history, cap, config.training.seed)
    if len(fit_rows) < training_rows and notes is not None:
        notes.append(
            f"churn model refit on every snapshot of a seeded sample of customers: {len(fit_rows):,} of the "
            f"{training_rows:,} training rows (training.max_rows = {cap:,})"
        )
    model = ChurnModel(
        spec.features,
        spec.categorical,
        params=candidate_params(backtest.chosen, config),
        monotone=candidate_monotone(backtest.chosen, spec),
        num_boost_round=backtest.rounds,
        booster_weight=backtest.booster_weight,
        directions=monotone_directions(spec.features, spec.categorical, list(spec.catalog)),
        random_state=config.training.seed,
    ).fit(
        training_matrix(training, spec.features, fit_rows), _labels(training)[fit_rows],
        backtest.scores["model"].to_numpy(), _labels(backtest.scores), fit_booster=fit_booster,
    )
    return model, split, training.filter(pl.col("as_of") == split.test), backtest


def backtest_metrics(backtest: Backtest, config: Config) -> dict[str, float]:
    """Selection and gate evidence for MLflow: means over folds, and model − baseline paired differences."""
    gate_metric = config.training.gate.metric.removeprefix("test_")
    out = {"backtest_folds": float(len(backtest.folds)), "backtest_rounds": float(backtest.rounds), "backtest_booster_weight": backtest.booster_weight}
    out |= {f"backtest_booster_weight_{w:.1f}_{SELECTION_METRIC}": float(np.nanmean(v)) for w, v in backtest.per_weight.items()}
    out |= {f"backtest_candidate_{name}_{SELECTION_METRIC}": float(np.nanmean(v)) for name, v in backtest.per_fold.items()}
    baselines = [c for c in backtest.scores.columns if c.startswith("baseline_")]
    for metric in dict.fromkeys((SELECTION_METRIC, "roc_auc", gate_metric)):
        model = fold_metric(backtest.scores, "model", metric, config)
        out[f"backtest_{metric}"] = float(np.mean(model))
        for column in baselines:
            rival = fold_metric(backtest.scores, column, metric, config)
            out[f"backtest_{column}_{metric}"] = float(np.mean(rival))
            if metric == gate_metric:
                name = column.removeprefix("baseline_")
                out |= {f"backtest_delta_{name}_{metric}_{k}": v for k, v in paired_difference(model, rival).items() if k != "folds"}
    return out


def train_satisfaction(surveys: pl.DataFrame | None, spec: TrainingInputs, config: Config, notes: list[str], fit_booster=train_booster):
    """Response + satisfaction models from invitations (features as of each one's sending day; docs/satisfaction-model.md)."""
    if surveys is None or surveys.height == 0:
        notes.append("no surveys table: no satisfaction model was possible; dissatisfaction_probability is null")
        return None, {}
    surveys = surveys.sort("sent_at")
    answers = int(surveys["responded"].sum())
    if answers < MIN_ANSWERS_FOR_SATISFACTION:
        notes.append(f"only {answers} survey answers (< {MIN_ANSWERS_FOR_SATISFACTION}): no satisfaction model trained")
        return None, {}
    X = training_matrix(surveys, spec.features)
    responded = surveys["responded"].to_numpy()
    score = surveys["score"].fill_null(np.nan).to_numpy()
    model = SatisfactionModel(
        spec.features, spec.categorical, dissatisfied_cut=config.survey.dissatisfied_cut,
        monotone=monotone_directions(spec.features, spec.categorical, list(spec.catalog)), random_state=config.training.seed,
    ).fit(X, responded, score, fit_booster=fit_booster)
    if model.response_rows_ < model.invitations_:
        notes.append(f"response model fit on a sample of {model.response_rows_:,} of the {model.invitations_:,} invitations (every answer trains the satisfaction model)")
    recent = (surveys["sent_at"] >= surveys["sent_at"].max() - timedelta(days=SCORE_WINDOW_DAYS)).to_numpy()
    respondent, population = model.population_scores(X[recent], responded[recent], score[recent])
    return model, {
        **model.response_metrics_,
        "satisfaction_roc_auc": model.held_out_roc_auc_,
        "respondent_score": respondent,
        "estimated_population_score": population,
        "survey_invitations": float(model.invitations_),
        "response_fit_rows": float(model.response_rows_),
        "survey_answers": float(model.respondents_),
    }


def train_models(
    training: pl.DataFrame, spec: TrainingInputs, config: Config, surveys: pl.DataFrame | None = None, fit_booster=train_booster
) -> TrainingResult:
    """Train everything on ``training`` (as_of, customer_id, features, churned) and evaluate out of time.

    ``fit_booster`` grows the final boosters (``models.distributed.ClusterFit`` on a Dask cluster)."""
    notes: list[str] = []
    churn, split, test, backtest = train_churn(training, spec, config, fit_booster, notes)
    notes.extend(backtest.notes)
    X_test = to_matrix(test, spec.features)
    capacity = config.scoring.capacity_for(test.height)
    calibrated, raw = churn.predict_proba(X_test), churn.predict_raw(X_test)

    # a uniform sample keeps the base rate, so its probabilities stay comparable
    logreg_rows = uniform_rows_on(training, split.history, LOGREG_MAX_ROWS, config.training.seed)
    training_rows = rows_on(training, split.history)
    if len(logreg_rows) < training_rows:
        notes.append(f"logistic baseline fit on a sample of {len(logreg_rows):,} of the {training_rows:,} training rows")
    logreg = LogisticBaseline(spec.features, spec.categorical, random_state=config.training.seed).fit(
        training_matrix(training, spec.features, logreg_rows), _labels(training)[logreg_rows]
    )
    scorers = {
        "test_": calibrated,
        "baseline_recency_": recency_score(recency_days(test, spec.recency_features)),
        "baseline_logreg_": logreg.predict_proba(X_test),
    }
    if spec.last_score_feature and spec.last_score_feature in test.columns:
        scorers["baseline_survey_"] = survey_score(test[spec.last_score_feature].fill_null(np.nan).to_numpy())
    metrics = evaluate_on_test(test, scorers, capacity)
    y_test = _labels(test)
    metrics |= _prefixed("test_", probability_metrics(y_test, calibrated))
    metrics |= _prefixed("test_uncalibrated_", probability_metrics(y_test, raw))
    metrics |= _prefixed("baseline_logreg_", probability_metrics(y_test, scorers["baseline_logreg_"]))
    metrics["test_capacity"] = float(capacity)
    metrics["best_iteration"] = float(churn.best_iteration_)
    metrics |= backtest_metrics(backtest, config)

    satisfaction, sat_metrics = train_satisfaction(surveys, spec, config, notes, fit_booster)
    metrics |= sat_metrics

    bundle = ModelBundle(
        inputs=spec,
        churn=churn,
        satisfaction=satisfaction,
        metadata={
            **spec.metadata, **split.as_params(), "calibration": churn.calibrator_.method_,
            "backtest_candidate": backtest.chosen.name, "booster_weight": backtest.booster_weight, "backtest_fold_dates": ",".join(f.as_of.isoformat() for f in backtest.folds),
        },
    )
    bundle.reference = training_reference(bundle, test, config.training.seed)  # what drift is measured against
    test_scores = test.select("customer_id", LABEL).with_columns(
        *[pl.Series(name.rstrip("_"), values) for name, values in scorers.items()],
        pl.Series("test_uncalibrated", raw),
    )
    return TrainingResult(bundle=bundle, split=split, metrics=metrics, test_scores=test_scores, notes=notes, backtest=backtest)
