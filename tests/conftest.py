"""Shared fixtures: a config builder and a throwaway PostgreSQL database for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from configs import Config, parse_config
from flows.runtime import apply_quiet_defaults

# Telemetry off and OpenMP threads that don't spin, before any test imports LightGBM or MLflow.
apply_quiet_defaults()

POSTGRES_ADMIN_DSN = os.environ.get("QUIETCHURN_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """``make_config(source={...}, survey={...})``: a valid config with files in tmp_path/data by default."""

    def make(source: dict | None = None, **sections: dict) -> Config:
        raw = {
            "name": "test",
            "workspace": "workspace",
            "source": {"kind": "files", "path": "data", **(source or {})},
            "sink": {"kind": "duckdb", "path": "scores.duckdb"},
            **sections,
        }
        return parse_config(raw, base=tmp_path)

    return make


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a database created for this test session and dropped after it.

    Skips when PostgreSQL is unreachable, unless QUIETCHURN_REQUIRE_POSTGRES=1 (CI), which fails.
    """
    from adbc_driver_postgresql import dbapi

    admin_dsn = _with_connect_timeout(POSTGRES_ADMIN_DSN)
    try:
        admin = dbapi.connect(admin_dsn, autocommit=True)
    except dbapi.Error as exc:
        reason = f"PostgreSQL unreachable at {POSTGRES_ADMIN_DSN}: {exc}"
        if os.environ.get("QUIETCHURN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (QUIETCHURN_REQUIRE_POSTGRES=1 requires it)")
        pytest.skip(reason)
    database = f"quietchurn_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        yield urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{database}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def _with_connect_timeout(dsn: str) -> str:
    parts = urlsplit(dsn)
    if "connect_timeout" in parts.query:
        return dsn
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, "connect_timeout=5"]))))
