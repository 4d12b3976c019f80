"""load_tables: counts that add up, and a run that stops when too much input is rejected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from features.contract import ContractError
from features.ingest import RejectLimitError, TableCount
from features.validation import REJECTS_SCHEMA
from sources.ingest import load_tables

INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def write_world(folder, bad_events: int, good_events: int = 10) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"customer_id": ["C1", "C2"], "signup_at": ["2025-01-01", "2025-01-02"]}).write_csv(folder / "customers.csv")
    ids = ["C1"] * good_events + [None] * bad_events
    pl.DataFrame({"customer_id": ids, "ts": [datetime(2025, 6, 1)] * len(ids), "event_type": ["login"] * len(ids)}).write_parquet(
        folder / "events.parquet"
    )


def test_counts_add_up_and_rejects_of_all_tables_come_together(make_config, tmp_path):
    write_world(tmp_path / "data", bad_events=1, good_events=9)
    result = load_tables(make_config(monitoring={"max_reject_share": 0.5}), INGESTED_AT)
    assert result.counts == {
        "customers": TableCount(read=2, accepted=2, rejected=0, reasons={}),
        "events": TableCount(read=10, accepted=9, rejected=1, reasons={"null customer_id": 1}),
    }
    assert result.rejects.schema == REJECTS_SCHEMA
    assert result.rejects.select("table_name", "reason", "ingested_at").rows() == [("events", "null customer_id", INGESTED_AT)]
    assert set(result.tables) == {"customers", "events"}


@pytest.mark.parametrize(("bad", "max_share", "fails"), [(0, 0.0, False), (1, 0.1, False), (2, 0.1, True), (1, 0.0, True)])
def test_the_run_fails_only_above_the_configured_reject_share(make_config, tmp_path, bad, max_share, fails):
    write_world(tmp_path / "data", bad_events=bad, good_events=10 - bad)
    config = make_config(monitoring={"max_reject_share": max_share})
    if not fails:
        assert load_tables(config, INGESTED_AT).counts["events"].rejected == bad
        return
    with pytest.raises(RejectLimitError) as error:
        load_tables(config, INGESTED_AT)
    message = str(error.value)
    assert f"events: {bad} of 10 rows rejected ({bad / 10:.2%})" in message
    assert "monitoring.max_reject_share" in message and f"null customer_id ({bad})" in message
    assert "customers" not in message
    # the caller can still write what was rejected
    assert error.value.result.rejects.height == bad and error.value.result.counts["events"].accepted == 10 - bad
    assert isinstance(error.value, ContractError)


def test_the_default_limit_is_one_percent(make_config, tmp_path):
    write_world(tmp_path / "data", bad_events=1, good_events=99)
    assert load_tables(make_config(), INGESTED_AT).counts["events"].rejected == 1
    write_world(tmp_path / "data", bad_events=2, good_events=98)
    with pytest.raises(RejectLimitError, match=r"2\.00%"):
        load_tables(make_config(), INGESTED_AT)


def test_ingest_moment_defaults_to_now_and_bounds_event_times(make_config, tmp_path):
    write_world(tmp_path / "data", bad_events=0)
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pl.DataFrame({"customer_id": ["C1", "C2"], "signup_at": ["2025-01-01", soon]}).write_csv(tmp_path / "data" / "customers.csv")
    before = datetime.now(timezone.utc)
    result = load_tables(make_config(monitoring={"max_reject_share": 1.0}))
    assert result.rejects["reason"].to_list() == [f"signup_at {soon} is after ingest"]
    assert before <= result.rejects["ingested_at"][0] <= datetime.now(timezone.utc)
