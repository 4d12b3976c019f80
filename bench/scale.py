"""Benchmark (not a test): the local engine against a Dask LocalCluster, and per-core throughput for the capacity model.

    .venv/bin/python bench/scale.py                         # the 1M-customer world (cached; simulated when missing)
    .venv/bin/python bench/scale.py --customers 20000       # a smaller cached world (bench/simulate.py --sizes 20000)
    .venv/bin/python bench/scale.py --train-share 0.1 --skip-cluster-train   # the 1M nightlies only (no ~20-min 1M trainings)
    .venv/bin/python bench/scale.py --skip-nightlies                 # the trainings only: local, then on the cluster

Against one Prefect server (temporary PREFECT_HOME) and one MLflow store, in this order:

1. ``train`` flow, local engine (the champion; promoted by hand if the gate refuses, and said so),
   on the whole world or, with ``--train-share F < 1``, on bench/score.py's seeded hash sample of
   about F of its customers (as bench/monitor.py does; the share is printed and in the figures);
2. ``nightly`` (retrain=False), local engine, then ``engine.kind: dask`` on a LocalCluster of
   ``--workers`` single-threaded workers with ``--worker-memory`` each (started here; its address
   goes into the config): the same champion scores both; cluster overhead = dask wall / local wall - 1;
3. ``train`` flow on the cluster (lightgbm.dask) after the local one, on the same world as step 1:
   rows per second of fitting and the gate's verdict on the cluster's model (``--skip-cluster-train``
   skips it, and says so);
4. ``build_features`` and ``score`` (``reasons_for: all``) flows, local engine: events/s of feature
   building and scored rows/s with reasons.

``--skip-nightlies`` skips steps 2 and 4 (the trainings' figures only).

Every flow runs in a fresh child process (its peak RSS is its own, os.wait4); a Dask worker's peak
RSS is read from the worker after each run, and the workers are restarted before each. Per-core
throughput = throughput / the cores the run could use (all of this machine's for the local engine).
The figures feed the capacity table of docs/scale.md. Print the box's load with them: on a shared
machine they are lower bounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GB = 1024**2  # ru_maxrss is in KiB on Linux


def _score_bench():
    """bench/score.py's Prefect server, config writer and load wait (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_score", ROOT / "bench" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- children (heavy imports live here)


def child_train(args) -> dict:
    """The train flow; the fit's own seconds and rows are read around train_models."""
    from flows import pipeline, tasks
    from models.registry import client_for, promote

    fits: dict = {}
    original = tasks.train_models

    def timed(training, inputs, config, invitations=None, **kw):
        started = time.perf_counter()
        result = original(training, inputs, config, invitations, **kw)
        fits.update(fit_s=time.perf_counter() - started, rows=training.height, invitations=0 if invitations is None else invitations.height,
                    features=len(inputs.features))
        return result

    tasks.train_models = timed
    boosters: list[dict] = []  # each final booster's fit: rows, rounds, seconds (the backtest's are not here)

    def timing(fit, method: bool = False):
        def run(*a, **k):
            started = time.perf_counter()
            booster = fit(*a, **k)
            y = a[2] if method else a[1]
            boosters.append({"rows": len(y), "rounds": booster.current_iteration(), "s": time.perf_counter() - started})
            return booster
        return run

    import flows.train_engine
    import models.distributed

    flows.train_engine.train_booster = timing(flows.train_engine.train_booster)
    models.distributed.ClusterFit.__call__ = timing(models.distributed.ClusterFit.__call__, method=True)
    config = tasks.read_config.fn(args.config)
    started = time.perf_counter()
    registered = pipeline.train(args.config)
    wall = time.perf_counter() - started
    by_hand = False
    if args.promote and not registered.promoted:
        promote(client_for(config), config.registered_model_name, str(registered.version), by_hand=True)
        by_hand = True
    keep = ("test_pr_auc", "test_roc_auc", "baseline_logreg_pr_auc", "baseline_recency_pr_auc", "satisfaction_roc_auc")
    return {"wall_s": wall, **fits, "version": str(registered.version), "promoted": registered.promoted, "gate": registered.reason,
            "promoted_by_hand": by_hand, "boosters": boosters, "metrics": {k: v for k, v in registered.metrics.items() if k in keep}}


def child_nightly(args) -> dict:
    from flows import pipeline

    started = time.perf_counter()
    result = pipeline.nightly(args.config, retrain=False)
    return {"wall_s": time.perf_counter() - started, "customers": result.score.run.customers_scored if hasattr(result.score, "run") else None,
            "trained": result.train is not None}


def child_features(args) -> dict:
    from flows import pipeline

    started = time.perf_counter()
    built = pipeline.build_features(args.config)
    return {"wall_s": time.perf_counter() - started, "path": built.path, "rows": built.rows}


def child_score(args) -> dict:
    from flows import pipeline

    started = time.perf_counter()
    scored = pipeline.score_flow(args.config, features_path=args.features)
    return {"wall_s": time.perf_counter() - started, "customers": scored.run.customers_scored}


CHILDREN = {"train": child_train, "nightly": child_nightly, "features": child_features, "score": child_score}


# ---------------------------------------------------------------- parent


def run_child(mode: str, config: Path, env: dict, log: Path, *extra: str) -> tuple[dict, float]:
    """One flow in a fresh process: its result and peak RSS (GB)."""
    result = config.parent / f"result-{mode}.json"
    result.unlink(missing_ok=True)
    with log.open("a") as handle:
        handle.write(f"\n===== {mode} {config.name} {' '.join(extra)}\n")
        handle.flush()
        proc = subprocess.Popen([sys.executable, __file__, "--child", mode, "--config", str(config), "--result", str(result), *extra],
                                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"child {mode} failed; log {log}:\n{tail}")
    return json.loads(result.read_text()), usage.ru_maxrss / GB


def _worker_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / GB


def engine_config(base: Path, name: str, engine: str, extra: str = "") -> Path:
    """``base`` with its engine section replaced (and ``extra`` appended)."""
    text = base.read_text()
    start = text.index("\nengine:")
    end = text.find("\n", text.index("partitions:", start))
    path = base.parent / name
    path.write_text(text[:start] + "\n" + engine + text[end:] + extra)
    return path


def champion_config(bench, base: Path, local: Path, world: Path, share: float, customers: int, env: dict, log: Path,
                    engine: str) -> tuple[Path, dict]:
    """The local-engine config the champion trains on, and which share of the world that is: the whole
    world, or bench/score.py's sample of it (hash of customer_id, seed 0), as bench/monitor.py trains."""
    if share >= 1:
        return local, {"train_share": 1.0, "train_customers": customers, "train_share_actual": 1.0}
    sample = base.parent / "train-world"
    sampled, _, _ = bench.run_child("sample-world", ["--out", str(sample), "--share", str(share)], env, log, base, world=world)
    # its own workspace (the nightlies' snapshot stays the whole world's), the same MLflow store and model name
    train_base = bench.write_config(base.parent, sample, name="train.yaml", workspace="train-workspace")
    taken = sampled["rows"]["customers"]
    return engine_config(train_base, "train-local.yaml", engine), {
        "train_share": share, "train_customers": taken, "train_share_actual": taken / customers,
        "train_events": sampled["rows"]["events"], "sample_s": sampled["wall_s"]}


def _share(text: str) -> float:
    share = float(text)
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"{share} is not in (0, 1]")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="4GB")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--max-load", type=float, default=1.2)
    parser.add_argument("--load-wait-s", type=float, default=0, help="wait up to this long for a quiet box before each run")
    parser.add_argument("--train-share", type=_share, default=1.0,
                        help="train the champion (and the cluster's model) on this share of the customers; the nightlies score them all")
    parser.add_argument("--skip-cluster-train", action="store_true", help="skip step 3, training on the cluster")
    parser.add_argument("--skip-nightlies", action="store_true", help="skip steps 2 and 4: nightlies, feature building and scoring")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--features", help=argparse.SUPPRESS)
    parser.add_argument("--promote", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        Path(args.result).write_text(json.dumps(CHILDREN[args.child](args), default=str))
        return

    # the in-process Dask scheduler unpickles task graphs that name quietchurn's packages: the repo root
    # must come first, not bench/ (whose features.py would shadow the features package)
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped benchmark still stops its cluster and server
    bench = _score_bench()
    world = ROOT / "bench" / ".cache" / "worlds" / f"c{args.customers}_d365_s42"
    if not (world / "simulation.json").is_file():
        print(f"simulating {args.customers:,} customers into {world} ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "simulate.py"), "--sizes", str(args.customers), "--reuse"], check=True)
    events = json.loads((world / "simulation.json").read_text())["row_counts"]["events"]
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="qc-scale-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    base = bench.write_config(workdir, world)
    local_engine = f"engine: {{kind: local, address: null, partitions: {args.partitions}}}"
    local = engine_config(base, "local.yaml", local_engine)
    log = workdir / "bench.log"
    cores = os.cpu_count() or 1
    quiet = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_WAIT_POLICY": "PASSIVE"}
    print(f"world {world.name}: {events:,} events; {cores} cores; workdir {workdir}; log {log}", flush=True)
    figures: dict = {"customers": args.customers, "events": events, "cores": cores, "workers": args.workers, "worker_memory": args.worker_memory,
                     "skip_cluster_train": args.skip_cluster_train}

    def load() -> str:
        before = bench.wait_for_quiet(args.max_load, args.load_wait_s) if args.load_wait_s else os.getloadavg()[0]
        return f"{before:.1f}"

    from distributed import Client

    with bench.PrefectServer(workdir / "prefect", {**os.environ, **quiet}, log) as server:
        env = {**server.env, "PREFECT_API_URL": server.url}
        worker_env = {**env, "POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        # scheduler and workers in processes of their own: a scheduler inside this process starved under load
        # and dropped the flows' connections (scheduler-connection-lost)
        port = bench.free_port()
        address = f"tcp://127.0.0.1:{port}"
        dask_cli = str(Path(sys.executable).parent / "dask")
        handle = log.open("a")
        cluster = [
            subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                             cwd=ROOT, env=worker_env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True),
            subprocess.Popen([dask_cli, "worker", address, "--nworkers", str(args.workers), "--nthreads", "1", "--memory-limit", args.worker_memory],
                             cwd=ROOT, env=worker_env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True),
        ]
        try:
            client = Client(address, timeout="120s")
            client.wait_for_workers(args.workers, timeout=300)
            dask = engine_config(base, "dask.yaml", f"engine: {{kind: dask, address: \"{address}\", partitions: {args.partitions}}}")
            print(f"cluster {address}: {args.workers} workers x 1 thread, {args.worker_memory} each; dashboard {client.dashboard_link}", flush=True)

            def on_cluster(mode: str, config: Path, *extra: str) -> tuple[dict, float, list[float]]:
                client.restart()  # fresh worker processes: their peak RSS is this run's
                result, peak = run_child(mode, config, env, log, *extra)
                return result, peak, sorted(client.run(_worker_peak_gb).values())

            train_local, sample = champion_config(bench, base, local, world, args.train_share, args.customers, env, log, local_engine)
            figures.update(sample)
            if args.train_share < 1:
                print(f"champion's world: {args.train_share:.0%} requested -> {sample['train_customers']:,} of {args.customers:,} customers "
                      f"({sample['train_share_actual']:.1%}), {sample['train_events']:,} events; sampled in {sample['sample_s']:.0f} s (not measured)",
                      flush=True)
            at = load()
            trained, peak = run_child("train", train_local, env, log, "--promote")
            figures["train_local"] = {**trained, "peak_gb": peak, "load": at, **sample}
            print(f"train, local, on {sample['train_customers']:,} customers = {sample['train_share_actual']:.1%} of the world "
                  f"(load {at}): {trained['wall_s']:.0f} s (fit {trained['fit_s']:.0f} s, {trained['rows']:,} rows + "
                  f"{trained['invitations']:,} invitations), peak {peak:.2f} GB; v{trained['version']} {trained['gate']}"
                  f"{' PROMOTED BY HAND' if trained['promoted_by_hand'] else ''}; {trained['metrics']}", flush=True)

            if args.skip_nightlies:
                print("nightly, local and dask: SKIPPED (--skip-nightlies)", flush=True)
            else:
                at = load()
                night, peak = run_child("nightly", local, env, log)
                figures["nightly_local"] = {**night, "peak_gb": peak, "load": at}
                print(f"nightly, local (load {at}): {night['wall_s']:.1f} s, peak {peak:.2f} GB", flush=True)

                at = load()
                try:
                    night_dask, peak, workers = on_cluster("nightly", dask)
                except SystemExit as failed:
                    print(f"nightly, dask (load {at}): FAILED: {str(failed).splitlines()[0]}", flush=True)
                    figures["nightly_dask"] = {"failed": str(failed)[-2000:], "load": at}
                else:
                    figures["nightly_dask"] = {**night_dask, "peak_gb": peak, "worker_peak_gb": workers, "load": at}
                    overhead = night_dask["wall_s"] / night["wall_s"] - 1
                    figures["nightly_overhead"] = overhead
                    print(f"nightly, dask (load {at}): {night_dask['wall_s']:.1f} s ({overhead:+.0%} vs local), flow process peak {peak:.2f} GB, "
                          f"worker peaks {', '.join(f'{w:.2f}' for w in workers)} GB", flush=True)

            trained_dask = None
            if args.skip_cluster_train:
                figures["train_dask"] = {"skipped": True}
                print("train, dask: SKIPPED (--skip-cluster-train)", flush=True)
            else:
                at = load()
                dask_train = engine_config(train_local, "train-dask.yaml", f"engine: {{kind: dask, address: \"{address}\", partitions: {args.partitions}}}")
                trained_dask, peak, workers = on_cluster("train", dask_train)
                figures["train_dask"] = {**trained_dask, "peak_gb": peak, "worker_peak_gb": workers, "load": at, **sample}
                print(f"train, dask (load {at}): {trained_dask['wall_s']:.0f} s (fit {trained_dask['fit_s']:.0f} s), flow process peak {peak:.2f} GB, "
                      f"worker peaks {', '.join(f'{w:.2f}' for w in workers)} GB; v{trained_dask['version']} "
                      f"{'promoted' if trained_dask['promoted'] else 'refused'}: {trained_dask['gate']}; {trained_dask['metrics']}", flush=True)
            client.close()
        finally:
            for proc in reversed(cluster):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(60)
            handle.close()

        built = scored = None
        if not args.skip_nightlies:
            at = load()
            built, peak = run_child("features", local, env, log)
            figures["features_local"] = {**built, "peak_gb": peak, "load": at}
            every = engine_config(base, "local-all-reasons.yaml", f"engine: {{kind: local, address: null, partitions: {args.partitions}}}")
            every.write_text(every.read_text().replace("reasons_for: flagged", "reasons_for: all"))
            at = load()
            scored, peak = run_child("score", every, env, log, "--features", built["path"])
            figures["score_all_reasons_local"] = {**scored, "peak_gb": peak, "load": at}

    def refit(result: dict, used: int) -> float:
        """Rows per second per core of the churn model's final refit (the first final booster), else of the whole fit."""
        first = (result.get("boosters") or [None])[0]
        return first["rows"] / first["s"] / used if first else result["rows"] / result["fit_s"] / used

    per_core = {
        "features_events_per_s_core": events / built["wall_s"] / cores if built else None,  # None: --skip-nightlies
        "scoring_rows_per_s_core": scored["customers"] / scored["wall_s"] / cores if scored else None,
        "training_rows_per_s_core": trained["rows"] / trained["fit_s"] / cores,  # the whole fit: backtest, refit, baselines, surveys
        "refit_rows_per_s_core": refit(trained, cores),
        "refit_rows_per_s_core_dask": refit(trained_dask, args.workers) if trained_dask else None,  # None: --skip-cluster-train
    }
    for name, result in (("local", trained), ("dask", trained_dask or {})):
        for b in result.get("boosters", []):
            print(f"  final booster, {name}: {b['rows']:,} rows x {b['rounds']} rounds in {b['s']:.1f} s")
    figures["per_core"] = per_core
    if built and scored:
        print(f"\nbuild_features, local: {built['wall_s']:.1f} s for {events:,} events -> {per_core['features_events_per_s_core']:,.0f} events/s per core")
        print(f"score, local, reasons for all {scored['customers']:,}: {scored['wall_s']:.1f} s -> {per_core['scoring_rows_per_s_core']:,.0f} rows/s per core")
    on_cluster_s = "not measured (--skip-cluster-train)" if trained_dask is None else f"{per_core['refit_rows_per_s_core_dask']:,.0f} per worker"
    print(f"train fit, local, {figures['train_share_actual']:.1%} of the customers: "
          f"{per_core['training_rows_per_s_core']:,.0f} training rows/s per core (backtest included); churn refit "
          f"{per_core['refit_rows_per_s_core']:,.0f} rows/s per core, on the cluster {on_cluster_s}")
    (workdir / "scale.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"figures in {workdir / 'scale.json'}")


if __name__ == "__main__":
    main()
