"""Ranking and calibration metrics with the names listed in docs/dates-and-training.md (prefix added by the caller)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-count bins: sum over bins of (bin share) x |mean predicted - observed rate|."""
    order = np.argsort(prob, kind="stable")
    y, p = np.asarray(y_true, dtype=float)[order], np.asarray(prob, dtype=float)[order]
    groups = np.array_split(np.arange(len(p)), bins)
    return float(sum(len(g) / len(p) * abs(p[g].mean() - y[g].mean()) for g in groups if len(g)))


def top_k_mask(score: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """The k highest scores (ties broken by ``tiebreak`` ascending, else by position)."""
    keys = (np.arange(len(score)) if tiebreak is None else tiebreak, -np.asarray(score, dtype=float))
    chosen = np.lexsort(keys)[:k]
    mask = np.zeros(len(score), dtype=bool)
    mask[chosen] = True
    return mask


def ranking_metrics(y_true: np.ndarray, score: np.ndarray, capacity: int) -> dict[str, float]:
    """Base rate, ROC-AUC, PR-AUC (average precision), lift and recall among the top ``capacity``."""
    y = np.asarray(y_true, dtype=bool)
    base_rate = float(y.mean())
    top = top_k_mask(score, min(capacity, len(y)))
    hits = float(y[top].sum())
    both_classes = 0 < y.sum() < len(y)
    return {
        "base_rate": base_rate,
        "roc_auc": float(roc_auc_score(y, score)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if both_classes else float("nan"),
        "lift_at_capacity": (hits / top.sum()) / base_rate if base_rate > 0 and top.sum() else float("nan"),
        "recall_at_capacity": hits / y.sum() if y.sum() else float("nan"),
    }


def probability_metrics(y_true: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    return {
        "brier": float(brier_score_loss(np.asarray(y_true, dtype=int), prob)),
        "ece": expected_calibration_error(y_true, prob),
    }


def average_precision_upper(y_true: np.ndarray, score: np.ndarray, level: float = 0.95, resamples: int = 400, seed: int = 0) -> float:
    """One-sided upper bound of average precision: the ``level`` quantile of a Poisson bootstrap over
    customers (each customer's weight ~ Poisson(1)), so a low realised PR-AUC counts as evidence only
    when sampling noise cannot explain it (docs/monitoring.md#realised-performance-once-the-horizon-has-passed).

    Exact and cheap: average precision only depends on the positives and on how many negatives score at
    or above each of them, so each group of tied scores that holds a positive is drawn as Poisson(its
    positives) and Poisson(the negatives since the previous such group) — O(positives) per resample.
    NaN when there is no positive or no negative (like ``ranking_metrics``)."""
    y = np.asarray(y_true, dtype=bool)
    if not 0 < y.sum() < len(y):
        return float("nan")
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # tied scores form one threshold (as sklearn counts them)
    positives = np.add.reduceat(y.astype(np.int64), starts)
    negatives = np.add.reduceat((~y).astype(np.int64), starts)
    holds = positives > 0
    negatives_since = np.diff(np.r_[0, np.cumsum(negatives)[holds]])  # negatives ranked up to each positive group
    rng = np.random.default_rng(seed)
    tp = rng.poisson(positives[holds], size=(resamples, holds.sum())).cumsum(axis=1)
    fp = rng.poisson(negatives_since, size=(resamples, holds.sum())).cumsum(axis=1)
    gained = np.diff(np.c_[np.zeros(resamples), tp], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (gained * tp / np.maximum(tp + fp, 1)).sum(axis=1) / tp[:, -1]
    return float(np.nanquantile(ap, level))
