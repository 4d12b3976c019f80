"""Reasons in plain words from the model's own per-customer contributions (TreeSHAP, log-odds).

Only features that push the score up become reasons; the top three per customer, in order. A
missing value is a reason only where the catalog says what it means (``missing_reason``: "has
never answered a survey"); elsewhere the next driver takes its place (docs/reasons-and-flags.md).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection

import numpy as np

from features.catalog import FeatureSpec, reason_text, usual_name
from features.wording import words

TOP_REASONS = 3
_WINDOW_SUFFIX = re.compile(r"_\d+d$")  # tickets_30d, tickets_friction_45d: one measure over a window or half-life


def measures(features: list[str]) -> np.ndarray:
    """A code per feature, shared by one measure's windows and half-lives (tickets_30d and tickets_90d):
    a customer's reasons name each measure once, in the words of the window that pushes hardest,
    instead of "3.6 tickets … last four months; 2.6 tickets … last six weeks"."""
    stems = [_WINDOW_SUFFIX.sub("", f) for f in features]
    codes = {stem: i for i, stem in enumerate(dict.fromkeys(stems))}
    return np.array([codes[stem] for stem in stems], dtype=np.intp)


def _plain(value: float, feature: str, decode: dict[str, dict[int, str]]):
    """A feature value as a reader would say it: category labels instead of codes, None for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if feature in decode:
        return decode[feature].get(int(value))  # a code without a label is as good as missing
    return float(value)


def _say(spec: FeatureSpec | None, name: str, shown, typical: float | None) -> str:
    """The catalog's sentence; a feature without an entry (never built by this package) as "name: value"."""
    if spec is not None:
        return reason_text(spec, shown, typical)
    return f"{words(name)}: {shown}"


def unexplained(X: np.ndarray, features: list[str], catalog: dict[str, FeatureSpec], unknown: Collection[str] = ()) -> np.ndarray:
    """Where a value is missing and the catalog gives that no meaning, or the feature is ``unknown``
    (missing for everyone: its table is gone, so "never contacted support" would be untrue):
    such cells are no reasons."""
    silent = [j for j, f in enumerate(features) if f in unknown or catalog.get(f) is None or catalog[f].missing_reason is None]
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, silent] = np.isnan(X[:, silent])
    return mask


def top_drivers(
    contributions: np.ndarray, k: int = TOP_REASONS, skip: np.ndarray | None = None, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of each row's k largest positive contributions, largest first, ties to the
    lower column (-1 where fewer push up), and their contributions; ``skip`` (rows x features)
    marks cells that are never picked; with ``groups`` (a code per feature) a pick knocks out the
    rest of its group in that row, so each group is picked at most once."""
    contrib = np.array(contributions[:, :-1], dtype=np.float64)  # a copy without the bias column: picks get knocked out
    if skip is not None:
        contrib[skip] = -np.inf
    n, k = len(contrib), min(k, contrib.shape[1])
    rows = np.arange(n)
    order, values = np.empty((n, k), dtype=np.intp), np.empty((n, k))
    for slot in range(k):  # k argmax passes rather than sorting every row (1M rows x 100+ features)
        order[:, slot] = np.argmax(contrib, axis=1)
        values[:, slot] = contrib[rows, order[:, slot]]
        if groups is None:
            contrib[rows, order[:, slot]] = -np.inf
        else:
            contrib[groups[None, :] == groups[order[:, slot]][:, None]] = -np.inf
    return np.where(values > 0, order, -1), values


def _json_number(value: float | None) -> str:
    """What json.dumps writes for a float or None, without its per-call overhead."""
    if value is None:
        return "null"
    return float.__repr__(value) if math.isfinite(value) else json.dumps(value)


def _rounded_json(values: np.ndarray, decimals: int = 4) -> np.ndarray:
    """json.dumps(round(v, decimals)) of each value, formatted once per distinct result."""
    rounded = np.round(values, decimals)
    # np.round scales in binary: only a value within reach of a half step may round otherwise than
    # Python's round (correctly rounded decimal); those few are rounded by Python
    scaled = values * 10.0**decimals
    close = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    rounded[close] = [round(v, decimals) for v in values[close].tolist()]
    distinct, inverse = np.unique(rounded, return_inverse=True)
    return np.array([_json_number(v) for v in distinct.tolist()], dtype=object)[inverse.ravel()]


def _bits(values: np.ndarray) -> np.ndarray:
    """Floats as their bit patterns, every NaN alike: exact keys for finding distinct values."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.nan, values).view(np.int64)


def _settled(value: float) -> float:
    """The value to 12 significant digits: a feature summed in another order (per bucket on a Dask
    cluster, another file layout) differs in its last bits, and must not read 73.76 on one engine and
    73.75 on the other (73.755 vs 73.75500000000001); 12 digits are far beyond what a reason shows."""
    return float(f"{value:.12g}") if math.isfinite(value) else value


def _feature_drivers(spec: FeatureSpec | None, name: str, decode: dict[str, dict[int, str]], values: np.ndarray, typical: np.ndarray):
    """One feature's reason texts and JSON heads (everything but the contribution) for rows with
    these values and usual levels: formatted once per distinct (value, usual) pair."""
    distinct, inverse = np.unique(np.stack([_bits(values), _bits(typical)], axis=1), axis=0, return_inverse=True)
    prefix = f'{{"feature": {json.dumps(name)}, "value": '
    texts, heads = [], []
    for value, usual in distinct.view(np.float64).tolist():
        value, usual = _settled(value), _settled(usual)
        shown = _plain(value, name, decode)
        usual = None if math.isnan(usual) else usual
        texts.append(_say(spec, name, shown, usual))
        shown_json = json.dumps(shown) if isinstance(shown, str) else _json_number(shown)
        heads.append(f'{prefix}{shown_json}, "usual": {_json_number(usual)}, "contribution": ')
    inverse = inverse.ravel()
    return np.array(texts, dtype=object)[inverse], np.array(heads, dtype=object)[inverse]


def explain(
    contributions: np.ndarray,
    X: np.ndarray,
    usual: dict[str, np.ndarray],
    features: list[str],
    catalog: dict[str, FeatureSpec],
    decode: dict[str, dict[int, str]],
    unknown: Collection[str] = (),
) -> tuple[list[list[str | None]], list[str]]:
    """Per row: up to three reason texts and the JSON list of {feature, value, usual, contribution}.

    Built feature by feature, not row by row: texts are formatted once per distinct value.
    """
    index, contribution = top_drivers(contributions, skip=unexplained(X, features, catalog, unknown), groups=measures(features))
    n, k = index.shape
    driver = index >= 0
    contribution_json = np.full((n, k), None, dtype=object)
    contribution_json[driver] = _rounded_json(contribution[driver])
    texts = np.full((n, TOP_REASONS), None, dtype=object)
    fragments = np.full((n, k), None, dtype=object)  # one driver's JSON object
    for j in np.unique(index[driver]).tolist():
        rows, slots = np.nonzero(index == j)
        name = features[j]
        typical = usual[name][rows] if name in usual else np.full(len(rows), np.nan)
        feature_texts, heads = _feature_drivers(catalog.get(name), name, decode, X[rows, j], typical)
        texts[rows, slots] = feature_texts
        fragments[rows, slots] = heads + contribution_json[rows, slots] + "}"
    payloads = np.full(n, "[", dtype=object)
    for slot in range(k):  # a row's drivers fill its first slots: -1 only after the last one
        has = driver[:, slot]
        payloads[has] += ("" if slot == 0 else ", ") + fragments[has, slot]
    payloads += "]"
    return texts.tolist(), payloads.tolist()


def usual_columns(frame, features: list[str]) -> dict[str, np.ndarray]:
    """The customer's usual level per feature, where the feature frame carries one."""
    return {f: frame[usual_name(f)].cast(float).fill_null(np.nan).to_numpy() for f in features if usual_name(f) in frame.columns}
