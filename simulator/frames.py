"""Simulate a world in memory, as polars frames: for tests and notebooks on small worlds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import pyarrow as pa

from simulator.dynamics import run_world
from simulator.writer import TRUTH_DIR, expected_tables, resolve_params
from simulator.world import DEFAULT_START, WorldParams


@dataclass(frozen=True)
class World:
    today: date
    tables: dict[str, pl.DataFrame]  # the contract tables, as the pipeline would read them
    truth: dict[str, pl.DataFrame]  # hidden ground truth: weekly, churn, churn_events, surveys, traits, outages, support_periods


class MemorySink:
    def __init__(self, expected: dict[str, pa.Schema]) -> None:
        self.expected = expected
        self.chunks: dict[str, list[pa.Table]] = defaultdict(list)

    def write(self, name: str, table: pa.Table) -> None:
        self.chunks[name].append(table)

    def frame(self, name: str) -> pl.DataFrame:
        chunks = self.chunks.get(name) or [self.expected[name].empty_table()]
        return pl.from_arrow(pa.concat_tables(chunks))


def simulate_world(
    customers: int = 2_000,
    days: int = 365,
    seed: int = 42,
    start: date = DEFAULT_START,
    *,
    regime: str = "subscription",
    response_rate: float | None = None,
    params: WorldParams | None = None,
) -> World:
    """The same world `write_world` writes for these arguments, returned as polars frames."""
    params = resolve_params(regime, response_rate, params)
    expected = expected_tables(params.regime)
    sink = MemorySink(expected)
    run_world(params, customers, days, seed, start, sink)
    prefix = f"{TRUTH_DIR}/"
    return World(
        today=start + timedelta(days=days),
        tables={name: sink.frame(name) for name in expected if not name.startswith(prefix)},
        truth={name.removeprefix(prefix): sink.frame(name) for name in expected if name.startswith(prefix)},
    )
