"""Benchmark (not a test): how well quietchurn listens, measured against the simulator's hidden truth.

    .venv/bin/python bench/listening_quality.py                       # 50k customers, 1 year, seed 42
    .venv/bin/python bench/listening_quality.py --customers 20000 --seed 7

Simulates a world once (cached under bench/.cache/worlds, as bench/simulate.py names them), then
runs what the flows run: ``load_tables`` -> ``training_schema`` / ``build_training_frame`` /
``build_invitation_frame`` -> ``train_models``, and scores every eligible customer at the
out-of-time test date (``build_scoring_frame`` + ``score_customers``). Ground truth at that date
is the weekly truth row nearest before it and the true churn events in [test, test + horizon).

Prints the churn ranking against the oracle (true hazard) and every baseline, the
silent-dissatisfied hunt at the team's capacity, the satisfaction estimates, and a table of the
issue's targets with PASS/MISS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configs import DEMO_CONFIG, parse_config  # noqa: E402
from features.ingest import load_tables  # noqa: E402
from features.invitations import build_invitation_frame  # noqa: E402
from features.snapshots import build_scoring_frame, build_training_frame, training_schema  # noqa: E402
from models.baselines import recency_score, survey_score  # noqa: E402
from models.metrics import ranking_metrics, top_k_mask  # noqa: E402
from models.satisfaction import MIN_PROPENSITY  # noqa: E402
from models.scoring import score_customers  # noqa: E402
from models.train import SCORE_WINDOW_DAYS, TrainingInputs, train_models  # noqa: E402
from simulator import write_world  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "worlds"
BOOTSTRAP_DRAWS = 200  # paired resamples of the test snapshot: how noisy is a PR-AUC comparison?
SILENT_LIFT_TARGET = 3.0  # silent-dissatisfied recall at capacity >= 3 x random
ECE_SHARE_TARGET = 0.25  # ECE <= 0.25 x test base rate


def world_dir(customers: int, days: int, seed: int) -> Path:
    return CACHE / f"c{customers}_d{days}_s{seed}"


def ensure_world(customers: int, days: int, seed: int) -> tuple[Path, date]:
    out = world_dir(customers, days, seed)
    if not (out / "simulation.json").is_file():
        print(f"simulating {customers:,} customers x {days} days (seed {seed}) into {out} ...", flush=True)
        write_world(out, customers=customers, days=days, seed=seed)
    manifest = yaml.safe_load((out / "simulation.json").read_text())  # JSON is YAML
    return out, date.fromisoformat(manifest["today"])


def bench_config(world: Path, workspace: Path):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["source"]["path"] = str(world)
    raw["workspace"] = str(workspace)
    return parse_config(raw, base=workspace)


def nps(scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Net promoter score: % promoters (9-10) - % detractors (0-6), weighted when asked."""
    s = np.asarray(scores, dtype=float)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=float)
    return float(100 * (np.sum(w * (s >= 9)) - np.sum(w * (s <= 6))) / np.sum(w))


def wmean(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    v = np.asarray(values, dtype=float)
    return float(np.average(v, weights=weights))


def truth_at(world: Path, as_of: date, horizon_days: int) -> pl.DataFrame:
    """customer_id, the weekly truth nearest before ``as_of`` and churn within [as_of, as_of + horizon)."""
    weekly = pl.scan_parquet(world / "ground_truth" / "weekly.parquet")
    week = weekly.filter(pl.col("week") <= as_of).select(pl.col("week").max()).collect().item()
    start = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    end = pl.lit(as_of + timedelta(days=horizon_days)).cast(pl.Datetime("us", "UTC"))
    churned = (
        pl.scan_parquet(world / "ground_truth" / "churn_events.parquet")
        .filter((pl.col("churned_at") >= start) & (pl.col("churned_at") < end))
        .select("customer_id", truly_churned=pl.lit(True))
        .unique()
    )
    return (
        weekly.filter(pl.col("week") == week)
        .join(churned, on="customer_id", how="left")
        .with_columns(pl.col("truly_churned").fill_null(False), truth_week=pl.lit(week))
        .collect()
    )


def paired_bootstrap_sd(y: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Standard deviation of PR-AUC(a) - PR-AUC(b) over paired bootstrap resamples of the rows."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP_DRAWS):
        i = rng.integers(0, len(y), len(y))
        diffs.append(average_precision_score(y[i], a[i]) - average_precision_score(y[i], b[i]))
    return float(np.std(diffs))


def recall_at(chosen: np.ndarray, positive: np.ndarray) -> float:
    return float((chosen & positive).sum() / positive.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    started = time.perf_counter()
    world, today = ensure_world(args.customers, args.days, args.seed)
    workspace = Path(tempfile.mkdtemp(prefix="qc-listening-"))
    config = bench_config(world, workspace)
    tables = load_tables(config).tables

    # --- train exactly as the train flow does
    schema = training_schema(tables, config, today)
    training = build_training_frame(tables, config, today, schema=schema)
    invitations = build_invitation_frame(tables, config, schema, training["as_of"].min(), today)
    result = train_models(training, TrainingInputs.from_schema(schema), config, invitations)
    m, bundle, test_date = result.metrics, result.bundle, result.split.test

    # --- score at the test date, as the score flow would have that day
    features = build_scoring_frame(tables, config, test_date, schema=bundle.schema, with_usual=True)
    scored = score_customers(features, bundle, config, test_date)
    capacity = config.scoring.capacity_for(scored.height)
    truth = truth_at(world, test_date, config.churn.horizon_days)
    frame = (
        scored.join(truth, on="customer_id", how="left")
        .join(features.select("customer_id", "days_since_last_event"), on="customer_id", how="left")
        .sort("customer_id")
    )
    n = frame.height
    ids = np.arange(n)  # frame is sorted by customer_id: position breaks ties the way the product does

    print(f"\nworld {world.name}: today {today}, test as-of {test_date}, truth week {truth['truth_week'][0]}")
    print(f"training rows {training.height:,} over {training['as_of'].n_unique()} snapshots; test customers {n:,}; "
          f"capacity {capacity}; best iteration {m['best_iteration']:.0f}; calibration {bundle.metadata['calibration']}")

    # ------------------------------------------------------------------ churn
    y_pipeline = training.filter(pl.col("as_of") == test_date).select("customer_id", "churned")
    hazard = frame["churn_hazard"].fill_null(0.0).to_numpy()
    y_true = frame["truly_churned"].fill_null(False).to_numpy()
    labelled = frame.select("customer_id", "churn_hazard").join(y_pipeline, on="customer_id", how="inner")
    oracle = ranking_metrics(labelled["churned"].to_numpy(), labelled["churn_hazard"].fill_null(0.0).to_numpy(), capacity)
    oracle_true = ranking_metrics(y_true, hazard, capacity)
    model_true = ranking_metrics(y_true, frame["churn_probability"].to_numpy(), capacity)
    print(f"\nCHURN on the test snapshot (pipeline label: subscription_end within {config.churn.horizon_days} days; base rate {m['test_base_rate']:.2%})")
    print(f"{'scorer':<28}{'ROC-AUC':>9}{'PR-AUC':>9}{'lift@cap':>10}{'recall@cap':>12}")
    rows = [("model (calibrated)", "test_"), ("baseline: recency rule", "baseline_recency_"),
            ("baseline: survey-only rule", "baseline_survey_"), ("baseline: logistic regr.", "baseline_logreg_")]
    for label, prefix in rows:
        if f"{prefix}roc_auc" in m:
            print(f"{label:<28}{m[prefix + 'roc_auc']:>9.4f}{m[prefix + 'pr_auc']:>9.4f}{m[prefix + 'lift_at_capacity']:>10.2f}{m[prefix + 'recall_at_capacity']:>12.3f}")
    print(f"{'oracle (true hazard)':<28}{oracle['roc_auc']:>9.4f}{oracle['pr_auc']:>9.4f}{oracle['lift_at_capacity']:>10.2f}{oracle['recall_at_capacity']:>12.3f}")
    print(f"against true churn events (scored population, base rate {y_true.mean():.2%}): "
          f"model ROC-AUC {model_true['roc_auc']:.4f} PR-AUC {model_true['pr_auc']:.4f}; "
          f"oracle ROC-AUC {oracle_true['roc_auc']:.4f} PR-AUC {oracle_true['pr_auc']:.4f}")
    ts = result.test_scores
    margin = m["test_pr_auc"] - m["baseline_logreg_pr_auc"]
    noise = paired_bootstrap_sd(ts["churned"].cast(pl.Int8).to_numpy(), ts["test"].to_numpy(), ts["baseline_logreg"].to_numpy())
    print(f"model - logistic PR-AUC {margin:+.4f}; paired bootstrap sd of that difference {noise:.4f} "
          f"(a single test snapshot cannot tell apart models closer than ~2 sd)")
    print(f"calibration: ECE {m['test_ece']:.5f} (uncalibrated {m['test_uncalibrated_ece']:.5f}, logistic {m['baseline_logreg_ece']:.5f}); "
          f"Brier {m['test_brier']:.5f}")

    # ------------------------------------------------------------------ silent dissatisfied
    dissatisfied = frame["dissatisfied"].fill_null(False).to_numpy()
    silent_truth = dissatisfied & frame["silent"].fill_null(False).to_numpy()
    flagged = (frame["silent_rank"].fill_null(n + 1) <= capacity).to_numpy()
    by_risk = (frame["risk_rank"] <= capacity).to_numpy()
    by_recency = top_k_mask(recency_score(frame["days_since_last_event"].cast(pl.Float64).fill_null(np.nan).to_numpy()), capacity, ids)
    by_survey = top_k_mask(survey_score(frame["last_survey_score"].fill_null(np.nan).to_numpy()), capacity, ids)
    by_dissatisfaction = top_k_mask(frame["dissatisfaction_probability"].fill_null(-1.0).to_numpy(), capacity, ids)
    random_recall = capacity / n
    silent = {
        "flagged silent_dissatisfied (top capacity by silent_rank)": recall_at(flagged, silent_truth),
        "top capacity by churn risk": recall_at(by_risk, silent_truth),
        "recency rule, same capacity": recall_at(by_recency, silent_truth),
        "random selection (expected)": random_recall,
    }
    print(f"\nSILENT DISSATISFIED at {test_date}: {silent_truth.sum():,} of {n:,} customers truly dissatisfied and silent "
          f"({silent_truth.mean():.1%}); {int(frame['silent_dissatisfied'].sum()):,} flagged in all; capacity {capacity} "
          f"(perfect recall at capacity {min(capacity, silent_truth.sum()) / silent_truth.sum():.3f})")
    for label, value in silent.items():
        print(f"  {label:<58} recall {value:.4f}  ({value / random_recall:.1f}x random)")

    print(f"\nALL DISSATISFIED (silent or vocal): {dissatisfied.sum():,} of {n:,} ({dissatisfied.mean():.1%}); found within capacity {capacity}:")
    found = {
        "model: top capacity by dissatisfaction_probability": int((by_dissatisfaction & dissatisfied).sum()),
        "model: flagged silent list": int((flagged & dissatisfied).sum()),
        "model: high risk tier": int((by_risk & dissatisfied).sum()),
        "survey-only rule (lowest last answer first)": int((by_survey & dissatisfied).sum()),
        "random selection (expected)": capacity * float(dissatisfied.mean()),
    }
    for label, value in found.items():
        print(f"  {label:<58} {value:>7.0f}  (precision {value / capacity:.1%})")

    # ------------------------------------------------------------------ satisfaction
    from sklearn.metrics import roc_auc_score

    status = frame["survey_status"].to_numpy()
    non_respondent = status != "responded"
    p_dis = frame["dissatisfaction_probability"].to_numpy()
    sat_auc = float(roc_auc_score(dissatisfied[non_respondent], p_dis[non_respondent]))
    sat_auc_all = float(roc_auc_score(dissatisfied, p_dis))
    true_scores = frame["would_score"].drop_nulls().cast(pl.Float64).to_numpy()  # signed up after the truth week: no row
    respondents = frame.filter(pl.col("survey_status") == "responded")
    answers = respondents["last_survey_score"].to_numpy()
    propensity = bundle.satisfaction.response_propensity(bundle.matrix(respondents.select("customer_id").join(features, on="customer_id", how="left", maintain_order="left")))
    weights = 1.0 / np.clip(propensity, MIN_PROPENSITY, 1.0)
    print(f"\nSATISFACTION: held-out respondents ROC-AUC {m['satisfaction_roc_auc']:.4f}; dissatisfaction_probability vs true "
          f"dissatisfaction: non-respondents ROC-AUC {sat_auc:.4f} ({non_respondent.sum():,} customers), everyone {sat_auc_all:.4f}")
    print(f"  customers at {test_date} ({len(answers):,} responded within {config.survey.silence_days} days):")
    print(f"  {'':<48}{'NPS':>8}{'mean score':>12}")
    population = {
        "true population (would-be score, everyone)": (nps(true_scores), wmean(true_scores)),
        "respondents (last answer)": (nps(answers), wmean(answers)),
        "corrected population (IPW of respondents)": (nps(answers, weights), wmean(answers, weights)),
    }
    for label, (score_nps, score_mean) in population.items():
        print(f"  {label:<48}{score_nps:>8.1f}{score_mean:>12.2f}")

    # the training-time figures: invitations of the last SCORE_WINDOW_DAYS days, against their would-be answers
    truth_surveys = pl.read_parquet(world / "ground_truth" / "surveys.parquet").join(
        pl.read_parquet(world / "surveys.parquet", columns=["survey_id", "sent_at"]), on="survey_id"
    )
    recent = invitations.filter(pl.col("sent_at") >= invitations["sent_at"].max() - timedelta(days=SCORE_WINDOW_DAYS))
    recent = recent.join(truth_surveys.select("customer_id", "sent_at", "would_score"), on=["customer_id", "sent_at"], how="left")
    answered = recent.filter("responded")
    w_inv = 1.0 / bundle.satisfaction.response_propensity(bundle.matrix(answered))
    answered_truth = answered.join(
        truth_surveys.select("customer_id", "sent_at", "response_probability"), on=["customer_id", "sent_at"], how="left"
    )
    w_oracle = 1.0 / answered_truth["response_probability"].cast(pl.Float64).to_numpy()
    would = recent["would_score"].cast(pl.Float64).to_numpy()
    given = answered["score"].to_numpy()
    invitation_scores = {
        "truth (would-be answer, every invitation)": (nps(would), wmean(would)),
        "respondents (respondent_score)": (nps(given), m["respondent_score"]),
        "corrected (estimated_population_score)": (nps(given, w_inv), m["estimated_population_score"]),
        "corrected with the TRUE response probabilities": (nps(given, w_oracle), wmean(given, w_oracle)),
    }
    print(f"  invitations of the last {SCORE_WINDOW_DAYS} days ({recent.height:,}, {answered.height:,} answered):")
    for label, (score_nps, score_mean) in invitation_scores.items():
        print(f"  {label:<48}{score_nps:>8.1f}{score_mean:>12.2f}")

    # ------------------------------------------------------------------ targets
    baselines = [p for p in ("baseline_recency", "baseline_survey", "baseline_logreg") if f"{p}_pr_auc" in m]
    best_pr = max(baselines, key=lambda p: m[f"{p}_pr_auc"])
    best_lift = max(baselines, key=lambda p: m[f"{p}_lift_at_capacity"])
    true_nps, resp_nps, corr_nps = (population[k][0] for k in population)
    true_mean, resp_mean, corr_mean = (population[k][1] for k in population)
    inv_true, inv_resp, inv_corr, _ = (invitation_scores[k][0] for k in invitation_scores)
    targets = [
        ("model PR-AUC > every baseline", f"{m['test_pr_auc']:.4f} vs best {best_pr.removeprefix('baseline_')} {m[best_pr + '_pr_auc']:.4f}",
         m["test_pr_auc"] > m[best_pr + "_pr_auc"]),
        ("model lift@capacity > every baseline", f"{m['test_lift_at_capacity']:.2f} vs best {best_lift.removeprefix('baseline_')} {m[best_lift + '_lift_at_capacity']:.2f}",
         m["test_lift_at_capacity"] > m[best_lift + "_lift_at_capacity"]),
        ("ECE <= 0.25 x test base rate", f"{m['test_ece']:.5f} vs {ECE_SHARE_TARGET * m['test_base_rate']:.5f}",
         m["test_ece"] <= ECE_SHARE_TARGET * m["test_base_rate"]),
        ("ECE < uncalibrated model's ECE", f"{m['test_ece']:.5f} vs {m['test_uncalibrated_ece']:.5f}", m["test_ece"] < m["test_uncalibrated_ece"]),
        ("silent recall@capacity >= 3x random", f"{silent[next(iter(silent))]:.4f} vs {SILENT_LIFT_TARGET * random_recall:.4f}",
         silent[next(iter(silent))] >= SILENT_LIFT_TARGET * random_recall),
        ("silent recall@capacity > recency rule", f"{silent[next(iter(silent))]:.4f} vs {silent['recency rule, same capacity']:.4f}",
         silent[next(iter(silent))] > silent["recency rule, same capacity"]),
        ("model list finds more dissatisfied than survey-only", f"{found['model: top capacity by dissatisfaction_probability']} vs {found['survey-only rule (lowest last answer first)']}",
         found["model: top capacity by dissatisfaction_probability"] > found["survey-only rule (lowest last answer first)"]),
        ("corrected NPS closer to truth than respondents'", f"|{corr_nps:.1f} - {true_nps:.1f}| vs |{resp_nps:.1f} - {true_nps:.1f}|",
         abs(corr_nps - true_nps) < abs(resp_nps - true_nps)),
        ("  (same, mean score)", f"|{corr_mean:.2f} - {true_mean:.2f}| vs |{resp_mean:.2f} - {true_mean:.2f}|",
         abs(corr_mean - true_mean) < abs(resp_mean - true_mean)),
        ("  (same, invitations of the last 90 days, NPS)", f"|{inv_corr:.1f} - {inv_true:.1f}| vs |{inv_resp:.1f} - {inv_true:.1f}|",
         abs(inv_corr - inv_true) < abs(inv_resp - inv_true)),
    ]
    print(f"\n{'target':<52}{'measured':<44}result")
    for name, measured, ok in targets:
        print(f"{name:<52}{measured:<44}{'PASS' if ok else 'MISS'}")
    print(f"\n({time.perf_counter() - started:.0f} s; notes: {' | '.join(result.notes) or 'none'})")


if __name__ == "__main__":
    main()
