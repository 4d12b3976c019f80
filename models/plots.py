"""Training plots logged to MLflow: gain/lift with baselines, calibration, importance, SHAP summary."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SCORERS = {
    "test": "quietchurn (calibrated)",
    "baseline_logreg": "logistic regression",
    "baseline_recency": "recency rule",
    "baseline_survey": "survey-only rule",
}


def gain_lift(test_scores: pl.DataFrame, capacity: int) -> Figure:
    """Cumulative share of churners found vs share of customers contacted, and lift, per scorer."""
    y = test_scores["churned"].cast(pl.Int8).to_numpy()
    fig, (gain_ax, lift_ax) = plt.subplots(1, 2, figsize=(12, 5))
    contacted = np.arange(1, len(y) + 1) / len(y)
    for column, label in SCORERS.items():
        if column not in test_scores.columns:
            continue
        order = np.argsort(-test_scores[column].to_numpy(), kind="stable")
        found = np.cumsum(y[order]) / max(y.sum(), 1)
        gain_ax.plot(contacted, found, label=label)
        lift_ax.plot(contacted, found / contacted, label=label)
    gain_ax.plot([0, 1], [0, 1], "k:", label="random")
    lift_ax.axhline(1, color="k", linestyle=":")
    for ax in (gain_ax, lift_ax):
        ax.axvline(capacity / len(y), color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("share of customers contacted (riskiest first)")
    gain_ax.set_ylabel("share of churners found")
    lift_ax.set_ylabel("lift over random")
    lift_ax.set_xscale("log")
    gain_ax.legend(loc="lower right")
    fig.suptitle(f"Out-of-time test: gain and lift (dashed line: capacity = {capacity:,} customers)")
    fig.tight_layout()
    return fig


def calibration_curve(test_scores: pl.DataFrame, bins: int = 10) -> Figure:
    """Mean predicted vs observed churn rate in equal-count bins, raw booster and calibrated."""
    y = test_scores["churned"].cast(pl.Float64).to_numpy()
    fig, ax = plt.subplots(figsize=(6, 6))
    top = 0.0
    for column, label in (("test_uncalibrated", "raw booster"), ("test", "calibrated")):
        p = test_scores[column].to_numpy()
        groups = np.array_split(np.argsort(p, kind="stable"), bins)
        mean_p = [p[g].mean() for g in groups]
        rate = [y[g].mean() for g in groups]
        top = max(top, *mean_p, *rate)
        ax.plot(mean_p, rate, "o-", label=label)
    ax.plot([0, top], [0, top], "k:", label="perfect")
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on the out-of-time test (10 equal-count bins)")
    ax.legend()
    fig.tight_layout()
    return fig


def importance(names: list[str], gain: np.ndarray, top: int = 25) -> Figure:
    order = np.argsort(gain)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(8, max(4, 0.3 * len(order))))
    ax.barh([names[i] for i in order], gain[order] / gain.sum())
    ax.set_xlabel("share of total gain")
    ax.set_title("Churn model: feature importance (gain)")
    fig.tight_layout()
    return fig


def shap_summary(names: list[str], contributions: np.ndarray, X: np.ndarray, top: int = 20) -> Figure:
    """Beeswarm-style summary: each dot a customer, x = contribution (log-odds), colour = feature value rank."""
    contrib = contributions[:, : len(names)]
    order = np.argsort(np.abs(contrib).mean(axis=0))[::-1][:top]
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(9, max(4, 0.35 * len(order))))
    for row, j in enumerate(order[::-1]):
        values = X[:, j]
        finite = np.isfinite(values)
        colour = np.full(len(values), 0.5)
        if finite.any():
            ranks = values[finite].argsort().argsort()
            colour[finite] = ranks / max(len(ranks) - 1, 1)
        jitter = rng.uniform(-0.3, 0.3, len(values))
        ax.scatter(contrib[:, j], row + jitter, c=colour, cmap="coolwarm", s=4, alpha=0.6, linewidths=0)
    ax.set_yticks(range(len(order)), [names[j] for j in order[::-1]])
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_xlabel("contribution to churn log-odds (TreeSHAP); colour: feature value, blue low, red high, grey missing")
    ax.set_title("Churn model: SHAP summary on a test sample")
    fig.tight_layout()
    return fig
