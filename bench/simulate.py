"""Benchmark the world simulator: wall time and peak memory per size, plus the world's headline figures.

Each size runs in its own subprocess so its peak RSS is its own. The worlds are kept under
--cache (default bench/.cache/worlds) for other benchmarks to reuse.

    .venv/bin/python bench/simulate.py                          # 20k customers x 365 days
    .venv/bin/python bench/simulate.py --sizes 20000,1000000    # and 1M (~100M events)
    .venv/bin/python bench/simulate.py --reuse                  # skip worlds already in the cache
    .venv/bin/python bench/simulate.py --regime purchases --figures   # a shop, 730 days to 2026-01-01, and its BG/NBD baseline

--figures also prints, at one as-of date 120 days before the simulated today, the churn (dropout)
rate within 90 days and the ROC-AUC against the truth of BG/NBD (models/btyd.py) — 1 - P(alive),
and minus the expected purchases in the next 90 days (which, unlike P(alive), ranks one-time
buyers) — and of the recency rule: the textbook baselines quietchurn must match in the purchases regime.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {20_000: (15.0, None), 1_000_000: (600.0, 12.0)}  # size -> (wall seconds, peak GB) targets
DEFAULT_DAYS = {"subscription": 365, "purchases": 730}  # a shop needs two years for 90-day labels on mature customers
SHOP_TODAY = date(2026, 1, 1)  # a shop's world ends where the demo's does: a later today puts events after the real clock (rejected)
HORIZON_DAYS, AS_OF_BEFORE_TODAY = 90, 120  # baseline figures: 90-day churn at today - 120 days (labels fully observed)


def world_dir(cache: Path, customers: int, days: int, seed: int, regime: str = "subscription", response_rate: float | None = None) -> Path:
    """Subscription worlds keep the names other benchmarks look for; other worlds say what they are."""
    name = f"c{customers}_d{days}_s{seed}"
    name = name if regime == "subscription" else f"{regime}_{name}"
    return cache / (name if response_rate is None else f"{name}_r{response_rate}")


def run_one(customers: int, days: int, seed: int, out: Path, figures: bool, regime: str = "subscription", response_rate: float | None = None) -> dict:
    """Simulate one world in this process and report wall time, peak RSS and (optionally) figures."""
    sys.path.insert(0, str(ROOT))
    from simulator import DEFAULT_START, write_world

    started = time.perf_counter()
    start = DEFAULT_START if regime == "subscription" else SHOP_TODAY - timedelta(days=days)
    summary = write_world(out, customers=customers, days=days, seed=seed, start=start, regime=regime, response_rate=response_rate)
    wall = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    report = {"customers": customers, "days": days, "wall_s": round(wall, 1), "peak_rss_gb": round(peak_gb, 2), "rows": summary.row_counts}
    if figures:
        report["figures"] = {**headline_figures(out, summary.today, days), **baseline_figures(out, summary.today, regime)}
    return report


def headline_figures(out: Path, today, days: int) -> dict:
    import polars as pl

    from simulator.calibration import headline_figures as figures

    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in ("customers", "tickets", "orders", "billing", "surveys")}
    events = pl.scan_parquet(out / "events.parquet").select(pl.len()).collect().item()
    truth = {name: pl.read_parquet(out / "ground_truth" / f"{name}.parquet") for name in ("weekly", "churn", "churn_events", "surveys")}
    return {k: round(v, 4) for k, v in figures(tables, truth, today, days, event_count=events).items()}


def baseline_figures(out: Path, today, regime: str) -> dict:
    """90-day churn at one as-of date and how well BG/NBD's P(alive) ranks it, against the hidden truth.

    Scored: customers with qualifying activity in the year before as-of (the shop's "active"
    customers; purchases only in the purchases regime, any event in the subscription one). Labels:
    `gone` = truly dropped out before as-of + 90 days (already gone at as-of included: nobody can
    see it), `inactive` = no qualifying event in [as-of, as-of + 90) (what `churn.definition:
    inactivity` would label), `dies` = alive at as-of and drops out within 90 days.
    """
    import numpy as np
    import polars as pl

    from models.btyd import BGNBD, rfm_as_of
    from simulator.calibration import roc_auc

    as_of = today - timedelta(days=AS_OF_BEFORE_TODAY)
    end = as_of + timedelta(days=HORIZON_DAYS)
    kinds = ("purchase",) if regime == "purchases" else None
    events = pl.scan_parquet(out / "events.parquet")
    if kinds is not None:
        events = events.filter(pl.col("event_type").is_in(kinds))
    ts = lambda day: pl.lit(day).cast(pl.Datetime("us", "UTC"))  # noqa: E731
    rfm = rfm_as_of(events.select("customer_id", "ts", "event_type"), as_of, event_types=None)
    model = BGNBD().fit(rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy())
    active_later = events.filter((pl.col("ts") >= ts(as_of)) & (pl.col("ts") < ts(end))).select("customer_id").unique().collect()
    churn = pl.read_parquet(out / "ground_truth" / "churn_events.parquet").group_by("customer_id").agg(first=pl.col("churned_at").min())
    alive = pl.read_parquet(out / "ground_truth" / "weekly.parquet").filter(pl.col("week") == pl.col("week").filter(pl.col("week") <= as_of).max())
    x, t_x, T = (rfm[name].to_numpy() for name in ("x", "t_x", "T"))
    scored = (
        rfm.with_columns(p_alive=model.p_alive(x, t_x, T), expected=model.expected_purchases(HORIZON_DAYS, x, t_x, T))
        .filter(pl.col("T") - pl.col("t_x") <= 365)  # some activity in the year before as-of
        .join(churn, on="customer_id", how="left")
        .join(alive.select("customer_id", alive_at_as_of="active"), on="customer_id", how="left")
        .with_columns(
            gone=pl.col("first").is_not_null() & (pl.col("first") < ts(end)),
            inactive=~pl.col("customer_id").is_in(active_later["customer_id"].implode()),
        )
    )
    def scores(frame: pl.DataFrame) -> dict[str, np.ndarray]:
        return {"bgnbd": 1.0 - frame["p_alive"].to_numpy(), "bgnbd_expected": -frame["expected"].to_numpy(), "recency": (frame["T"] - frame["t_x"]).to_numpy()}

    living = scored.filter(pl.col("alive_at_as_of"))
    return {
        "as_of": as_of.isoformat(),
        "scored_customers": scored.height,
        "alive_at_as_of_share": scored["alive_at_as_of"].mean(),
        "gone_within_90d_share": scored["gone"].mean(),
        "inactive_90d_share": scored["inactive"].mean(),
        "alive_dies_within_90d_share": living["gone"].mean(),
        "repeat_buyer_share": (scored["x"] > 0).mean(),
        **{f"{name}_auc_{label}": roc_auc(score, scored[label].to_numpy()) for name, score in scores(scored).items() for label in ("gone", "inactive")},
        **{f"{name}_auc_alive_dies": roc_auc(score, living["gone"].to_numpy()) for name, score in scores(living).items()},
        **{f"bgnbd_{name}": value for name, value in model.named_params_.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000", help="comma-separated customer counts (default 20000)")
    parser.add_argument("--regime", choices=tuple(DEFAULT_DAYS), default="subscription")
    parser.add_argument("--days", type=int, help="days of history (default 365 for subscription, 730 for purchases)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--response-rate", type=float, help="share of survey invitations answered (default: the regime's)")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache" / "worlds", help="where the worlds are written")
    parser.add_argument("--reuse", action="store_true", help="skip a size whose world is already complete in the cache")
    parser.add_argument("--figures", action="store_true", help="also measure headline figures (reads the world back)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run a single size in this process
    args = parser.parse_args()
    args.days = args.days or DEFAULT_DAYS[args.regime]

    if args.one is not None:
        out = world_dir(args.cache, args.one, args.days, args.seed, args.regime, args.response_rate)
        print(json.dumps(run_one(args.one, args.days, args.seed, out, args.figures, args.regime, args.response_rate)))
        return

    print(f"regime {args.regime}")
    print(f"{'customers':>10} {'days':>5} {'wall s':>8} {'peak GB':>8} {'events':>12} {'target':>22}")
    for customers in (int(s) for s in args.sizes.split(",")):
        out = world_dir(args.cache, customers, args.days, args.seed, args.regime, args.response_rate)
        if args.reuse and (out / "simulation.json").exists():
            print(f"{customers:>10,} {args.days:>5} (cached in {out})")
            continue
        command = [sys.executable, __file__, "--one", str(customers), "--days", str(args.days), "--seed", str(args.seed), "--cache", str(args.cache)]
        command += ["--regime", args.regime] + ([] if args.response_rate is None else ["--response-rate", str(args.response_rate)])
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
