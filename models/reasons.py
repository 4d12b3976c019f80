"""Reasons in plain words from the model's own per-customer contributions (TreeSHAP, log-odds).

Only features that push the score up become reasons; the top three per customer, in order.
"""

from __future__ import annotations

import json
import math

import numpy as np

from features.catalog import FeatureSpec, reason_text, usual_name

TOP_REASONS = 3


def _plain(value: float, feature: str, decode: dict[str, dict[int, str]]):
    """A feature value as a reader would say it: category labels instead of codes, None for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if feature in decode:
        return decode[feature].get(int(value), f"code {int(value)}")
    return float(value)


def _say(spec: FeatureSpec | None, name: str, shown, typical: float | None) -> str:
    """The catalog's template; a category label or a missing value gets "<description>: <value>"."""
    if spec is not None and shown is not None and not isinstance(shown, str):
        return reason_text(spec, shown, typical)
    label = spec.description.split(" (")[0] if spec is not None else name
    return f"{label}: {shown}" if shown is not None else f"{label}: none on record"


def top_drivers(contributions: np.ndarray, k: int = TOP_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of each row's k largest positive contributions (-1 where fewer push up)."""
    contrib = contributions[:, :-1]  # the last column is the bias
    k = min(k, contrib.shape[1])
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contrib, order, axis=1)
    return np.where(values > 0, order, -1), values


def explain(
    contributions: np.ndarray,
    X: np.ndarray,
    usual: dict[str, np.ndarray],
    features: list[str],
    catalog: dict[str, FeatureSpec],
    decode: dict[str, dict[int, str]],
) -> tuple[list[list[str | None]], list[str]]:
    """Per row: up to three reason texts and the JSON list of {feature, value, usual, contribution}."""
    index, value = top_drivers(contributions)
    texts: list[list[str | None]] = []
    payloads: list[str] = []
    for row in range(index.shape[0]):
        row_texts: list[str | None] = []
        drivers = []
        for j, contribution in zip(index[row], value[row], strict=True):
            if j < 0:
                row_texts.append(None)
                continue
            name = features[j]
            shown = _plain(X[row, j], name, decode)
            typical = usual[name][row] if name in usual else None
            typical = None if typical is None or np.isnan(typical) else float(typical)
            row_texts.append(_say(catalog.get(name), name, shown, typical))
            drivers.append({"feature": name, "value": shown, "usual": typical, "contribution": round(float(contribution), 4)})
        row_texts += [None] * (TOP_REASONS - len(row_texts))
        texts.append(row_texts)
        payloads.append(json.dumps(drivers))
    return texts, payloads


def usual_columns(frame, features: list[str]) -> dict[str, np.ndarray]:
    """The customer's usual level per feature, where the feature frame carries one."""
    return {f: frame[usual_name(f)].cast(float).fill_null(np.nan).to_numpy() for f in features if usual_name(f) in frame.columns}
