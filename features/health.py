"""Data health of a date's input snapshot (docs/monitoring.md#data-health): per table, how fresh its
newest row is, how its volume compares with earlier runs, and what share ingest rejected.

Pure: the snapshot's tables and the ingest manifests in, a JSON-serialisable dict out. Each table's
freshness is read from its first required time column (events.ts, tickets.opened_at, ...), so a
table whose feed stopped shows as stale even while the events keep the as-of covered.
"""

from __future__ import annotations

from datetime import date
from statistics import median

import polars as pl

from configs import Config
from features.contract import TABLES
from features.population import Tables, lazy
from features.timeline import as_of_instant

# a table's accepted rows beyond these multiples of the trailing median of earlier runs is a jump
VOLUME_RATIO_BOUNDS = (0.5, 2.0)
TRAILING_RUNS = 7


def freshness_column(table: str) -> str:
    """The column whose newest value says when the table was last fed: its first required time column."""
    return next(c.name for c in TABLES[table].columns if c.is_time and c.required)


def newest_rows(tables: Tables, as_of: date, timezone: str) -> dict[str, object]:
    """Each contract table's newest time before the as-of instant (None: no row), one scan per table."""
    cut = as_of_instant(as_of, timezone)
    present = [t for t in TABLES if t in tables]
    return {
        t: lazy(tables, t).select(pl.col(freshness_column(t)).filter(pl.col(freshness_column(t)) < cut).max()).collect().item()
        for t in present
    }


def data_health(tables: Tables, manifest: dict, earlier: list[dict], as_of: date, config: Config) -> dict:
    """Freshness, volume against the trailing median of ``earlier`` manifests (newest last) and the
    reject share, per table; ``issues`` lists each breach in words and ``status`` is warn when any."""
    cut = as_of_instant(as_of, config.schedule.timezone)
    limit_h, max_share = config.monitoring.max_staleness_hours, config.monitoring.max_reject_share
    newest = newest_rows(tables, as_of, config.schedule.timezone)
    report, issues = {}, []
    for table, counts in manifest["tables"].items():
        last = newest.get(table)
        hours = None if last is None else round((cut - last).total_seconds() / 3600, 1)
        history = [m["tables"][table]["accepted"] for m in earlier[-TRAILING_RUNS:] if table in m.get("tables", {})]
        trailing = median(history) if history else None
        ratio = None if not trailing else counts["accepted"] / trailing
        share = counts["rejected"] / counts["read"] if counts["read"] else 0.0
        report[table] = {"newest": None if last is None else last.isoformat(), "hours_old": hours, "rows": counts["accepted"],
                         "trailing_median_rows": trailing, "volume_ratio": ratio, "reject_share": share}
        if hours is not None and hours > limit_h:
            issues.append(f"{table}: newest {freshness_column(table)} {last:%Y-%m-%d %H:%M} is {hours:.0f} h before as-of {as_of} (monitoring.max_staleness_hours={limit_h})")
        if ratio is not None and not VOLUME_RATIO_BOUNDS[0] <= ratio <= VOLUME_RATIO_BOUNDS[1]:
            issues.append(f"{table}: {counts['accepted']:,} rows, {ratio:.2f} x the median of the last {len(history)} runs")
        if share > max_share:
            issues.append(f"{table}: {share:.1%} of rows rejected (monitoring.max_reject_share={max_share})")
    return {"status": "warn" if issues else "ok", "issues": issues, "tables": report}
