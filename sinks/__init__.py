"""Where scores land: the output tables (docs/output-tables.md) in DuckDB, PostgreSQL or Parquet.

    sink = open_sink(config.sink)
    sink.write_scores(scores, as_of)      # replaces that date atomically
    sink.read_scores()                    # the newest date
"""

from sinks.base import DEFAULT_LOCK_TIMEOUT_S, Sink, open_sink
from sinks.schema import CHURN_SCORES, LATEST_SCORES_VIEW, REJECTS, SCORE_RUNS, TABLES, SinkSchemaError, Table, conform

__all__ = [
    "CHURN_SCORES",
    "DEFAULT_LOCK_TIMEOUT_S",
    "LATEST_SCORES_VIEW",
    "REJECTS",
    "SCORE_RUNS",
    "TABLES",
    "Sink",
    "SinkSchemaError",
    "Table",
    "conform",
    "open_sink",
]
