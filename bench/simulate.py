"""Benchmark the world simulator: wall time and peak memory per size, plus the world's headline figures.

Each size runs in its own subprocess so its peak RSS is its own. The worlds are kept under
--cache (default bench/.cache/worlds) for other benchmarks to reuse.

    .venv/bin/python bench/simulate.py                          # 20k customers x 365 days
    .venv/bin/python bench/simulate.py --sizes 20000,1000000    # and 1M (~100M events)
    .venv/bin/python bench/simulate.py --reuse                  # skip worlds already in the cache
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {20_000: (15.0, None), 1_000_000: (600.0, 12.0)}  # size -> (wall seconds, peak GB) targets


def world_dir(cache: Path, customers: int, days: int, seed: int) -> Path:
    return cache / f"c{customers}_d{days}_s{seed}"


def run_one(customers: int, days: int, seed: int, out: Path, figures: bool) -> dict:
    """Simulate one world in this process and report wall time, peak RSS and (optionally) figures."""
    sys.path.insert(0, str(ROOT))
    from simulator import write_world

    started = time.perf_counter()
    summary = write_world(out, customers=customers, days=days, seed=seed)
    wall = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    report = {"customers": customers, "days": days, "wall_s": round(wall, 1), "peak_rss_gb": round(peak_gb, 2), "rows": summary.row_counts}
    if figures:
        report["figures"] = headline_figures(out, summary.today, days)
    return report


def headline_figures(out: Path, today, days: int) -> dict:
    import polars as pl

    from simulator.calibration import headline_figures as figures

    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in ("customers", "tickets", "orders", "billing", "surveys")}
    events = pl.scan_parquet(out / "events.parquet").select(pl.len()).collect().item()
    truth = {name: pl.read_parquet(out / "ground_truth" / f"{name}.parquet") for name in ("weekly", "churn", "churn_events", "surveys")}
    return {k: round(v, 4) for k, v in figures(tables, truth, today, days, event_count=events).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000", help="comma-separated customer counts (default 20000)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache" / "worlds", help="where the worlds are written")
    parser.add_argument("--reuse", action="store_true", help="skip a size whose world is already complete in the cache")
    parser.add_argument("--figures", action="store_true", help="also measure headline figures (reads the world back)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run a single size in this process
    args = parser.parse_args()

    if args.one is not None:
        out = world_dir(args.cache, args.one, args.days, args.seed)
        print(json.dumps(run_one(args.one, args.days, args.seed, out, args.figures)))
        return

    print(f"{'customers':>10} {'days':>5} {'wall s':>8} {'peak GB':>8} {'events':>12} {'target':>22}")
    for customers in (int(s) for s in args.sizes.split(",")):
        out = world_dir(args.cache, customers, args.days, args.seed)
        if args.reuse and (out / "simulation.json").exists():
            print(f"{customers:>10,} {args.days:>5} (cached in {out})")
            continue
        command = [sys.executable, __file__, "--one", str(customers), "--days", str(args.days), "--seed", str(args.seed), "--cache", str(args.cache)]
        if args.figures:
            command.append("--figures")
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        wall_target, peak_target = TARGETS.get(customers, (None, None))
        target = ", ".join(
            t for t in (f"<= {wall_target:.0f} s" if wall_target else "", f"<= {peak_target:.0f} GB" if peak_target else "") if t
        )
        print(
            f"{customers:>10,} {args.days:>5} {result['wall_s']:>8.1f} {result['peak_rss_gb']:>8.2f} "
            f"{result['rows']['events']:>12,} {target:>22}"
        )
        if args.figures:
            for name, value in result["figures"].items():
                print(f"{'':>12}{name:<40} {value}")


if __name__ == "__main__":
    main()
