"""Write a simulated world to disk: one Parquet file per table, ground truth apart, a manifest.

Large tables (events, weekly ground truth) arrive in chunks and are streamed through one
ParquetWriter each, so memory stays bounded at a million customers. The manifest is written
last: a folder with `simulation.json` is complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from simulator.dynamics import run_world
from simulator.tables import PURCHASES_CUSTOMERS, SCHEMAS, TRUTH_SCHEMAS
from simulator.world import DEFAULT_START, SIMULATOR_VERSION, WorldParams, regime_params

MANIFEST = "simulation.json"
TRUTH_DIR = "ground_truth"
EXPECTED = {**SCHEMAS, **{f"{TRUTH_DIR}/{name}": schema for name, schema in TRUTH_SCHEMAS.items()}}


def expected_tables(regime: str) -> dict[str, pa.Schema]:
    """The tables a world of `regime` holds: the purchases regime has no subscriptions and no plans."""
    if regime == "subscription":
        return EXPECTED
    return {**{name: schema for name, schema in EXPECTED.items() if name != "subscriptions"}, "customers": PURCHASES_CUSTOMERS}
LOW_CARDINALITY = {"plan", "region", "acquisition_channel", "event_type", "channel", "category", "status", "kind", "trigger"}


@dataclass(frozen=True)
class WorldSummary:
    out_dir: Path
    today: date  # start + days: every written timestamp lies strictly before its 00:00 UTC (promised_at excepted)
    row_counts: dict[str, int]  # contract tables and ground_truth/<name>
    paths: dict[str, Path]
    manifest: Path


class ParquetSink:
    """Streams named tables into `<out_dir>/<name>.parquet`; `close()` fills in empty tables never written."""

    def __init__(self, out_dir: Path, expected: dict[str, pa.Schema] = EXPECTED) -> None:
        self.out_dir = out_dir
        self.expected = expected
        self.paths: dict[str, Path] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        writer = self._writers.get(name)
        if writer is None:
            path = self.out_dir / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            dictionary = [c for c in table.column_names if c in LOW_CARDINALITY]
            writer = pq.ParquetWriter(path, table.schema, compression="zstd", use_dictionary=dictionary)
            self._writers[name], self.paths[name] = writer, path
        writer.write_table(table)

    def close(self) -> None:
        for name, schema in self.expected.items():
            if name not in self._writers:
                self.write(name, schema.empty_table())
        for writer in self._writers.values():
            writer.close()


def resolve_params(regime: str, response_rate: float | None, params: WorldParams | None) -> WorldParams:
    """The world to simulate: `params` when given (its regime must be `regime`), else the regime's default."""
    if params is None:
        return regime_params(regime, response_rate)
    if params.regime != regime:
        raise ValueError(f"regime={regime!r} but params.regime={params.regime!r}: pass one, or make them agree")
    if response_rate is not None:
        raise ValueError("response_rate applies to a regime's default world: with params, set params.harshness.response_rate")
    return params


def write_world(
    out_dir: Path,
    customers: int = 20_000,
    days: int = 365,
    seed: int = 42,
    start: date = DEFAULT_START,
    *,
    regime: str = "subscription",
    response_rate: float | None = None,
    params: WorldParams | None = None,
) -> WorldSummary:
    """Simulate a company and write its input tables, hidden ground truth and manifest under `out_dir`.

    `regime` "subscription" (the default and the demo's) or "purchases" (a shop: no subscriptions,
    churn only visible as inactivity; a config reads it with `churn.definition: inactivity`, e.g.
    horizon_days 90, active_within_days 365, activity_event_types [purchase]). `response_rate`
    thins the surveys (e.g. 0.05). `params` replaces the regime's default world; its own `regime`
    must then agree. The same arguments always give byte-identical files.
    """
    params = resolve_params(regime, response_rate, params)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # the manifest marks a complete world
    expected = expected_tables(params.regime)
    sink = ParquetSink(out_dir, expected)
    try:
        row_counts = run_world(params, customers, days, seed, start, sink)
    finally:
        sink.close()
    row_counts = {name: row_counts.get(name, 0) for name in expected}
    today = start + timedelta(days=days)
    manifest = out_dir / MANIFEST
    manifest.write_text(
        json.dumps(
            {
                "regime": params.regime,
                "seed": seed,
                "customers": customers,
                "days": days,
                "start": start.isoformat(),
                "today": today.isoformat(),
                "version": SIMULATOR_VERSION,
                "row_counts": row_counts,
                "tables": {name: str(path.relative_to(out_dir)) for name, path in sorted(sink.paths.items())},
                "params": asdict(params),
            },
            indent=2,
        )
        + "\n"
    )
    return WorldSummary(out_dir=out_dir, today=today, row_counts=row_counts, paths=dict(sink.paths), manifest=manifest)
