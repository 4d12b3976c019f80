"""Fixtures for the sink tests: a throwaway PostgreSQL database of their own for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_DSN = os.environ.get("QUIETCHURN_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _unavailable(reason: str) -> None:
    """Skip, or fail where CI demands that the PostgreSQL paths really run."""
    if os.environ.get("QUIETCHURN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (QUIETCHURN_REQUIRE_POSTGRES=1, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sinks_postgres_dsn() -> Iterator[str]:
    """A uniquely named database on the local server, dropped at the end of the session."""
    import adbc_driver_postgresql.dbapi as pg

    parts = urlsplit(ADMIN_DSN)
    if "connect_timeout" not in parts.query:  # an unreachable host must not hang the suite
        parts = parts._replace(query="&".join(filter(None, [parts.query, "connect_timeout=5"])))
    try:
        admin = pg.connect(urlunsplit(parts), autocommit=True)
    except pg.Error as error:
        _unavailable(f"PostgreSQL is not reachable at {ADMIN_DSN}: {error}")
    database = f"quietchurn_sinks_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
        yield urlunsplit(parts._replace(path=f"/{database}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
