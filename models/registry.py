"""MLflow: log a training run, register its model, gate the `champion` alias, move it by hand.

The registered model is exactly the evaluated one: the bundle that produced the test metrics is the
object that gets logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import mlflow
import numpy as np
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from configs import Config
from features.sufficiency import CannotTrain
from models import plots
from models.boosting import to_matrix
from models.backtest import fold_metric, paired_difference
from models.pyfunc import PIP_REQUIREMENTS, QuietchurnModel, load_bundle
from models.train import LABEL, TrainingResult

CHAMPION = "champion"
SHAP_SAMPLE = 2000


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    compared: dict[str, float]


@dataclass(frozen=True)
class RegisteredRun:
    run_id: str
    version: str
    model_uri: str
    decision: GateDecision


def client_for(config: Config) -> MlflowClient:
    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def ensure_experiment(client: MlflowClient, config: Config) -> str:
    """The config's experiment; on a local store its artifacts live in the workspace, not ./mlruns."""
    experiment = client.get_experiment_by_name(config.experiment_name)
    if experiment is None:
        local = config.tracking_uri.startswith("sqlite:") or config.tracking_uri.startswith("file:")
        location = (config.workspace / "mlartifacts").resolve().as_uri() if local else None
        experiment_id = client.create_experiment(config.experiment_name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def champion_version(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _log_plots(result: TrainingResult, test: pl.DataFrame, capacity: int) -> None:
    bundle = result.bundle
    booster = bundle.churn.booster_
    sample = test.sample(min(SHAP_SAMPLE, test.height), seed=0)
    X = to_matrix(sample, bundle.features)
    figures = {
        "plots/gain_lift.png": plots.gain_lift(result.test_scores, capacity),
        "plots/calibration.png": plots.calibration_curve(result.test_scores),
        "plots/importance_gain.png": plots.importance(bundle.features, booster.feature_importance("gain")),
        "plots/shap_summary.png": plots.shap_summary(bundle.features, bundle.churn.contributions(X), X),
    }
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)
        plots.plt.close(figure)


def model_fold_scores(result: TrainingResult) -> pl.DataFrame:
    """as_of, customer_id, churned, model: the backtest's out-of-fold scores and the final model's test scores."""
    test = result.test_scores.select(pl.lit(result.split.test).alias("as_of"), "customer_id", LABEL, pl.col("test").alias("model"))
    if result.backtest is None:
        return test
    return pl.concat([result.backtest.scores.select("as_of", "customer_id", LABEL, "model"), test])


def evaluate_champion(
    client: MlflowClient, config: Config, result: TrainingResult, test: pl.DataFrame, history: pl.DataFrame | None = None
) -> tuple[dict[str, float] | None, str]:
    """Per-snapshot paired difference model − champion on the backtest folds and the test snapshot the
    champion never learned from (None = skipped, with why). ``history``: the fold rows with features."""
    current = champion_version(client, config.registered_model_name)
    if current is None:
        return None, "no current champion"
    valid_date = client.get_run(current.run_id).data.params.get("split_valid_date")
    # the champion saw outcomes up to its newest training snapshot's label end: only later snapshots are fair
    label_end = date.fromisoformat(valid_date) + timedelta(days=result.split.label_days) if valid_date else date.min
    ours = model_fold_scores(result).filter(pl.col("as_of") >= label_end)
    folds = [d for d in ours["as_of"].unique().to_list() if d != result.split.test]
    rows = test if history is None else pl.concat([history.filter(pl.col("as_of").is_in(folds)), test], how="diagonal_relaxed")
    rows = rows.filter(pl.col("as_of") >= label_end)
    if rows.is_empty():
        return None, (
            f"champion v{current.version} was calibrated on labels up to {label_end}, overlapping this test "
            f"snapshot {result.split.test}: comparison skipped"
        )
    bundle = load_bundle(f"models:/{config.registered_model_name}@{CHAMPION}")
    theirs = rows.select("as_of", "customer_id").with_columns(champion=bundle.predict(rows)["churn_probability"])
    paired = ours.join(theirs, on=["as_of", "customer_id"], how="inner")
    metric = config.training.gate.metric.removeprefix("test_")
    difference = paired_difference(fold_metric(paired, "model", metric, config), fold_metric(paired, "champion", metric, config))
    dates = ", ".join(str(d) for d in paired["as_of"].unique().sort())
    return difference, f"champion v{current.version} compared on {dates}"


def gate(config: Config, metrics: dict[str, float], champion: dict[str, float] | None, champion_note: str) -> GateDecision:
    """Promote only if the model beats every baseline and the champion: for each, the mean of the per-fold
    paired differences (model − rival) must exceed min_improvement (docs/dates-and-training.md)."""
    metric = config.training.gate.metric.removeprefix("test_")
    margin = config.training.gate.min_improvement
    rivals = {
        name: {k: metrics.get(f"backtest_delta_{name}_{metric}_{k}", float("nan")) for k in ("mean", "low", "high")}
        for name in ("recency", "survey", "logreg")
        if f"backtest_delta_{name}_{metric}_mean" in metrics
    }
    if champion is not None:
        rivals["champion"] = champion
    said = {k: f"{k} {v['mean']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]" for k, v in rivals.items()}
    head = f"backtest {metric} {metrics.get(f'backtest_{metric}', float('nan')):.4f}; mean paired difference (95% interval) vs"
    beaten = [k for k, v in rivals.items() if not (np.isfinite(v["mean"]) and v["mean"] > margin)]
    compared = {k: v["mean"] for k, v in rivals.items()}
    if not rivals:
        return GateDecision(False, f"no backtest comparison for {metric}: nothing to judge the model against", compared)
    if beaten:
        return GateDecision(False, f"{head} {', '.join(said[k] for k in beaten)}: not above {margin}", compared)
    return GateDecision(True, f"{head} {', '.join(said.values())}; {champion_note}", compared)


def refuse_unusable_metrics(config: Config, metrics: dict[str, float], test: pl.DataFrame, test_date: date) -> None:
    """Raise CannotTrain when a metric of the model itself (``test_*``, the gate's) is NaN or infinite:
    such a model cannot be judged, so it must not become a version, let alone the champion."""
    bad = sorted(k for k, v in metrics.items() if (k.startswith("test_") or k == config.training.gate.metric) and not np.isfinite(v))
    if not bad:
        return
    churned, n = int(test[LABEL].sum()), test.height
    if n == 0:
        why = f"the test snapshot {test_date} holds no customers"
    elif churned in (0, n):
        why = f"the test snapshot {test_date} has {'no churners' if churned == 0 else 'only churners'} ({churned:,} of {n:,} customers churned)"
    else:
        why = f"the test snapshot {test_date} ({churned:,} of {n:,} customers churned) gave non-finite values"
    raise CannotTrain(
        f"cannot register the model: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} NaN or infinite because {why}; "
        "no version was registered and the champion is unchanged (docs/dates-and-training.md)"
    )


def log_and_register(
    config: Config,
    result: TrainingResult,
    test: pl.DataFrame,
    *,
    snapshot_ids: dict[str, str] | None = None,
    as_of: date | None = None,
    history: pl.DataFrame | None = None,
) -> RegisteredRun:
    """One MLflow run, named after the training as-of: config, split dates, data ids, features, params,
    metrics, plots and the model; then the gate. Refused before anything is logged when a model metric is NaN.
    ``history`` (the training frame) lets the champion be compared on the backtest folds too, not only on test."""
    refuse_unusable_metrics(config, result.metrics, test, result.split.test)
    client = client_for(config)
    ensure_experiment(client, config)
    capacity = config.scoring.capacity_for(test.height)
    champion, champion_note = evaluate_champion(client, config, result, test, history)
    metric = config.training.gate.metric.removeprefix("test_")
    champion_metrics = {f"backtest_delta_champion_{metric}_{k}": v for k, v in (champion or {}).items()}
    with mlflow.start_run(run_name=f"train-{as_of or result.split.test}") as run:
        as_of_param = {"training_as_of": as_of.isoformat()} if as_of else {}
        mlflow.log_params({**result.bundle.metadata, **as_of_param, "gate_metric": config.training.gate.metric, "seed": config.training.seed})
        mlflow.log_params({f"lgbm_{k}": v for k, v in result.bundle.churn.booster_.params.items() if k != "categorical_feature"})
        mlflow.log_metrics({k: float(v) for k, v in (result.metrics | champion_metrics).items() if v is not None and np.isfinite(v)})
        mlflow.log_dict(config.dry_dict(), "config.json")
        mlflow.log_dict({"features": result.bundle.features, "categorical": result.bundle.categorical}, "features.json")
        mlflow.log_dict(result.bundle.schema.to_dict(), "catalog.json")  # plain JSON: every feature's spec, vocabularies, tables
        if result.bundle.reference is not None:  # also inside the model; here for people and other tools
            mlflow.log_dict(result.bundle.reference, "reference.json")
        if snapshot_ids:
            mlflow.log_dict(snapshot_ids, "data_snapshots.json")
        if result.notes:
            mlflow.set_tag("notes", " | ".join(result.notes))
        _log_plots(result, test, capacity)
        example = test.select(result.bundle.features).head(5).to_pandas()
        signature = infer_signature(example, result.bundle.predict_pandas(example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=QuietchurnModel(result.bundle),
            signature=signature,
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=config.registered_model_name,
        )
        version = str(info.registered_model_version)
        decision = gate(config, result.metrics, champion, champion_note)
        mlflow.set_tags({"gate_promoted": str(decision.promoted).lower(), "gate_reason": decision.reason})
    if decision.promoted:
        promote(client, config.registered_model_name, version)
    client.set_model_version_tag(config.registered_model_name, version, "gate", decision.reason)
    return RegisteredRun(run.info.run_id, version, f"models:/{config.registered_model_name}/{version}", decision)


def _history(client: MlflowClient, name: str) -> list[str]:
    raw = client.get_registered_model(name).tags.get("champion_history", "[]")
    return json.loads(raw)


def promote(client: MlflowClient, name: str, version: str, *, by_hand: bool = False) -> None:
    """Point `champion` at ``version`` and remember the order, so rollback can step back.

    The version records who crowned it (`promoted_by`: gate | hand): a version promoted by hand keeps
    its `gate` tag (the gate's verdict), so anyone can see that a person overrode it."""
    client.get_model_version(name, version)  # fails clearly if the version does not exist
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promoted_by", "hand" if by_hand else "gate")
    client.set_model_version_tag(name, version, "promoted_at", datetime.now(UTC).isoformat(timespec="seconds"))
    history = [v for v in _history(client, name) if v != version] + [version]
    client.set_registered_model_tag(name, "champion_history", json.dumps(history))


def rollback(client: MlflowClient, name: str) -> str:
    """Move `champion` back to the version that held it before the current one."""
    history = _history(client, name)
    current = champion_version(client, name)
    if current is not None and history and history[-1] == str(current.version):
        history = history[:-1]
    if not history:
        raise ValueError(f"registered model {name!r} has no earlier champion to roll back to")
    previous = history[-1]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, "champion_history", json.dumps(history))
    return previous


def last_training_time(client: MlflowClient, config: Config):
    """When the last training attempt (promoted or not) finished, or None: drives nightly retraining."""
    experiment = client.get_experiment_by_name(config.experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "tags.gate_promoted != ''", order_by=["start_time DESC"], max_results=1)
    return runs[0].info.end_time if runs else None


__all__ = ["CHAMPION", "GateDecision", "RegisteredRun", "client_for", "log_and_register", "promote", "rollback"]
