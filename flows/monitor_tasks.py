"""Prefect tasks of the `monitor` flow (docs/monitoring.md): drift of a scored date's features and
scores against the reference stored with the model version, estimated performance of its scores,
realised performance of every earlier scored date whose churn horizon has passed, and the verdict
in `score_runs.drift_summary`. The measures themselves live in models/drift.py and models/performance.py.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import NamedTuple

import polars as pl
from prefect import get_run_logger

from configs import Config
from features.health import data_health, freshness_column
from features.labels import churn_labels
from flows import alerts, workspace
from flows.tasks import IO_RETRIES, IO_RETRY_DELAY_S, PipelineError, uncached_task
from models.bundle import ModelBundle
from models.drift import DriftThresholds, drift_summary, feature_drift
from models.performance import estimated_performance, matured_dates, realised_performance, silent_follow_up
from models.who_answers import markdown_line, measured_who_answers
from sinks.schema import CHURN_SCORES, FEATURE_DRIFT, SCORE_PERFORMANCE

# drift_summary decides on the scores and this many most important features (models.drift)
DECIDING_FEATURES = 10


class MonitorBreach(PipelineError):
    """The monitored date breached a threshold: its tables are written, an alert is sent, the run fails."""


class StaleData(MonitorBreach):
    """A table's newest row is older than `monitoring.max_staleness_hours` before the as-of: its feed stopped."""


class DriftFailure(MonitorBreach):
    """The monitored date drifted past `monitoring.drift.fail`."""


class PerformanceBelowThreshold(MonitorBreach):
    """A matured date's realised PR-AUC fell below `monitoring.min_realised_pr_auc_ratio` x the model's test PR-AUC."""


BREACH_ERRORS = {"data_stale": StaleData, "drift_fail": DriftFailure, "realised_performance": PerformanceBelowThreshold}


@uncached_task(name="read-scored-date", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def read_scored_date(config: Config, as_of: date, config_path: str) -> pl.DataFrame:
    """The date's churn_scores; none is an error that says how to score it first."""
    from sinks import open_sink

    scores = open_sink(config.sink).read_scores(as_of)
    if scores.height == 0:
        raise PipelineError(
            f"churn_scores holds no rows for as-of {as_of}, so there is nothing to monitor: score it first with "
            f"`quietchurn run score --config {config_path} --as-of {as_of}` (docs/monitoring.md)"
        )
    return scores


@uncached_task(name="load-scoring-model", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def load_scoring_model(config: Config, version: str) -> ModelBundle:
    """The version that scored the date (not necessarily today's champion), with its drift reference."""
    from models.pyfunc import load_bundle
    from models.registry import client_for

    client_for(config)  # points mlflow at the config's store: a standalone run has not yet
    return load_bundle(f"models:/{config.registered_model_name}/{version}")


@uncached_task(name="test-pr-aucs", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def model_test_pr_aucs(config: Config, versions: list[str]) -> dict[str, float | None]:
    """Each version's PR-AUC on its out-of-time test snapshot (MLflow metric test_pr_auc)."""
    from models.registry import client_for

    client = client_for(config)
    runs = {v: client.get_model_version(config.registered_model_name, v).run_id for v in sorted(set(versions))}
    return {v: client.get_run(run_id).data.metrics.get("test_pr_auc") for v, run_id in runs.items()}


@uncached_task(name="read-matured-scores", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def read_matured_scores(config: Config, as_of: date) -> pl.DataFrame:
    """churn_scores of the dates whose horizon (plus grace) has passed by ``as_of`` and that have no
    realised rows yet: outcomes never change once the horizon has passed, so each date is evaluated once."""
    from sinks import open_sink

    sink = open_sink(config.sink)
    scored = sink.read_score_runs()["as_of"].unique().to_list()
    done = set(sink.read_score_performance().filter(pl.col("kind") == "realised")["as_of"].to_list())
    due = [d for d in matured_dates(scored, config, as_of) if d not in done]
    frames = [sink.read_scores(d) for d in due]
    return pl.concat(frames) if frames else CHURN_SCORES.empty()


def _is_date(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True


@uncached_task(name="check-data-health")
def check_data_health(config: Config, tables: dict, snapshot: str, as_of: date) -> dict:
    """Freshness, volume and reject share of the date's snapshot against the earlier runs' manifests."""
    root = workspace.snapshot_dir(config, as_of).parent
    earlier = sorted(p.parent for p in root.glob("*/manifest.json") if _is_date(p.parent.name) and p.parent.name < as_of.isoformat())
    manifests = [workspace.read_manifest(p) for p in earlier[-8:]]
    return data_health(tables, workspace.read_manifest(Path(snapshot)), manifests, as_of, config)


@uncached_task(name="predict-response-propensity")
def predict_response_propensity(features: pl.DataFrame, bundle: ModelBundle) -> pl.Series | None:
    """Each feature row's response propensity from the version's response model (None without one):
    predicted once per date, read by the drift and the who-answers figures."""
    if bundle.satisfaction is None:
        return None
    return pl.Series("response_propensity", bundle.response_propensity(features), dtype=pl.Float64)


@uncached_task(name="measure-drift")
def measure_drift(
    config: Config, features: pl.DataFrame, scores: pl.DataFrame, bundle: ModelBundle, propensity: pl.Series | None
) -> pl.DataFrame:
    """feature_drift rows of the date: its model features and scores (``propensity`` aligned with the
    feature rows) against the version's reference (none when the version was trained before references were stored)."""
    if bundle.reference is None:
        return FEATURE_DRIFT.empty()
    present = [c for c in bundle.features if c in features.columns]
    current = features.select("customer_id", *present)
    if propensity is not None:
        current = current.with_columns(response_propensity=propensity)  # before the join, which may reorder rows
    current = current.join(scores.select("customer_id", "churn_probability", "dissatisfaction_probability"), on="customer_id", how="left")
    limits = DriftThresholds(config.monitoring.drift.warn, config.monitoring.drift.fail)
    drift = feature_drift(current, bundle.reference, metric="psi", thresholds=limits)
    return drift.select(as_of=pl.lit(scores["as_of"][0]), model_version=pl.lit(scores["model_version"][0]), *drift.columns)


@uncached_task(name="measure-performance")
def measure_performance(config: Config, scores: pl.DataFrame, matured: pl.DataFrame, tables: dict, as_of: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(estimated rows for the date, realised rows for the matured dates): outcomes are the churn labels
    of those dates read from this date's snapshot, whose data covers their horizons."""
    estimated = estimated_performance(scores)
    if matured.height == 0:
        return estimated, SCORE_PERFORMANCE.empty()
    dates = matured["as_of"].unique().sort().to_list()
    outcomes = churn_labels(tables, config, dates, observed_until=as_of).collect()
    realised = [realised_performance(matured, outcomes, config, as_of)]
    if "surveys" in tables:
        realised.append(silent_follow_up(matured, tables["surveys"].collect(), config, as_of))
    return estimated, pl.concat(realised)


class Assessment(NamedTuple):
    """What the monitor found for one date (its rows are already in the sink)."""

    verdict: dict
    realised: pl.DataFrame
    feature_drift_rows: int
    estimated_rows: int


def assess_date(
    config: Config, as_of: date, tables: dict, features: pl.DataFrame, scores: pl.DataFrame, bundle: ModelBundle, health: dict
) -> Assessment:
    """The monitor's steps for one scored date, written to the sink: drift against the version's
    reference, estimated performance, realised performance of matured dates, the verdict.
    Shared by the monitor flow and backfill."""
    propensity = predict_response_propensity(features, bundle)
    drift = measure_drift(config, features, scores, bundle, propensity)
    matured = read_matured_scores(config, as_of)
    estimated, realised = measure_performance(config, scores, matured, tables, as_of)
    test_pr_auc = model_test_pr_aucs(config, realised["model_version"].unique().to_list())
    who = measured_who_answers(scores, propensity, bundle, drift)  # informative: never a breach
    verdict = judge(config, as_of, drift, realised, test_pr_auc, health, who)
    write_monitoring(config, as_of, drift, estimated, realised, verdict)
    return Assessment(verdict, realised, drift.height, estimated.height)


def realised_checks(realised: pl.DataFrame, test_pr_auc: dict[str, float | None], ratio: float) -> list[dict]:
    """Each matured date's realised PR-AUC against its version's test PR-AUC; ``below`` = even the upper
    end of its 95% bootstrap interval (``pr_auc_upper``) is under ``ratio`` x it, so a small company's
    unlucky month is not an alarm (docs/monitoring.md). Realised rows without the bound (written before
    it existed) get ``pr_auc_upper`` = ``pr_auc``, so every check holds the key."""
    wide = (
        realised.filter(pl.col("metric").is_in(["pr_auc", "pr_auc_upper"]))
        .pivot(on="metric", index=["as_of", "model_version"], values="value")
        .sort("as_of", "model_version")
    )
    checks = []
    for row in wide.iter_rows(named=True):
        reference, value = test_pr_auc.get(row["model_version"]), row.get("pr_auc")
        upper = value if row.get("pr_auc_upper") is None else row["pr_auc_upper"]
        below = None if reference is None or value is None or upper is None else upper < ratio * reference
        checks.append({
            "as_of": row["as_of"].isoformat(), "model_version": row["model_version"], "pr_auc": value,
            "pr_auc_upper": upper, "test_pr_auc": reference, "below": below,
        })
    return checks


@uncached_task(name="judge-date")
def judge(
    config: Config, as_of: date, drift: pl.DataFrame, realised: pl.DataFrame, test_pr_auc: dict[str, float | None], data_health: dict,
    who_answers: dict | None = None,
) -> dict:
    """The date's verdict, JSON for score_runs.drift_summary: drift status and worst columns,
    realised PR-AUC checks, data health, who answers surveys (models/who_answers.py), and the breaches that fail the run."""
    if drift.height:
        verdict = drift_summary(drift, top=DECIDING_FEATURES)
    else:
        verdict = {"status": "unknown", "note": "the model version stores no drift reference (trained before references existed): retrain to monitor drift"}
    verdict = {
        **verdict,
        # what decides the status: the largest failing / warning drift among the scores and the deciding features
        "failure": worst_deciding(drift, "fail"),
        "warning": worst_deciding(drift, "warn"),
        "thresholds": {"warn": config.monitoring.drift.warn, "fail": config.monitoring.drift.fail},
        "realised": realised_checks(realised, test_pr_auc, config.monitoring.min_realised_pr_auc_ratio),
        "data_health": data_health,
        "who_answers": who_answers,
    }
    return {**verdict, "breaches": [b.as_json() for b in breaches(config, as_of, verdict)]}


def stale_tables(health: dict, limit_hours: float, by_table: dict[str, int]) -> list[dict]:
    """The tables of a data-health report whose newest row is more than their limit (``by_table``, else
    ``limit_hours``) before the as-of, each with the config key that sets its limit."""
    stale = []
    for table, t in health.get("tables", {}).items():
        limit, key = (by_table[table], f"monitoring.max_staleness_hours_by_table.{table}") if table in by_table else (limit_hours, "monitoring.max_staleness_hours")
        if t.get("hours_old") is not None and t["hours_old"] > limit:
            stale.append({"table": table, "column": freshness_column(table), "newest": t["newest"], "hours_old": t["hours_old"], "limit": limit, "key": key})
    return stale


def breaches(config: Config, as_of: date, verdict: dict) -> list[alerts.Breach]:
    """Pure: what in the verdict fails the run and alerts, most basic first: stale tables (every later figure
    is computed on them), a deciding drift past monitoring.drift.fail, realised PR-AUC below its threshold."""
    m = config.monitoring
    where = f"score_runs.drift_summary, feature_drift and score_performance for as-of {as_of}; the Prefect artifact quietchurn-monitor-{as_of}"
    found = [
        alerts.Breach(
            "data_stale", as_of, f"table {s['table']}",
            f"newest {s['column']} is {s['newest']}, {s['hours_old']:.0f} h before as-of {as_of} ({s['key']}={s['limit']}): "
            "its source stopped updating, so features built on it describe an older world",
            f"the source's {s['table']} table, then {where}",
        )
        for s in stale_tables(verdict["data_health"], m.max_staleness_hours, m.max_staleness_hours_by_table)
    ]
    worst = verdict.get("failure")
    if worst is not None:
        kind = "score" if worst["importance_rank"] is None else f"feature (importance rank {worst['importance_rank']})"
        found.append(alerts.Breach(
            "drift_fail", as_of, f"{kind} {worst['feature']}",
            f"{worst['feature']} has PSI {worst['value']:.3f} >= monitoring.drift.fail={m.drift.fail} against the training "
            "reference of the model version that scored it; the next nightly retrains",
            where,
        ))
    for c in verdict.get("realised", []):
        if c.get("below"):
            found.append(alerts.Breach(
                "realised_performance", as_of, f"model v{c['model_version']}",
                f"realised PR-AUC of the scores of {c['as_of']} is {c['pr_auc']:.4f} (95% upper bound {c['pr_auc_upper']:.4f}), "
                f"below monitoring.min_realised_pr_auc_ratio="
                f"{m.min_realised_pr_auc_ratio} x the model's test PR-AUC {c['test_pr_auc']:.4f}; the next nightly retrains",
                where,
            ))
    return found


@uncached_task(name="write-monitoring", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def write_monitoring(config: Config, as_of: date, drift: pl.DataFrame, estimated: pl.DataFrame, realised: pl.DataFrame, verdict: dict) -> bool:
    """Replace the date's drift and estimated rows and the matured dates' realised rows; fill the date's
    drift_summary. False when no score_runs row of the date exists to hold it."""
    from sinks import open_sink

    sink = open_sink(config.sink)
    sink.replace_monitoring(FEATURE_DRIFT, drift, keys=pl.DataFrame({"as_of": [as_of]}))
    sink.replace_monitoring(SCORE_PERFORMANCE, estimated, keys=pl.DataFrame({"as_of": [as_of], "kind": ["estimated"]}))
    if realised.height:
        sink.replace_monitoring(SCORE_PERFORMANCE, realised)
    recorded = sink.set_drift_summary(as_of, verdict)
    if not recorded:
        get_run_logger().warning("score_runs holds no run for %s: its drift_summary was not recorded", as_of)
    return recorded


def monitoring_markdown(as_of: date, version: str, verdict: dict) -> str:
    """The verdict for people: status, the deciding column, the largest drifts, realised checks, who answers surveys, data health."""
    lines = [f"# quietchurn monitor as of {as_of}", "", f"Model v{version}: drift **{verdict['status']}**.", ""]
    for key in ("failure", "warning"):
        if verdict.get(key):
            lines.append(f"Deciding {key}: `{verdict[key]['feature']}` PSI {verdict[key]['value']:.3f}.")
    lines += ["", "| feature | importance rank | PSI | status |", "|---|---:|---:|---|"]
    lines += [f"| {w['feature']} | {w['importance_rank']} | {w['value']:.3f} | {w['status']} |" for w in verdict.get("worst_features", [])]
    lines += [f"| {name} (score) | | {d['value']:.3f} | {d['status']} |" for name, d in verdict.get("score_drift", {}).items()]
    for check in verdict["realised"]:
        lines.append(f"\nRealised PR-AUC of {check['as_of']} (v{check['model_version']}): {check['pr_auc']} against test {check['test_pr_auc']}.")
    if verdict.get("who_answers"):  # absent from verdicts written before it existed
        lines += ["", markdown_line(verdict["who_answers"])]
    health = verdict["data_health"]
    lines += ["", f"Data health {health['status']}.", *[f"- {issue}" for issue in health.get("issues", [])]]
    return "\n".join(lines) + "\n"


@uncached_task(name="publish-monitor-summary", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def publish_monitor_summary(as_of: date, version: str, verdict: dict) -> str:
    """A markdown artifact on the Prefect run, written before any alarm fails it."""
    from prefect.artifacts import create_markdown_artifact

    markdown = monitoring_markdown(as_of, version, verdict)
    create_markdown_artifact(markdown=markdown, key=f"quietchurn-monitor-{as_of.isoformat()}", description="quietchurn monitor verdict")
    return markdown


def worst_deciding(drift: pl.DataFrame, status: str) -> dict | None:
    """The largest drift of ``status`` among the scores and the deciding features (what decides the run),
    as (feature, value, importance_rank)."""
    deciding = drift.filter(pl.col("importance_rank").is_null() | (pl.col("importance_rank") <= DECIDING_FEATURES))
    worst = deciding.filter(pl.col("status") == status).sort("value", descending=True)
    return worst.select("feature", "value", "importance_rank").row(0, named=True) if worst.height else None


@uncached_task(name="raise-alarm")
def raise_alarm(config: Config, as_of: date, verdict: dict) -> None:
    """warn: logged; a breach (stale table, drift fail, realised PR-AUC too low): one alert, then the run
    fails (the first breach's MonitorBreach type) naming each breach and its config key."""
    logger = get_run_logger()
    for issue in verdict["data_health"].get("issues", []):
        logger.warning("data health: %s", issue)
    for check in verdict["realised"]:
        if check["below"]:
            logger.warning(
                "realised PR-AUC of %s (v%s) is %.4f (95%% upper bound %.4f), below monitoring.min_realised_pr_auc_ratio=%s x test PR-AUC %.4f",
                check["as_of"], check["model_version"], check["pr_auc"], check["pr_auc_upper"],
                config.monitoring.min_realised_pr_auc_ratio, check["test_pr_auc"],
            )
    if verdict["status"] == "warn":
        worst = verdict["warning"]
        logger.warning("drift warning for %s: %s has PSI %.3f (>= monitoring.drift.warn=%s)", as_of, worst["feature"], worst["value"], config.monitoring.drift.warn)
    found = [alerts.Breach.from_json(b) for b in verdict.get("breaches", [])]
    if found:
        alerts.send(config, found, logger)
        raise BREACH_ERRORS[found[0].kind](
            f"monitor of as-of {as_of} failed: " + "; ".join(f"{b.subject}: {b.detail}" for b in found)
            + "; feature_drift, score_performance and score_runs.drift_summary are written (docs/monitoring.md)"
        )


def retrain_reason(config: Config, champion: str) -> str | None:
    """Why the newest monitored date says the champion needs retraining (None: it does not): drift
    fail, or a realised PR-AUC below monitoring.min_realised_pr_auc_ratio x the test PR-AUC."""
    from sinks import open_sink

    runs = open_sink(config.sink).read_score_runs().filter(pl.col("drift_summary").is_not_null())
    if runs.height == 0:
        return None
    newest = runs.sort(["as_of", "finished_at"]).row(-1, named=True)
    if newest["model_version"] != champion:
        return None  # a verdict on an earlier champion says nothing about this one
    verdict = json.loads(newest["drift_summary"])
    failure = verdict.get("failure")
    if failure:
        return f"the monitor of {newest['as_of']} found {failure['feature']} drifted to PSI {failure['value']:.3f} (>= monitoring.drift.fail={config.monitoring.drift.fail})"
    below = [c for c in verdict.get("realised", []) if c.get("below") and c.get("model_version") == champion]
    if below:
        c = below[-1]
        return (
            f"realised PR-AUC of {c['as_of']} is {c['pr_auc']:.4f}, below monitoring.min_realised_pr_auc_ratio="
            f"{config.monitoring.min_realised_pr_auc_ratio} x the model's test PR-AUC {c['test_pr_auc']:.4f}"
        )
    return None
