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
