"""score_runs replaced per date (what a backfill writes) in every sink: one row per date after a rerun,
other dates and their appended runs kept."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sinks import Sink, SinkSchemaError
from tests.sinks.test_sinks import NEXT_D, D, make_score_run, sink  # noqa: F401 - the sink fixture, every kind


def test_replacing_a_dates_run_leaves_one_row_and_keeps_other_dates(sink: Sink) -> None:
    sink.append_score_run(make_score_run(D, "nightly-1"))
    sink.append_score_run(make_score_run(D, "nightly-2"))
    sink.append_score_run(make_score_run(NEXT_D, "nightly-3"))
    later = make_score_run(D, "backfill-1")["finished_at"] + timedelta(days=30)
    sink.replace_score_run(make_score_run(D, "backfill-1", finished_at=later, drift_summary={"status": "ok"}))
    sink.replace_score_run(make_score_run(D, "backfill-2", finished_at=later))
    runs = {row["flow_run_id"]: row for row in sink.read_score_runs().iter_rows(named=True)}
    assert set(runs) == {"backfill-2", "nightly-3"}
    assert runs["backfill-2"]["as_of"] == D and runs["backfill-2"]["drift_summary"] is None
    assert sink.set_drift_summary(D, {"status": "warn"}) is True
    assert json.loads(sink.read_score_runs().filter(flow_run_id="backfill-2")["drift_summary"][0]) == {"status": "warn"}


def test_a_run_without_its_date_is_refused_and_nothing_changes(sink: Sink) -> None:
    sink.append_score_run(make_score_run(D, "nightly-1"))
    with pytest.raises(SinkSchemaError, match="as_of"):
        sink.replace_score_run(make_score_run(None, "backfill-1"))
    assert sink.read_score_runs()["flow_run_id"].to_list() == ["nightly-1"]
