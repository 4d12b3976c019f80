"""check-data measures history to the newest event and refuses an as-of the events do not cover."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from rich.console import Console

from configs import load_config
from features.sufficiency import DataCoverageError
from flows.check_data import build_report, render_report


@pytest.mark.parametrize("days_after_today", [0, 1])  # a day later (within max_staleness_hours) adds no history
def test_history_runs_from_the_first_to_the_newest_event(flow_config, tiny_world, days_after_today):
    config = load_config(flow_config())
    events = pl.read_parquet(tiny_world[0] / "events.parquet")
    first, last = events["ts"].min().date(), events["ts"].max().date()
    report, _ = build_report(config, tiny_world[1] + timedelta(days=days_after_today))
    console = Console(record=True, width=200)
    render_report(report, console)
    text = " ".join(console.export_text().split())
    months = ((last - first).days + 1) / 30.44
    assert f"History: {months:.1f} months of events ({first} to {last});" in text
    assert report.ok


def test_an_as_of_beyond_the_data_is_refused_before_reading_it(flow_config, tiny_world):
    config = load_config(flow_config())
    beyond = tiny_world[1] + timedelta(days=400)
    with pytest.raises(DataCoverageError, match=f"as-of {beyond} is beyond the data: the newest event is"):
        build_report(config, beyond)
    assert not (config.workspace / "check-data").exists() or not any((config.workspace / "check-data").iterdir())
