"""The world's headline figures, measured from its tables and ground truth.

Used by the tests (is the default world plausible?) and the benchmark (what did it produce?).
All functions are pure: polars frames in, numbers or small frames out.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney ROC-AUC with average ranks for ties; NaN when one class is empty."""
    label = np.asarray(label, dtype=bool)
    positives, negatives = int(label.sum()), int((~label).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = pl.Series(score).rank("average").to_numpy()
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def churn_labels(weekly: pl.DataFrame, churn_events: pl.DataFrame, as_of: date, horizon_days: int = 30) -> pl.DataFrame:
    """Customers subscribed at `as_of` with their true hazard and whether they churned in [as_of, as_of + horizon)."""
    lo = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    hi = pl.lit(as_of + timedelta(days=horizon_days)).cast(pl.Datetime("us", "UTC"))
    churned = churn_events.filter((pl.col("churned_at") >= lo) & (pl.col("churned_at") < hi)).select("customer_id").unique()
    return (
        weekly.filter((pl.col("week") == as_of) & pl.col("active"))
        .select("customer_id", "churn_hazard", "satisfaction")
        .join(churned.with_columns(churned=pl.lit(True)), on="customer_id", how="left")
        .with_columns(pl.col("churned").fill_null(False))
    )


def oracle_auc(weekly: pl.DataFrame, churn_events: pl.DataFrame, as_of: date, horizon_days: int = 30) -> float:
    """ROC-AUC of ranking subscribed customers by their true hazard at `as_of` for churn within the horizon."""
    labelled = churn_labels(weekly, churn_events, as_of, horizon_days)
    return roc_auc(labelled["churn_hazard"].to_numpy(), labelled["churned"].to_numpy())


def monthly_churn_rate(weekly: pl.DataFrame, churn_events: pl.DataFrame, truth_every_days: int = 7) -> float:
    """Churn events per 30 subscribed customer-days (weekly snapshots approximate the exposure)."""
    exposure_days = weekly["active"].sum() * truth_every_days
    return 30.0 * churn_events.height / exposure_days


def customer_months(weekly: pl.DataFrame, truth_every_days: int = 7) -> float:
    return weekly["active"].sum() * truth_every_days / 30.0


def response_rate_by_quintile(surveys: pl.DataFrame, survey_truth: pl.DataFrame, today: date, answer_days: int = 7) -> pl.DataFrame:
    """Response rate of invitations by quintile of the invitee's latent satisfaction when invited.

    Invitations younger than `answer_days` at today are left out (their answer may still come).
    """
    cutoff = pl.lit(today - timedelta(days=answer_days)).cast(pl.Datetime("us", "UTC"))
    return (
        surveys.filter(pl.col("sent_at") < cutoff)
        .join(survey_truth.select("survey_id", "satisfaction"), on="survey_id")
        .with_columns(quintile=(pl.col("satisfaction").rank("ordinal") * 5 / (pl.len() + 1)).floor().cast(pl.Int8) + 1)
        .group_by("quintile")
        .agg(
            invitations=pl.len(),
            response_rate=pl.col("responded_at").is_not_null().mean(),
            mean_satisfaction=pl.col("satisfaction").mean(),
        )
        .sort("quintile")
    )


def churners_never_answered(surveys: pl.DataFrame, churn: pl.DataFrame) -> float:
    """Share of customers who churned (at least once) without ever answering a survey before their first churn."""
    churners = churn.filter(pl.col("churned_at").is_not_null()).select("customer_id", "churned_at")
    answered_before = (
        surveys.filter(pl.col("responded_at").is_not_null())
        .join(churners, on="customer_id")
        .filter(pl.col("responded_at") < pl.col("churned_at"))
        .select("customer_id")
        .unique()
    )
    return 1.0 - answered_before.height / max(churners.height, 1)


def headline_figures(
    tables: dict[str, pl.DataFrame], truth: dict[str, pl.DataFrame], today: date, days: int, event_count: int | None = None
) -> dict[str, float]:
    """The figures the defaults are tuned for (see simulator/world.py).

    `event_count` stands in for `tables["events"]` when the events are too many to load.
    """
    event_count = tables["events"].height if event_count is None else event_count
    weekly, events = truth["weekly"], truth["churn_events"]
    months = customer_months(weekly)
    orders = tables["orders"]
    today_ts = pl.lit(today).cast(pl.Datetime("us", "UTC"))
    due = orders.filter((pl.col("status") != "cancelled") & (pl.col("promised_at") < today_ts))
    late = due.filter(pl.col("delivered_at").is_null() | (pl.col("delivered_at") > pl.col("promised_at")))
    surveys = tables["surveys"]
    weeks = weekly.filter(pl.col("active"))["week"].unique().sort()
    auc_dates = [weeks[int(q * (len(weeks) - 5))] for q in (0.25, 0.5, 0.75, 1.0)] if len(weeks) > 8 else []
    quintiles = response_rate_by_quintile(surveys, truth["surveys"], today) if "surveys" in truth and surveys.height >= 5 else None
    return {
        "monthly_churn": monthly_churn_rate(weekly, events),
        "events_per_customer_year": event_count / tables["customers"].height * 365.0 / days,
        "tickets_per_customer_month": tables["tickets"].height / months,
        "orders_per_customer_month": orders.height / months,
        "late_delivery_share": late.height / max(due.height, 1),
        "payment_failures_per_customer_month": tables["billing"].filter(pl.col("kind") == "payment_failed").height / months,
        "survey_response_rate": surveys["responded_at"].is_not_null().mean() if surveys.height else float("nan"),
        "churners_never_answered": churners_never_answered(surveys, truth["churn"]),
        "dissatisfied_share": weekly.filter(pl.col("active"))["dissatisfied"].mean(),
        "respondent_dissatisfied_share": (surveys["score"].drop_nulls() <= 6).mean() if surveys.height else float("nan"),
        **({} if quintiles is None else {f"response_rate_q{q}": r for q, r in quintiles.select("quintile", "response_rate").iter_rows()}),
        **{f"oracle_auc_{d.isoformat()}": oracle_auc(weekly, events, d) for d in auc_dates},
    }
