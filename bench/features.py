"""Benchmark (not a test): the whole feature build for one as-of date, and the behavioral family
against the fixed DuckDB reference (shared/bench/duckdb_reference.py) on the same events file.

    python bench/features.py --data DIR [--as-of DATE] [--repeat 3]
    python bench/features.py --generate-customers 100000 --generate-events 10000000 --data /tmp/qc10

``DIR`` holds contract tables as ``<table>.parquet`` (what ``quietchurn simulate`` writes). Without
data, ``--generate-*`` first writes a plain synthetic log there: customers, one subscription each
and a time-ordered events file (no operational tables). Every figure comes from a fresh process,
so peak RSS is the measured step's own; reference and behavioral runs alternate, and the ratio
is of their medians. The reference times its query including the Parquet read, without its
distinct-event-type lookup; the behavioral figure likewise reads the file and leaves out learning
the vocabulary.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "bench" / "duckdb_reference.py"
TABLES = ("customers", "events", "subscriptions", "tickets", "orders", "billing", "surveys")


def generate(out: Path, customers: int, events: int, days: int = 365, seed: int = 0) -> None:
    """A time-ordered synthetic events log with heavy-tailed customer activity, plus customers
    and subscriptions (10% ended) so that the eligible population is defined."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = pl.Series("customer_id", [f"C{i:07d}" for i in range(customers)])
    signup_us = int(start.timestamp() * 1e6) - rng.integers(0, 700 * 86_400_000_000, customers)
    ended = np.where(rng.random(customers) < 0.1, int(start.timestamp() * 1e6) + rng.integers(0, days * 86_400_000_000, customers), None)
    ts_type = pl.Datetime("us", "UTC")
    pl.DataFrame({"customer_id": ids, "signup_at": pl.Series(signup_us).cast(ts_type), "plan": rng.choice(["basic", "standard", "premium"], customers), "monthly_value": rng.gamma(2.0, 15.0, customers)}).write_parquet(out / "customers.parquet")
    pl.DataFrame({"customer_id": ids, "started_at": pl.Series(signup_us).cast(ts_type), "ended_at": pl.Series(ended.tolist(), dtype=pl.Int64).cast(ts_type)}).write_parquet(out / "subscriptions.parquet")

    rates = rng.gamma(0.8, 1.0, customers)
    cdf = np.cumsum(rates) / rates.sum()
    types = np.array(["login", "session", "feature_use", "purchase", "page_view", "export"])
    channels = np.array(["web", "app", "email", "phone"])
    ids_np = ids.to_numpy()
    chunks = max(1, events // 2_000_000)
    per_chunk = events // chunks
    first_us, span_us = int(start.timestamp() * 1e6), days * 86_400_000_000
    parts = out / "_events_parts"
    parts.mkdir(exist_ok=True)
    for c in range(chunks):  # each chunk covers the next slice of time: the log is time-ordered
        ts = np.sort(rng.integers(first_us + span_us * c // chunks, first_us + span_us * (c + 1) // chunks, per_chunk))
        kind = rng.choice(len(types), per_chunk, p=[0.25, 0.3, 0.2, 0.05, 0.15, 0.05])
        value = np.where(np.isin(kind, [1, 3]), rng.exponential(20.0, per_chunk), np.nan)
        pl.DataFrame(
            {
                "customer_id": ids_np[np.searchsorted(cdf, rng.random(per_chunk))],
                "ts": pl.Series(ts).cast(ts_type),
                "event_type": types[kind],
                "channel": channels[rng.choice(4, per_chunk, p=[0.5, 0.3, 0.15, 0.05])],
                "value": pl.Series(value).fill_nan(None),
            }
        ).write_parquet(parts / f"{c:05d}.parquet")
    # one file of 1M-row groups in time order, streamed together from the parts
    pl.scan_parquet(parts / "*.parquet").sink_parquet(out / "events.parquet", row_group_size=1_000_000, maintain_order=True)
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()


def _config(data: Path):
    from configs import parse_config

    definition = "subscription_end" if (data / "subscriptions.parquet").exists() else "inactivity"
    raw = {
        "name": "bench",
        "workspace": "bench-workspace",
        "source": {"kind": "files", "path": str(data), "pii": {"customers": ["email", "name"]}},
        "churn": {"definition": definition},
        "sink": {"kind": "duckdb", "path": "bench.duckdb"},
    }
    return parse_config(raw)


def _scans(data: Path) -> dict:
    import polars as pl

    return {name: pl.scan_parquet(data / f"{name}.parquet") for name in TABLES if (data / f"{name}.parquet").exists()}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


class _AnonymousPeak:
    """Samples RssAnon (/proc/self/status) while a step runs: peak RSS also counts the pages of
    memory-mapped Parquet files, which the kernel can drop at will; this is the memory the step
    really holds."""

    def __init__(self) -> None:
        self.peak_kib, self._running = 0, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        status = Path("/proc/self/status")
        while self._running:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            time.sleep(0.02)

    def stop(self) -> float:
        self._running = False
        self._thread.join()
        return self.peak_kib / 1024**2


def measure(step: str, data: Path, as_of: date) -> dict:
    """Run one step in this (fresh) process and report its time and the process's peak RSS."""
    from features.behavioral import build_behavioral
    from features.snapshots import ROWS_PER_PARTITION, _rows, build_scoring_frame, learn_vocabulary
    from features.timeline import dates_frame

    config, tables = _config(data), _scans(data)
    if step == "whole":
        anonymous = _AnonymousPeak()
        started = time.perf_counter()
        frame = build_scoring_frame(tables, config, as_of)
    else:
        vocabulary = learn_vocabulary(tables, config, as_of)
        anonymous = _AnonymousPeak()
        started = time.perf_counter()
        events = tables["events"]
        frame = build_behavioral(
            events,
            dates_frame([as_of], config.schedule.timezone),
            tz=config.schedule.timezone,
            windows=config.features.windows_days,
            event_types=vocabulary.event_types,
            channels=vocabulary.channels,
            partitions=-(-_rows(events) // ROWS_PER_PARTITION),
        )
    seconds = time.perf_counter() - started
    return {"step": step, "seconds": seconds, "peak_rss_gb": _peak_rss_gb(), "peak_anon_gb": anonymous.stop(), "rows": frame.height, "columns": frame.width}


def _child(step: str, data: Path, as_of: date) -> dict:
    out = subprocess.run([sys.executable, __file__, "--data", str(data), "--as-of", as_of.isoformat(), "--measure", step], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference(reference: Path, data: Path, as_of: date) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(reference), str(data / "events.parquet"), as_of.isoformat()], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    found = re.search(r"rows=(\d+) columns=(\d+) seconds=([\d.]+)", out.stdout)
    return {"step": "duckdb_reference", "seconds": float(found.group(3)), "rows": int(found.group(1)), "columns": int(found.group(2)), "process_seconds": wall}


def _default_as_of(data: Path) -> date:
    manifest = data / "simulation.json"
    if manifest.exists():
        return date.fromisoformat(json.loads(manifest.read_text())["today"])
    import polars as pl

    last = pl.scan_parquet(data / "events.parquet").select(pl.col("ts").max()).collect(engine="streaming").item()
    return last.date() + timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of <table>.parquet files (written first with --generate-*)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="alternating reference/behavioral runs")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--generate-customers", type=int, default=0)
    parser.add_argument("--generate-events", type=int, default=0)
    parser.add_argument("--measure", choices=["whole", "behavioral"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    if args.generate_events:
        args.data.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        generate(args.data, args.generate_customers or max(1, args.generate_events // 100), args.generate_events)
        print(f"generated {args.generate_events:,} events in {time.perf_counter() - started:.1f}s into {args.data}", flush=True)
    as_of = args.as_of or _default_as_of(args.data)
    if args.measure:
        print(json.dumps(measure(args.measure, args.data, as_of)))
        return

    import polars as pl

    # keep this parent light: Linux carries a process's peak RSS across fork + exec into the children
    events = pl.scan_parquet(args.data / "events.parquet").select(pl.len()).collect().item()
    customers = pl.scan_parquet(args.data / "customers.parquet").select(pl.len()).collect().item()
    print(f"data: {args.data} events={events:,} customers={customers:,} as_of={as_of}", flush=True)
    whole = _child("whole", args.data, as_of)
    print(
        f"whole feature build: {whole['seconds']:.2f}s peak RSS {whole['peak_rss_gb']:.2f} GB "
        f"(anonymous {whole['peak_anon_gb']:.2f} GB) -> {whole['rows']:,} x {whole['columns']}",
        flush=True,
    )
    reference, behavioral = [], []
    for _ in range(args.repeat):
        reference.append(_reference(args.reference, args.data, as_of))
        behavioral.append(_child("behavioral", args.data, as_of))
        print(f"  duckdb reference {reference[-1]['seconds']:.2f}s | behavioral family {behavioral[-1]['seconds']:.2f}s (peak RSS {behavioral[-1]['peak_rss_gb']:.2f} GB, anonymous {behavioral[-1]['peak_anon_gb']:.2f} GB)", flush=True)
    ref_s = statistics.median(r["seconds"] for r in reference)
    beh_s = statistics.median(b["seconds"] for b in behavioral)
    print(
        f"behavioral family: {beh_s:.2f}s ({behavioral[0]['columns'] - 2} features) vs duckdb reference {ref_s:.2f}s "
        f"({reference[0]['columns'] - 1} features): ratio {beh_s / ref_s:.2f} (target <= 0.7)"
    )


if __name__ == "__main__":
    main()
