"""The one place that knows where run files live inside ``config.workspace``."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import polars as pl

from configs import Config


def snapshot_dir(config: Config, as_of: date) -> Path:
    """Validated input tables as of a run date: ``<workspace>/snapshots/<as_of>/<table>.parquet``."""
    return config.workspace / "snapshots" / as_of.isoformat()


def features_path(config: Config, as_of: date) -> Path:
    return config.workspace / "features" / f"as_of={as_of.isoformat()}.parquet"


def write_snapshot(target: Path, tables: dict[str, pl.DataFrame], manifest: dict) -> Path:
    """Write every table and a manifest to a staging folder, then swap it into place."""
    staging = target.parent / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    for name, frame in tables.items():
        frame.write_parquet(staging / f"{name}.parquet")
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    if target.exists():
        old = target.parent / f".old-{uuid.uuid4().hex}"
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old)
    else:
        os.replace(staging, target)
    return target


def read_snapshot(path: Path) -> dict[str, pl.LazyFrame]:
    """The snapshot's tables, scanned lazily (nothing is read until a query needs it)."""
    return {p.stem: pl.scan_parquet(p) for p in sorted(path.glob("*.parquet"))}


def read_manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def write_frame(frame: pl.DataFrame, target: Path) -> Path:
    """Write a Parquet file atomically (temp file + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    frame.write_parquet(staging)
    os.replace(staging, target)
    return target
