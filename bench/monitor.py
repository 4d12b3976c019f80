"""Benchmark (not a test): what the monitor step costs a nightly, and a year of weekly backfills.

    .venv/bin/python bench/monitor.py                                   # the 1M world (bench/score.py's cache)
    .venv/bin/python bench/monitor.py --customers 200000                # a smaller world when 1M is out of reach
    .venv/bin/python bench/monitor.py --skip-nightly --backfill-customers 20000

1. ``nightly`` (retrain=False) on the world, against a running Prefect server: its wall time and
   peak RSS, and the monitor subflow's seconds and the peak RSS while it ran (read back from the
   Prefect API and a 0.1 s RSS sampler). The monitor's share = monitor seconds / (nightly wall -
   monitor seconds), i.e. what the step adds to a nightly without it. Targets: <= 10% and the
   whole nightly within 3 GB.
2. ``backfill`` of a year of weekly dates (52) on the 20k world (target <= 5 min), with the
   champion trained once on that world (not measured).

Worlds and champions are cached as bench/score.py does (the 1M world by bench/simulate.py; the
champion trained on a --train-share customer sample); every measurement runs in a fresh child
process (peak RSS its own) after waiting for the 1-minute load to drop below --max-load, and
prints the load it ran under: on a shared 2-core machine the figures move with the neighbours.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"monitor_share": 0.10, "nightly_gb": 3.0, "backfill_s": 300.0}


def _score_bench():
    """bench/score.py's helpers (Prefect server, child runner, config writer, world sampler)."""
    spec = importlib.util.spec_from_file_location("bench_score", ROOT / "bench" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sb = _score_bench()


def child_backfill(args) -> dict:
    """A year of weekly backfills ending the day before the world's today."""
    from flows import pipeline
    from flows.runtime import default_as_of

    config = sb._load_config(args.config)
    today = default_as_of(config)
    start = today - timedelta(days=7 * 52)
    started = time.perf_counter()
    result = pipeline.backfill(args.config, start, today - timedelta(days=1), 7)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "dates": len(result.dates), "first": str(result.dates[0].as_of), "last": str(result.dates[-1].as_of),
            "customers": sum(d.customers_scored for d in result.dates), "warn_or_fail": [str(d) for d in result.with_drift("warn", "fail")]}


CHILDREN = {**sb.CHILDREN, "backfill": child_backfill}


def world_path(customers: int) -> Path:
    return ROOT / "bench" / ".cache" / "worlds" / f"c{customers}_d365_s42"


def ensure_world(customers: int) -> Path:
    world = world_path(customers)
    if not (world / "simulation.json").is_file():
        print(f"simulating the {customers:,}-customer world into {world} ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "simulate.py"), "--sizes", str(customers), "--reuse"], check=True)
    return world


def ensure_champion(workdir: Path, world: Path, config: Path, env: dict, log: Path, share: float) -> dict:
    """Train once (not measured) on a customer sample of the world; promote by hand when the gate refuses."""
    if sb.has_champion(workdir):
        return json.loads((workdir / "trained.json").read_text())
    train_config = config
    if share < 1:
        sample = workdir / "train-world"
        print(f"sampling {share:.0%} of the customers to train on (not measured) ...", flush=True)
        sb.run_child("sample-world", ["--out", str(sample), "--share", str(share)], env, log, config, world=world)
        train_config = sb.write_config(workdir, sample, name="train.yaml", workspace="train-workspace")
    print("training once (not measured) ...", flush=True)
    trained, wall, peak = sb.run_child("train", [], env, log, train_config)
    (workdir / "trained.json").write_text(json.dumps(trained))
    print(f"  version {trained['version']} ({'promoted by hand' if trained['promoted_by_hand'] else 'gate promoted'}); {wall:.0f} s, {peak:.2f} GB")
    return trained


def measure_nightly(world: Path, workdir: Path, env: dict, args) -> list[str]:
    config = sb.write_config(workdir, world)
    log = workdir / "bench.log"
    with sb.PrefectServer(workdir / "prefect", env, log) as server:
        env = {**server.env, "PREFECT_API_URL": server.url}
        ensure_champion(workdir, world, config, env, log, args.train_share)
        print("\n## nightly (retrain=False) with its monitor step", flush=True)
        before = sb.wait_for_quiet(args.max_load, args.load_wait_s)
        rss: list[tuple[float, float]] = []
        night, _, peak = sb.run_child("nightly", [], env, log, config, samples=rss)
        after = os.getloadavg()[0]
        runs, _, _ = sb.run_child("task-runs", ["--flow-run-id", night["flow_run_id"]], env, log, config)
    flows = {f["flow"]: f["seconds"] for f in runs["flows"]}
    monitor_s = flows.get("monitor", float("nan"))
    monitor_tasks = [t for t in runs["tasks"] if t["flow"] == "monitor"]
    start, end = (min(t["start"] for t in monitor_tasks), max(t["end"] for t in monitor_tasks)) if monitor_tasks else (0, 0)
    monitor_peak = max((gb for at, gb in rss if start <= at <= end), default=float("nan"))
    without = night["wall_s"] - monitor_s
    share = monitor_s / without
    print(f"1-min load before {before:.2f}, after {after:.2f}; {night['customers']:,} customers scored")
    for name, seconds in flows.items():
        print(f"  flow {name:<16} {seconds:8.1f} s")
    for t in monitor_tasks:
        print(f"    monitor task {t['task']:<22} {t['seconds']:7.2f} s")
    return [
        sb.row(f"nightly wall, {night['customers']:,} customers (load {before:.2f})", f"{night['wall_s']:.1f} s"),
        sb.row("  of which the monitor subflow", f"{monitor_s:.1f} s"),
        sb.row("monitor adds to the nightly without it", f"{share:.1%}", "<= 10%", share <= TARGETS["monitor_share"]),
        sb.row("nightly peak RSS (process)", f"{peak:.2f} GB", "<= 3 GB", peak <= TARGETS["nightly_gb"]),
        sb.row("  peak RSS while the monitor ran", f"{monitor_peak:.2f} GB"),
    ]


def measure_backfill(world: Path, workdir: Path, env: dict, args) -> list[str]:
    config = sb.write_config(workdir, world)
    log = workdir / "bench.log"
    with sb.PrefectServer(workdir / "prefect", env, log) as server:
        env = {**server.env, "PREFECT_API_URL": server.url}
        ensure_champion(workdir, world, config, env, log, 1.0)
        print("\n## a year of weekly backfills", flush=True)
        before = sb.wait_for_quiet(args.max_load, args.load_wait_s)
        done, process_wall, peak = sb.run_child("backfill", [], env, log, config)
        after = os.getloadavg()[0]
    print(f"1-min load before {before:.2f}, after {after:.2f}; {done['dates']} dates {done['first']} .. {done['last']}, "
          f"{done['customers']:,} customer-dates; drift warn/fail on {len(done['warn_or_fail'])} date(s)")
    per_date = done["wall_s"] / done["dates"]
    return [
        sb.row(f"backfill, {done['dates']} weekly dates (load {before:.2f})", f"{done['wall_s']:.1f} s", "<= 300 s", done["wall_s"] <= TARGETS["backfill_s"]),
        sb.row("  per date (score + monitor)", f"{per_date:.1f} s"),
        sb.row("  backfill peak RSS (process)", f"{peak:.2f} GB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000, help="world of the nightly measurement")
    parser.add_argument("--backfill-customers", type=int, default=20_000, help="world of the backfill measurement")
    parser.add_argument("--workdir", type=Path, help="keep configs, workspaces, MLflow, sinks here (a later run reuses the champions)")
    parser.add_argument("--train-share", type=float, default=0.2, help="train the nightly's champion on this share of the customers")
    parser.add_argument("--max-load", type=float, default=1.2)
    parser.add_argument("--load-wait-s", type=float, default=600)
    parser.add_argument("--skip-nightly", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--flow-run-id", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--share", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        sys.path.insert(0, str(ROOT))
        Path(args.result).write_text(json.dumps(CHILDREN[args.child](args), default=str))
        return

    sb.__file__ = __file__  # run_child starts this script, whose CHILDREN include the backfill
    root = (args.workdir or Path(tempfile.mkdtemp(prefix="qc-monitor-bench-"))).resolve()
    quiet = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_WAIT_POLICY": "PASSIVE"}
    env = {**os.environ, **quiet}
    print(f"workdir {root}; 1-min load now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores ({date.today()})")
    table: list[str] = []
    if not args.skip_nightly:
        workdir = root / f"nightly-{args.customers}"
        workdir.mkdir(parents=True, exist_ok=True)
        table += measure_nightly(ensure_world(args.customers), workdir, env, args)
    if not args.skip_backfill:
        workdir = root / f"backfill-{args.backfill_customers}"
        workdir.mkdir(parents=True, exist_ok=True)
        table += measure_backfill(ensure_world(args.backfill_customers), workdir, env, args)
    print("\n" + sb.row("measurement", "figure", "target").replace("|           |", "| PASS/MISS |"))
    print("\n".join(table))


if __name__ == "__main__":
    main()
