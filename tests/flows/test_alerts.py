"""Alerts (docs/monitoring.md#alerts) delivered to a real HTTP receiver on 127.0.0.1: one alert on a
breach, nothing when all is well, a clear message when the variable is unset, and a failed delivery
that never hides the breach. The flow tests at the end train once for the module."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
import yaml
from prefect.logging import disable_run_logger
from typer.testing import CliRunner

from configs import load_config
from flows import alerts, monitor_tasks
from flows.errors import FIX_INPUT

ENV = "QC_TEST_ALERT_URL"
TOKEN = "t0ken-in-the-path-h2"  # a webhook's secret lives in its URL: never logged


class Receiver:
    """A webhook on 127.0.0.1 that records every POST body (JSON) and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv(ENV, r.url)
    yield r
    r.close()


@pytest.fixture
def alerting_config(make_config):
    return make_config(monitoring={"alert_url_env": ENV})


STALE = {"status": "ok", "failure": None, "realised": [], "data_health": {"status": "warn", "issues": [], "tables": {
    "events": {"newest": "2026-03-31T23:10:00+00:00", "hours_old": 0.8},
    "tickets": {"newest": "2026-03-01T09:00:00+00:00", "hours_old": 735.0},
}}}
CALM = {**STALE, "data_health": {"status": "ok", "issues": [], "tables": {"events": {"newest": "2026-03-31T23:10:00+00:00", "hours_old": 0.8}}}}
DRIFTED = {**CALM, "failure": {"feature": "tickets_30d", "value": 0.31, "importance_rank": 1}}
LOW = {**CALM, "realised": [{"as_of": "2026-03-01", "model_version": "3", "pr_auc": 0.05, "pr_auc_upper": 0.07, "test_pr_auc": 0.1, "below": True}]}
AS_OF = date(2026, 4, 1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://hooks.example/x?a=1", "json://hooks.example/x?a=1"),
        ("HTTPS://hooks.example/x", "jsons://hooks.example/x"),
        ("json://hooks.example/x", "json://hooks.example/x"),
        ("slack://T1/B2/C3", "slack://T1/B2/C3"),
    ],
)
def test_a_plain_webhook_becomes_apprise_json(url, expected):
    assert alerts.webhook_url(url) == expected


@pytest.mark.parametrize(
    ("verdict", "kinds"),
    [(CALM, []), (STALE, ["data_stale"]), (DRIFTED, ["drift_fail"]), (LOW, ["realised_performance"]),
     ({**DRIFTED, "data_health": STALE["data_health"], "realised": LOW["realised"]}, ["data_stale", "drift_fail", "realised_performance"])],
)
def test_breaches_truth_table(make_config, verdict, kinds):
    assert [b.kind for b in monitor_tasks.breaches(make_config(), AS_OF, verdict)] == kinds


def test_a_breach_round_trips_through_json():
    breach = alerts.Breach("data_stale", AS_OF, "table tickets", "stopped", "the source")
    assert alerts.Breach.from_json(json.loads(json.dumps(breach.as_json()))) == breach


def test_a_stale_table_is_named_with_its_newest_row_and_the_key(make_config):
    (stale,) = monitor_tasks.breaches(make_config(), AS_OF, STALE)
    assert stale.subject == "table tickets"
    assert "newest opened_at is 2026-03-01T09:00:00+00:00, 735 h before as-of 2026-04-01 (monitoring.max_staleness_hours=48)" in stale.detail


@pytest.mark.parametrize(
    ("by_table", "expected"),
    [({}, ["table tickets"]), ({"customers": 720}, ["table tickets"]), ({"tickets": 800}, []), ({"tickets": 700}, ["table tickets"])],
)
def test_a_quiet_table_gets_its_own_limit(make_config, by_table, expected):
    config = make_config(monitoring={"max_staleness_hours_by_table": by_table})
    found = monitor_tasks.breaches(config, AS_OF, STALE)
    assert [b.subject for b in found] == expected
    if by_table.get("tickets"):
        assert all(f"monitoring.max_staleness_hours_by_table.tickets={by_table['tickets']}" in b.detail for b in found)


def test_alert_text_says_what_when_which_and_where():
    title, body = alerts.alert_text("acme", monitor_tasks.breaches(load_config_for_text(), AS_OF, STALE))
    assert title == "quietchurn acme: data stale as of 2026-04-01"
    assert "table tickets" in body and "monitoring.max_staleness_hours" in body and "Where to look:" in body and "score_runs.drift_summary" in body


def load_config_for_text():
    from configs import parse_config

    return parse_config({"name": "acme", "workspace": "w", "source": {"kind": "files", "path": "d"}, "sink": {"kind": "duckdb", "path": "s.duckdb"}}, base=".")


def test_alerts_are_off_without_the_key(make_config):
    assert alerts.alert_url(make_config()) is None
    alerts.require_alert_url(make_config())  # nothing to check


def test_an_unset_variable_names_the_key(alerting_config, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(alerts.AlertConfigError, match=rf"environment variable {ENV} \(named by monitoring\.alert_url_env\) is not set"):
        alerts.require_alert_url(alerting_config)


def test_a_url_apprise_cannot_use_names_the_key(alerting_config, monkeypatch):
    monkeypatch.setenv(ENV, "nosuchscheme://x")
    with pytest.raises(alerts.AlertConfigError, match=r"monitoring\.alert_url_env"):
        alerts.require_alert_url(alerting_config)


def test_the_cli_refuses_an_unset_variable_before_any_work(flow_config, monkeypatch):
    from flows.cli import app

    monkeypatch.delenv(ENV, raising=False)
    result = CliRunner().invoke(app, ["run", "monitor", "--config", str(flow_config(monitoring={"alert_url_env": ENV}))])
    assert result.exit_code == FIX_INPUT, result.output
    assert "Traceback" not in result.output
    assert f"environment variable {ENV} (named by monitoring.alert_url_env) is not set" in " ".join(result.output.split())


def judged(config, verdict: dict) -> dict:
    """The verdict with its breaches, as the judge-date task records it."""
    return {**verdict, "breaches": [b.as_json() for b in monitor_tasks.breaches(config, AS_OF, verdict)]}


def test_the_cli_redacts_the_alert_url_from_any_message(alerting_config, receiver):
    from flows.cli import _secrets
    from flows.errors import redact

    assert redact(f"POST {receiver.url} failed", _secrets(alerting_config)) == "POST *** failed"


def test_a_breach_sends_one_alert_then_fails(alerting_config, receiver):
    with disable_run_logger(), pytest.raises(monitor_tasks.StaleData, match=r"table tickets: newest opened_at .*monitoring\.max_staleness_hours=48"):
        monitor_tasks.raise_alarm.fn(alerting_config, AS_OF, judged(alerting_config, STALE))
    (alert,) = receiver.received
    assert alert["title"] == "quietchurn test: data stale as of 2026-04-01"
    assert "table tickets" in alert["message"] and "2026-03-01T09:00" in alert["message"]


def test_all_well_sends_nothing(alerting_config, receiver):
    with disable_run_logger():
        monitor_tasks.raise_alarm.fn(alerting_config, AS_OF, judged(alerting_config, CALM))
    assert receiver.received == []


def test_the_url_is_never_logged(alerting_config, receiver, caplog):
    with caplog.at_level(logging.INFO):  # what a run logs (at DEBUG, urllib3 itself prints request paths)
        assert alerts.send(alerting_config, monitor_tasks.breaches(alerting_config, AS_OF, STALE), logging.getLogger("quietchurn.test"))
    assert "alert sent to the URL in $QC_TEST_ALERT_URL" in caplog.text
    assert TOKEN not in caplog.text and len(receiver.received) == 1


def test_a_failed_delivery_is_logged_and_the_breach_still_fails_the_run(alerting_config, monkeypatch, caplog):
    down = Receiver(status=500)
    monkeypatch.setenv(ENV, down.url)
    try:
        with caplog.at_level(logging.INFO):
            assert not alerts.send(alerting_config, monitor_tasks.breaches(alerting_config, AS_OF, DRIFTED), logging.getLogger("quietchurn.test"))
        with disable_run_logger(), pytest.raises(monitor_tasks.DriftFailure, match="tickets_30d has PSI 0.310"):
            monitor_tasks.raise_alarm.fn(alerting_config, AS_OF, judged(alerting_config, DRIFTED))
    finally:
        down.close()
    assert len(down.received) == 2  # tried each time
    assert "could NOT be delivered" in caplog.text and "monitoring.alert_url_env" in caplog.text
    assert TOKEN not in caplog.text


# --- flows: no champion, a source that stopped updating, a calm night ---------------------------------


@pytest.mark.usefixtures("prefect_api")
def test_no_champion_alerts_and_fails(flow_config, receiver):
    from flows import pipeline

    path = flow_config(monitoring={"alert_url_env": ENV})
    state = pipeline.score_flow(str(path), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="no model holds the alias"):
        state.result()
    (alert,) = receiver.received
    assert alert["title"].startswith("quietchurn demo: no champion") and "quietchurn run train" in alert["message"]


@pytest.mark.usefixtures("prefect_api")
def test_events_that_stopped_refuse_the_nightly_before_any_work_and_alert(flow_config, tiny_world, receiver):
    from features.sufficiency import DataCoverageError
    from flows import pipeline

    path = flow_config(monitoring={"alert_url_env": ENV})
    as_of = tiny_world[1] + timedelta(days=10)  # the events end 10 days before it
    state = pipeline.nightly(str(path), as_of, return_state=True)
    assert state.is_failed()
    with pytest.raises(DataCoverageError, match=rf"as-of {as_of} is beyond the data: the newest event is .*monitoring\.max_staleness_hours \(48\)"):
        state.result()
    (alert,) = receiver.received
    assert alert["title"] == f"quietchurn demo: data stale as of {as_of}" and "table events" in alert["message"]
    assert not (load_config(path).workspace / "snapshots").exists()  # refused before any work


@pytest.fixture(scope="module")
def crowned(tmp_path_factory, tiny_world):
    """One model trained and crowned on the tiny world, shared by the flow tests below (each with its own sink)."""
    from configs import DEMO_CONFIG
    from flows import pipeline
    from models.registry import client_for, promote

    root = tmp_path_factory.mktemp("alerts")
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["source"]["path"] = str(tiny_world[0])
    raw["mlflow"] = {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"}
    raw["scoring"]["capacity"] = 50
    raw["monitoring"] = {**raw.get("monitoring", {}), "alert_url_env": ENV, "drift": {"warn": 5.0, "fail": 10.0}}

    def write(name: str, data) -> str:
        config = {**raw, "workspace": str(root / name / "workspace"), "source": {**raw["source"], "path": str(data)},
                  "sink": {**raw["sink"], "path": str(root / name / "scores.duckdb")}}
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return str(path)

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV, raising=False)
        path = write("train", tiny_world[0])
        raw_train = yaml.safe_load(open(path))
        raw_train["monitoring"]["alert_url_env"] = None
        open(path, "w").write(yaml.safe_dump(raw_train))
        trained = pipeline.train(path)
        if not trained.promoted:
            config = load_config(path)
            promote(client_for(config), config.registered_model_name, trained.version)
    return write, root


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_source_whose_tickets_stopped_fails_the_nightly_naming_tickets(crowned, tiny_world, receiver):
    from flows import pipeline

    write, root = crowned
    today = tiny_world[1]
    data = root / "stale-data"
    shutil.copytree(tiny_world[0], data)
    stopped = today - timedelta(days=20)
    tickets = pl.read_parquet(data / "tickets.parquet")
    tickets.filter(pl.col("opened_at").dt.date() < stopped).write_parquet(data / "tickets.parquet")
    path = write("stale", data)

    state = pipeline.nightly(path, today, return_state=True)
    assert state.is_failed()
    with pytest.raises(monitor_tasks.StaleData, match=r"table tickets: newest opened_at .* h before as-of .*monitoring\.max_staleness_hours=48"):
        state.result()
    (alert,) = receiver.received
    assert "data stale" in alert["title"] and "table tickets" in alert["message"] and "table events" not in alert["message"]

    from sinks import open_sink

    runs = open_sink(load_config(path).sink).read_score_runs()  # the run scored, and the monitor wrote before failing
    verdict = json.loads(runs["drift_summary"][0])
    assert [b["subject"] for b in verdict["breaches"]] == ["table tickets"]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_calm_night_sends_nothing(crowned, tiny_world, receiver):
    from flows import pipeline

    write, _ = crowned
    result = pipeline.nightly(write("calm", tiny_world[0]), tiny_world[1])
    assert result.monitor.drift_summary["breaches"] == []
    assert receiver.received == []
