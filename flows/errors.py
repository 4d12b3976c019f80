"""Which errors a user can fix, and the one message each gets on the command line.

The CLI prints `explain(exc)` instead of a traceback (`--debug` shows the traceback); the table of
messages and fixes is docs/operations.md. Errors are recognised by type, or, for the few that come
as a library's generic type (a driver's connection error, a missing environment variable), by the
module they were raised in: that says whether the source or the sink failed.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass

# exit codes (docs/operations.md): 1 is also check-data's "the data cannot support training"
UNEXPECTED, FIX_INPUT, TRY_AGAIN, INTERRUPTED = 1, 2, 3, 130
DEBUG_HINT = "run again with --debug for the traceback"


@dataclass(frozen=True)
class Explained:
    message: str
    hint: str
    exit_code: int


def _frames(exc: BaseException) -> list[tuple[str, str]]:
    """(module, function) of every frame the exception passed through, outermost first."""
    return [(frame.f_globals.get("__name__", ""), frame.f_code.co_name) for frame, _ in traceback.walk_tb(exc.__traceback__)]


def _raised_in(exc: BaseException, module: str, function: str | None = None) -> bool:
    return any(m == module and function in (None, f) for m, f in _frames(exc))


def _is(exc: BaseException, module: str, name: str) -> bool:
    """isinstance against a class of a module, without importing the module when it was never loaded."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded else None
    return cls is not None and isinstance(exc, cls)


def redact(text: str, secrets: list[str]) -> str:
    """The text without the given secrets and without any password inside a URL-style DSN."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _first_lines(exc: BaseException, limit: int = 3) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " ".join(lines[:limit]) or type(exc).__name__


def _database_side(exc: BaseException, config) -> Explained | None:
    """A database driver error, told as the source's or the sink's, naming the key that says where it is."""
    import os

    for modules, section in ((("sources.base", "sources.duckdb_source", "sources.postgres_source"), "source"), (("sinks.postgres_sink",), "sink")):
        if not any(_raised_in(exc, module) for module in modules):
            continue
        part = getattr(config, section, None)
        env = getattr(part, "dsn_env", None)
        detail = redact(_first_lines(exc), [os.environ.get(env, "")] if env else [])
        if section == "source" and getattr(part, "kind", None) == "duckdb":  # the sink's DuckDB errors are its lock's
            where = f"the DuckDB file {section}.path ({part.path}) exists, is a DuckDB database and is readable"
        else:
            where = f"the database is reachable and that {f'${env} ({section}.dsn_env)' if env else f'{section}.dsn_env'} holds the right DSN"
        return Explained(
            f"the {section} database failed: {detail}",
            f"check that {where}; a database that is down or restarting is retried before this message (docs/operations.md)",
            TRY_AGAIN,
        )
    return None


def explain(exc: BaseException, config=None) -> Explained | None:
    """The user-facing message for an error the user can fix, or None for an unexpected one (a bug).

    ``config`` (when known) lets database errors name the environment variable that holds the DSN.
    """
    if _is(exc, "configs", "ConfigError"):
        return Explained(str(exc), "fix that key in the config (docs/configuration.md)", FIX_INPUT)
    if isinstance(exc, ValueError) and _raised_in(exc, "configs.schema", "read_secret"):
        return Explained(str(exc), "export the variable with the DSN before running (docs/operations.md)", FIX_INPUT)
    if _is(exc, "features.ingest", "RejectLimitError") or (_is(exc, "features.contract", "ContractError") and "max_reject_share" in str(exc)):
        return Explained(
            str(exc),
            "the rejected rows and their reasons are in the sink's `rejects` table: fix the source, map the column "
            "(source.columns), or raise monitoring.max_reject_share (docs/input-contract.md)",
            FIX_INPUT,
        )
    if _is(exc, "features.sufficiency", "DataCoverageError") or _is(exc, "features.sufficiency", "CannotTrain"):
        return Explained(str(exc), "docs/dates-and-training.md says which dates a run accepts and what training needs", FIX_INPUT)
    if _is(exc, "features.contract", "ContractError"):
        return Explained(str(exc), "see docs/input-contract.md for the tables and columns quietchurn reads", FIX_INPUT)
    if _is(exc, "flows.tasks", "PipelineError") or _is(exc, "flows.pipeline", "PipelineError"):
        return Explained(str(exc), "docs/operations.md lists each message and its fix", FIX_INPUT)
    if _is(exc, "sinks.duckdb_sink", "DuckDBLockedError"):
        return Explained(
            str(exc),
            "close the other program, or read the scores between runs, from a copy of the file, or from a Parquet/PostgreSQL "
            "sink (docs/operations.md)",
            TRY_AGAIN,
        )
    if _is(exc, "flows.serve", "ServerUnavailable"):
        return Explained(str(exc), "see the server log named above, or unset PREFECT_API_URL to use a local server", TRY_AGAIN)
    if _is(exc, "adbc_driver_manager", "Error") or _is(exc, "duckdb", "Error"):
        return _database_side(exc, config)
    return None


def unexpected(exc: BaseException) -> Explained:
    """What a bug gets: its type and first line, and how to see the traceback."""
    return Explained(f"unexpected error: {type(exc).__name__}: {_first_lines(exc, 1)}", DEBUG_HINT, UNEXPECTED)
