"""Benchmark (not a test): what writing the ingest snapshot in customer hash buckets costs the local engine.

    .venv/bin/python bench/simulate.py --reuse                                # the 20k demo world, cached
    .venv/bin/python bench/snapshot_layout.py                                 # 20k demo world, 5 runs
    .venv/bin/python bench/snapshot_layout.py --data /tmp/world --as-of 2026-01-01 --partitions 64 --runs 3

Alternates, run after run, an ingest (read + validate + write the snapshot) into one file per table
and into ``--partitions`` bucket folders per table, then builds the scoring features from each
snapshot. Prints the median seconds of each step, the ratios, and checks that both layouts give the
same feature frame (docs/scale.md, 'Snapshot layout'). Run it on an idle machine: say the load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml
from polars.testing import assert_frame_equal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configs import parse_config  # noqa: E402
from features.snapshots import build_scoring_frame  # noqa: E402
from flows import workspace  # noqa: E402
from sources.ingest import stream_tables  # noqa: E402


def one_run(config, as_of: date, partitions: int | None, target: Path) -> tuple[float, float, object]:
    started = time.perf_counter()
    stager = workspace.SnapshotStager(target, partitions)
    stream_tables(config, stager.append)
    path = stager.commit({})
    ingested = time.perf_counter()
    frame = build_scoring_frame(workspace.read_snapshot(path), config, as_of)
    return ingested - started, time.perf_counter() - ingested, frame.sort("customer_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".cache" / "worlds" / "c20000_d365_s42")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    raw = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        raw["source"]["path"], raw["workspace"] = str(args.data), scratch
        config = parse_config(raw)
        times: dict[str, tuple[list[float], list[float]]] = {"one file": ([], []), f"{args.partitions} buckets": ([], [])}
        frames = {}
        for _ in range(args.runs):
            for label, partitions in (("one file", None), (f"{args.partitions} buckets", args.partitions)):
                target = Path(scratch) / "snapshots" / label.replace(" ", "-")
                ingest_s, features_s, frames[label] = one_run(config, args.as_of, partitions, target)
                times[label][0].append(ingest_s)
                times[label][1].append(features_s)
                shutil.rmtree(target)
    print(f"{args.data} as of {args.as_of}, {args.runs} alternating runs, load average {os.getloadavg()[0]:.1f}")
    medians = {label: (statistics.median(i), statistics.median(f)) for label, (i, f) in times.items()}
    for label, (ingest_s, features_s) in medians.items():
        print(f"  {label:>12}: ingest {ingest_s:6.2f} s   features {features_s:6.2f} s   together {ingest_s + features_s:6.2f} s")
    (base_i, base_f), (new_i, new_f) = medians.values()
    print(f"  ratio buckets / one file: ingest {new_i / base_i:.2f}   features {new_f / base_f:.2f}   together {(new_i + new_f) / (base_i + base_f):.2f}")
    one, bucketed = frames.values()
    assert_frame_equal(bucketed, one, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)  # float sums may differ in the last bits
    print("  feature frames equal (tolerance 1e-9)")


if __name__ == "__main__":
    main()
