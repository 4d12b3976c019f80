"""How well the scores of a date perform: estimated before outcomes exist, realised once they do.

Pure: ``churn_scores`` rows (and outcomes, survey answers) in, ``score_performance`` rows out: one
per (as_of, model_version, kind, metric) with its ``value`` and ``n`` (docs/monitoring.md). Both
kinds use the same metric names, so the estimate made for a date sits beside its realised figure.

**Estimated** (CBPE-style) assumes the probabilities are calibrated *on today's population*: each
customer's churn is then a Bernoulli(p) draw, and every metric's expectation follows from the p
alone. If calibration breaks (drift the calibrator never saw), the estimate is wrong in the same
direction — that is why the realised figure is kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl

from configs import Config
from features.labels import labelled_dates
from features.timeline import as_of_instant
from models.metrics import average_precision_upper, probability_metrics, ranking_metrics

KEYS = ["as_of", "model_version"]
PERFORMANCE_SCHEMA = {
    "as_of": pl.Date, "model_version": pl.String, "kind": pl.String, "metric": pl.String, "value": pl.Float64, "n": pl.Int64,
}
REQUIRED_SCORE_COLUMNS = ("as_of", "customer_id", "churn_probability", "risk_rank", "risk_tier", "model_version")


def _require(frame: pl.DataFrame, table: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table} lacks column(s) {missing}; see docs/monitoring.md")


def expected_roc_auc(prob: np.ndarray) -> float:
    """E[ROC-AUC] when each label ~ Bernoulli(p), as the ratio of expectations
    E[concordant pairs] / E[positive x negative pairs]; both are exact (ties count one half, a
    customer is never paired with itself), the ratio is the approximation (error O(1/n))."""
    p = np.asarray(prob, dtype=float)
    values, group = np.unique(p, return_inverse=True)  # ascending distinct scores
    pos, neg = np.bincount(group, weights=p), np.bincount(group, weights=1 - p)
    self_pairs = np.bincount(group, weights=p * (1 - p))
    below = np.cumsum(neg) - neg  # expected negatives scored strictly lower
    concordant = float(np.sum(pos * below) + 0.5 * np.sum(pos * neg - self_pairs))
    pairs = float(p.sum() * (1 - p).sum() - np.sum(p * (1 - p)))
    return concordant / pairs if pairs > 0 else float("nan")


def expected_average_precision(prob: np.ndarray) -> float:
    """E[PR-AUC] (average precision) as E[sum_k precision@k * y_k] / E[positives]: with the k-th
    highest p_k, E[precision@k * y_k] = p_k (1 + sum of the higher p) / k by independence."""
    p = np.sort(np.asarray(prob, dtype=float))[::-1]
    higher = np.cumsum(p) - p
    total = p.sum()
    return float(np.sum(p * (1 + higher) / np.arange(1, len(p) + 1)) / total) if total > 0 else float("nan")


def expected_metrics(prob_by_rank: np.ndarray, capacity: int) -> dict[str, float]:
    """CBPE for one day's population, ``prob_by_rank`` ordered by risk_rank: expected base rate,
    positives / precision / recall / lift at capacity (recall as a ratio of expectations), the
    precision's standard deviation from Bernoulli sampling alone, ROC-AUC and PR-AUC."""
    p = np.asarray(prob_by_rank, dtype=float)
    k = min(capacity, len(p))
    top = p[:k]
    base_rate, expected_positives = float(p.mean()), float(p.sum())
    precision = float(top.mean()) if k else float("nan")
    return {
        "base_rate": base_rate,
        "positives_at_capacity": float(top.sum()),
        "precision_at_capacity": precision,
        "precision_at_capacity_sd": float(np.sqrt(np.sum(top * (1 - top))) / k) if k else float("nan"),
        "recall_at_capacity": float(top.sum()) / expected_positives if expected_positives > 0 else float("nan"),
        "lift_at_capacity": precision / base_rate if base_rate > 0 else float("nan"),
        "roc_auc": expected_roc_auc(p),
        "pr_auc": expected_average_precision(p),
    }


def realised_metrics(churned_by_rank: np.ndarray, prob_by_rank: np.ndarray, capacity: int) -> dict[str, float]:
    """The training metrics (models.metrics) on what happened, plus precision and positives at capacity."""
    y = np.asarray(churned_by_rank, dtype=bool)
    k = min(capacity, len(y))
    hits = float(y[:k].sum())
    return {
        **ranking_metrics(y, prob_by_rank, k),
        **probability_metrics(y, prob_by_rank),
        # the 95% one-sided bootstrap bound the monitor's alarm reads: below-threshold must not be sampling noise
        "pr_auc_upper": average_precision_upper(y, prob_by_rank),
        "positives_at_capacity": hits,
        "precision_at_capacity": hits / k if k else float("nan"),
    }


def _records(as_of: date, version: str, metrics: dict[str, float], n: int, n_of: dict[str, int] | None = None) -> list[dict]:
    """One group's ``score_performance`` rows; ``n`` counts the customers behind each value unless
    ``n_of`` says otherwise for a metric."""
    return [{"as_of": as_of, "model_version": version, "metric": m, "value": v, "n": (n_of or {}).get(m, n)} for m, v in metrics.items()]


def _rows(records: list[dict], kind: str) -> pl.DataFrame:
    """The rows as a frame; NaN (e.g. ROC-AUC of a single class) becomes null."""
    frame = pl.DataFrame(records, schema={k: v for k, v in PERFORMANCE_SCHEMA.items() if k != "kind"})
    return frame.select(*KEYS, kind=pl.lit(kind), metric="metric", value=pl.col("value").fill_nan(None), n="n")


def _by_date(scores: pl.DataFrame) -> list[tuple[date, str, pl.DataFrame]]:
    """Each (as_of, model_version)'s rows in published order; capacity = its high-tier rows."""
    ordered = scores.sort([*KEYS, "risk_rank"])
    return [(key[0], key[1], part) for key, part in ordered.partition_by(KEYS, as_dict=True, maintain_order=True).items()]


def _capacity(part: pl.DataFrame) -> int:
    return int((part["risk_tier"] == "high").sum())


def estimated_performance(scores: pl.DataFrame) -> pl.DataFrame:
    """``kind = estimated`` rows for every (as_of, model_version) of ``churn_scores`` rows; capacity is
    the high tier the team was given. Assumes calibration holds on this population (module doc)."""
    _require(scores, "churn_scores", REQUIRED_SCORE_COLUMNS)
    records = [
        row
        for as_of, version, part in _by_date(scores)
        for row in _records(as_of, version, expected_metrics(part["churn_probability"].to_numpy(), _capacity(part)), part.height)
    ]
    return _rows(records, "estimated")


def matured_dates(dates: Sequence[date], config: Config, today: date) -> list[date]:
    """Scoring dates whose outcome window has fully passed: as_of + horizon + grace <= today
    (the rule that decides which snapshots have labels at training)."""
    return labelled_dates(sorted(set(dates)), config, today)


def realised_performance(scores: pl.DataFrame, outcomes: pl.DataFrame, config: Config, today: date) -> pl.DataFrame:
    """``kind = realised`` rows per (as_of, model_version) for the matured dates only: scores joined to
    ``outcomes`` (as_of, customer_id, churned — e.g. ``features.labels.churn_labels``). Outcomes of a
    date that has not matured are never read. ``outcome_coverage`` = scored customers with an outcome."""
    _require(scores, "churn_scores", REQUIRED_SCORE_COLUMNS)
    _require(outcomes, "outcomes", ["as_of", "customer_id", "churned"])
    if outcomes.select("as_of", "customer_id").is_duplicated().any():
        raise ValueError("outcomes hold more than one row for an (as_of, customer_id): one churn outcome per scored customer and date")
    matured = matured_dates(scores["as_of"].unique().to_list(), config, today)
    scored = scores.filter(pl.col("as_of").is_in(matured))
    known = outcomes.filter(pl.col("as_of").is_in(matured)).select("as_of", "customer_id", "churned")
    joined = scored.join(known, on=["as_of", "customer_id"], how="left")
    records = []
    for as_of, version, part in _by_date(joined):
        labelled = part.filter(pl.col("churned").is_not_null())
        metrics = {"outcome_coverage": labelled.height / part.height}
        if labelled.height:
            metrics |= realised_metrics(labelled["churned"].to_numpy(), labelled["churn_probability"].to_numpy(), _capacity(labelled))
        records += _records(as_of, version, metrics, labelled.height, {"outcome_coverage": part.height})
    return _rows(records, "realised")


def _answers_after(scores: pl.DataFrame, surveys: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Each scored customer's first answer in [as_of, as_of + horizon), as_of at local midnight."""
    tz, horizon = config.schedule.timezone, config.churn.horizon_days
    dates = scores["as_of"].unique().to_list()
    windows = pl.DataFrame(
        {
            "as_of": dates,
            "_start": [as_of_instant(d, tz) for d in dates],
            "_end": [as_of_instant(d + timedelta(days=horizon), tz) for d in dates],
        },
        schema={"as_of": pl.Date, "_start": pl.Datetime("us", "UTC"), "_end": pl.Datetime("us", "UTC")},
    )
    answered = pl.col("responded_at").is_not_null() & pl.col("score").is_not_null()
    answers = surveys.filter(answered).select("customer_id", "responded_at", "score")
    return (
        scores.select("as_of", "customer_id").join(windows, on="as_of").join(answers, on="customer_id")
        .filter((pl.col("responded_at") >= pl.col("_start")) & (pl.col("responded_at") < pl.col("_end")))
        .group_by("as_of", "customer_id").agg(pl.col("score").sort_by("responded_at").first())
    )


def silent_follow_up(scores: pl.DataFrame, surveys: pl.DataFrame, config: Config, today: date) -> pl.DataFrame:
    """``kind = realised`` rows for the silent-dissatisfied flag on matured dates: of the flagged, the
    share who answered a survey within the churn horizon after as_of (n = flagged), and of those
    who answered, the share dissatisfied (n = answered); the same share among the unflagged who
    answered shows what the flag adds."""
    _require(scores, "churn_scores", ["as_of", "customer_id", "silent_dissatisfied", "model_version"])
    _require(surveys, "surveys", ["customer_id", "responded_at", "score"])
    scored = scores.filter(pl.col("as_of").is_in(matured_dates(scores["as_of"].unique().to_list(), config, today)))
    if scored.height == 0:
        return pl.DataFrame(schema=PERFORMANCE_SCHEMA)
    answered = _answers_after(scored, surveys, config)
    flagged, dissatisfied = pl.col("silent_dissatisfied"), pl.col("score") <= config.survey.dissatisfied_cut
    counts = (
        scored.join(answered, on=["as_of", "customer_id"], how="left")
        .group_by(KEYS)
        .agg(
            flagged=flagged.sum(),
            flagged_answered=(flagged & pl.col("score").is_not_null()).sum(),
            flagged_dissatisfied=(flagged & dissatisfied).sum(),
            unflagged_answered=(~flagged & pl.col("score").is_not_null()).sum(),
            unflagged_dissatisfied=(~flagged & dissatisfied).sum(),
        )
    )

    def share(part: str, whole: str) -> pl.Expr:
        return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))

    metrics = {
        "silent_answered_share": (share("flagged_answered", "flagged"), "flagged"),
        "silent_dissatisfied_share": (share("flagged_dissatisfied", "flagged_answered"), "flagged_answered"),
        "unflagged_dissatisfied_share": (share("unflagged_dissatisfied", "unflagged_answered"), "unflagged_answered"),
    }
    return pl.concat(
        [
            counts.select(*KEYS, kind=pl.lit("realised"), metric=pl.lit(name), value=value.cast(pl.Float64), n=pl.col(n).cast(pl.Int64))
            for name, (value, n) in metrics.items()
        ]
    ).sort([*KEYS, "metric"])
