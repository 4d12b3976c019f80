"""The morning report from constructed output tables: what each section shows, what it says when a
young installation lacks monitoring, matured dates or surveys, that it escapes what it prints and
loads nothing from the network, and the `quietchurn report` command with its errors. (The page as a
browser draws it, built from a real run: test_report_browser.py.)"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from configs import DEMO_CONFIG, load_config
from flows.cli import app
from flows.report_writer import read_report_tables, write_report
from report import ReportTables, render_report
from report.page import drift_rows, performance_table, runs_by_date, silent_list, tier_table
from sinks import open_sink
from sinks.schema import CHURN_SCORES, FEATURE_DRIFT, SCORE_PERFORMANCE, SCORE_RUNS, conform

TODAY = date(2026, 1, 1)
NOW = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


def scores_of(as_of: date, n: int = 120, seed: int = 0, dissatisfaction: bool = True) -> pl.DataFrame:
    """One date's churn_scores rows: ranks from the probabilities, 5 high, 10 medium, silent flags and reasons."""
    rng = np.random.default_rng(seed)
    p = np.sort(rng.beta(1, 12, n))[::-1]
    rank = np.arange(1, n + 1)
    dissat = rng.uniform(0, 1, n) if dissatisfaction else None
    status = np.where(rng.uniform(0, 1, n) < 0.3, "responded", "ignored")
    tier = np.where(rank <= 5, "high", np.where(rank <= 15, "medium", "low"))
    silent = (status != "responded") & ((tier == "high") | ((dissat if dissat is not None else np.zeros(n)) >= 0.8))
    frame = pl.DataFrame(
        {
            "as_of": [as_of] * n,
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "churn_probability": p,
            "risk_rank": rank,
            "risk_percentile": 100 * (1 - (rank - 1) / n),
            "risk_tier": tier,
            "dissatisfaction_probability": pl.Series(dissat, dtype=pl.Float64) if dissat is not None else pl.Series([None] * n, dtype=pl.Float64),
            "survey_status": status,
            "last_survey_score": pl.Series([None] * n, dtype=pl.Float64),
            "silent_dissatisfied": silent,
            "reason_1": pl.Series(["3 support tickets in the last 30 days (usual: 0)" if s else None for s in silent], dtype=pl.String),
            "reason_2": pl.Series(["logins down 60% (usual: 12 a month)" if s else None for s in silent], dtype=pl.String),
            "value_at_risk": p * 40.0,
            "model_name": "quietchurn-test",
            "model_version": "1",
            "mlflow_run_id": "run-1",
            "flow_run_id": "flow-1",
            "scored_at": NOW,
        }
    )
    order = frame.filter(pl.col("silent_dissatisfied")).sort("dissatisfaction_probability", "churn_probability", descending=True)
    ranks = order.select("customer_id", silent_rank=pl.int_range(1, order.height + 1, dtype=pl.Int64))
    frame = frame.join(ranks, on="customer_id", how="left").with_columns(
        reason_source=pl.when("silent_dissatisfied").then(pl.when(pl.col("risk_tier") == "high").then(pl.lit("churn")).otherwise(pl.lit("satisfaction")))
    )
    return conform(frame, CHURN_SCORES)  # as the sink reads it back: every column, in order


def run_row(as_of: date, summary: dict | None = None, respondent: float | None = 7.9) -> dict:
    return {
        "as_of": as_of, "flow_run_id": f"flow-{as_of}", "model_name": "quietchurn-test", "model_version": "1",
        "customers_scored": 120, "high_risk": 5, "silent_dissatisfied": 9,
        "survey_response_rate": None if respondent is None else 0.21, "respondent_score": respondent,
        "estimated_population_score": None if respondent is None else respondent - 0.6, "rejects": 3,
        "drift_summary": json.dumps(summary) if summary else None, "started_at": NOW, "finished_at": NOW,
    }


VERDICT = {
    "status": "warn",
    "thresholds": {"warn": 0.1, "fail": 0.25},
    "data_health": {
        "status": "warn",
        "issues": ["events: 9,000 rows, 0.40 x the median of the last 3 runs"],
        "tables": {"events": {"newest": "2025-12-31T23:10:00+00:00", "hours_old": 0.8, "rows": 9000, "trailing_median_rows": 22500.0, "volume_ratio": 0.4, "reject_share": 0.001}},
    },
}


def drift_of(as_of: date) -> pl.DataFrame:
    features = [("tickets_30d", 1, 0.31, "fail"), ("logins_30d", 2, 0.12, "warn"), ("tenure_days", 3, 0.02, "ok"), ("plan", 14, 0.4, "fail"), ("region", 15, 0.01, "ok")]
    rows = [{"feature": f, "importance_rank": r, "value": v, "status": s} for f, r, v, s in features]
    rows.append({"feature": "churn_probability", "importance_rank": None, "value": 0.05, "status": "ok"})
    return pl.DataFrame(rows, schema_overrides={"importance_rank": pl.Int64}).select(
        as_of=pl.lit(as_of), model_version=pl.lit("1"), feature="feature", metric=pl.lit("psi"), value="value", importance_rank="importance_rank", status="status"
    )


def performance_of(estimated: list[date], realised: list[date]) -> pl.DataFrame:
    rows = [
        {"as_of": d, "model_version": "1", "kind": kind, "metric": m, "value": v, "n": 120}
        for kind, days in (("estimated", estimated), ("realised", realised))
        for d in days
        for m, v in (("pr_auc", 0.31), ("roc_auc", 0.74), ("precision_at_capacity", 0.4), ("ece", 0.02))
    ]
    return pl.DataFrame(rows)


def tables(**overrides) -> ReportTables:
    earlier = TODAY - timedelta(days=30)
    defaults = {
        "scores": scores_of(TODAY),
        "score_runs": pl.DataFrame([run_row(earlier), run_row(TODAY, VERDICT)], schema=SCORE_RUNS.schema),
        "feature_drift": drift_of(TODAY),
        "score_performance": performance_of([earlier, TODAY], [earlier]),
    }
    return ReportTables(**{**defaults, **overrides})


@pytest.fixture(scope="module")
def config():
    return load_config(DEMO_CONFIG)


# --- the sections ----------------------------------------------------------------------------------


def test_tiers_are_counted_high_first_with_expected_churners():
    scores = scores_of(TODAY)
    rows = tier_table(scores)
    assert [r["risk_tier"] for r in rows] == ["high", "medium", "low"]
    assert [r["customers"] for r in rows] == [5, 10, 105]
    high = scores.filter(pl.col("risk_tier") == "high")
    assert rows[0]["expected_churners"] == pytest.approx(high["churn_probability"].sum())
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


def test_the_silent_list_follows_silent_rank_with_reasons_and_stops_at_its_limit():
    scores = scores_of(TODAY)
    rows = silent_list(scores, limit=4)
    assert [r["silent_rank"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["reasons"] == ["3 support tickets in the last 30 days (usual: 0)", "logins down 60% (usual: 12 a month)"]
    assert silent_list(scores.with_columns(silent_dissatisfied=pl.lit(False), silent_rank=pl.lit(None, pl.Int64))) == []


@pytest.mark.parametrize(
    ("feature", "shown", "position"),
    [
        ("tickets_30d", True, 0),  # fail, most important: first
        ("plan", True, 1),  # fail, outside the ten that decide: still shown, after the more important fail
        ("logins_30d", True, 2),  # warn
        ("churn_probability", True, 3),  # a score, ok: shown before ok features
        ("tenure_days", True, 4),  # ok, among the ten most important
        ("region", False, None),  # ok and unimportant: left out
    ],
)
def test_drift_rows_show_the_scores_the_important_and_the_alarming_worst_first(feature, shown, position):
    rows = drift_rows(drift_of(TODAY), TODAY)[0]["feature"].to_list()
    assert (feature in rows) is shown
    if shown:
        assert rows.index(feature) == position


def test_drift_rows_of_another_date_are_not_today_s():
    assert drift_rows(drift_of(TODAY - timedelta(days=7)), TODAY)[0].height == 0


def test_a_wholesale_shift_lists_only_the_largest_alarms_beyond_the_deciding_features():
    many = pl.DataFrame(
        {"feature": [f"f{i}" for i in range(1, 41)], "importance_rank": list(range(1, 41)), "value": [0.3 + i / 100 for i in range(40)], "status": ["fail"] * 40}
    ).select(as_of=pl.lit(TODAY), model_version=pl.lit("1"), feature="feature", metric=pl.lit("psi"), value="value", importance_rank="importance_rank", status="status")
    rows, left_out = drift_rows(many, TODAY, top=10, others=5)
    assert rows["feature"].to_list() == [f"f{i}" for i in (*range(1, 11), *range(36, 41))]  # the ten, and the five largest of the rest
    assert left_out == 40 - 10 - 5


def test_performance_pairs_each_matured_date_s_estimate_with_what_happened():
    earlier = TODAY - timedelta(days=30)
    rows = performance_table(performance_of([earlier, TODAY], [earlier]), TODAY)
    assert [r["as_of"] for r in rows] == [earlier]  # today has an estimate only
    assert rows[0]["estimated:pr_auc"] == pytest.approx(0.31) and rows[0]["realised:pr_auc"] == pytest.approx(0.31)
    assert rows[0]["realised:silent_dissatisfied_share"] is None  # a metric no row holds is blank, not an error
    assert performance_table(performance_of([TODAY], []), TODAY) == []


def test_the_newest_run_of_each_date_counts_and_later_dates_are_not_shown():
    first, second = run_row(TODAY), {**run_row(TODAY), "flow_run_id": "again", "finished_at": NOW + timedelta(hours=1)}
    later = run_row(TODAY + timedelta(days=7))
    runs = runs_by_date(pl.DataFrame([first, second, later], schema=SCORE_RUNS.schema), TODAY)
    assert runs["flow_run_id"].to_list() == ["again"]


# --- the page ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(config) -> str:
    return render_report(tables(), config, NOW)


def test_the_page_holds_every_section_with_its_plots_inline(page):
    for section in ("headline", "risk", "silent", "survey", "drift", "performance", "health"):
        assert f'id="{section}"' in page
    plots = re.findall(r'<img class="plot"[^>]* src="([^"]+)"', page)
    assert len(plots) == 4 and all(p.startswith("data:image/svg+xml;base64,") for p in plots)
    assert "3 support tickets in the last 30 days (usual: 0)" in page
    assert "events: 9,000 rows, 0.40 x the median of the last 3 runs" in page  # data health issue
    assert "tickets_30d" in page and "status-fail" in page


def test_the_page_loads_nothing_from_the_network(page):
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<script" not in page and "@import" not in page and "url(http" not in page


def test_text_from_the_data_is_escaped(config):
    scores = scores_of(TODAY).with_columns(customer_id=pl.format("<script>alert({})</script>", "customer_id"))
    page = render_report(tables(scores=scores), config, NOW)
    assert "<script>" not in page and "&lt;script&gt;alert(C0000)&lt;/script&gt;" in page


def test_a_young_installation_gets_words_where_history_is_missing(config):
    young = tables(
        scores=scores_of(TODAY, dissatisfaction=False),
        score_runs=pl.DataFrame([run_row(TODAY, respondent=None)], schema=SCORE_RUNS.schema),
        feature_drift=FEATURE_DRIFT.empty(),
        score_performance=SCORE_PERFORMANCE.empty(),
    )
    page = render_report(young, config, NOW)
    assert "This date has not been monitored yet" in page
    assert "No scored date has matured yet" in page
    assert "No survey answers to learn from" in page
    assert "P(dissatisfied)" not in page
    assert len(re.findall(r'<img class="plot"', page)) == 1  # only the risk distribution has data


def test_a_report_needs_a_date_s_scores(config):
    with pytest.raises(ValueError, match="needs one date's churn_scores rows"):
        render_report(tables(scores=scores_of(TODAY).clear()), config, NOW)


# --- reading the sink, writing the file, the command -------------------------------------------------


@pytest.fixture
def sink_config(tmp_path):
    """The demo config with its workspace and DuckDB sink in tmp_path; the sink holds two scored dates."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["workspace"] = str(tmp_path / "workspace")
    raw["sink"]["path"] = str(tmp_path / "scores.duckdb")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _fill(config, days: list[date]) -> None:
    sink = open_sink(config.sink)
    for day in days:
        sink.write_scores(scores_of(day), day)
        sink.append_score_run(run_row(day, VERDICT))


def test_the_newest_date_is_the_default_and_the_file_lands_in_the_workspace(sink_config):
    config = load_config(sink_config)
    earlier = TODAY - timedelta(days=7)
    _fill(config, [earlier, TODAY])
    written = write_report(config)
    assert written.as_of == TODAY and written.mlflow_run_id == "run-1"
    assert written.path == (config.workspace / "reports" / f"report-{TODAY}.html").resolve()
    assert f"as of {TODAY}" in written.path.read_text()
    assert read_report_tables(config, earlier).scores["as_of"].unique().to_list() == [earlier]


def test_the_command_writes_the_report_where_asked(sink_config, tmp_path):
    config = load_config(sink_config)
    earlier = TODAY - timedelta(days=7)
    _fill(config, [earlier, TODAY])
    out = tmp_path / "morning.html"
    result = CliRunner().invoke(app, ["report", "--config", str(sink_config), "--as-of", str(earlier), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    assert f"as of {earlier}" in out.read_text()


def test_a_date_without_scores_is_refused_naming_the_dates_there_are(sink_config):
    config = load_config(sink_config)
    _fill(config, [TODAY])
    result = CliRunner().invoke(app, ["report", "--config", str(sink_config), "--as-of", "2025-06-01"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "churn_scores holds no rows for as-of 2025-06-01" in message and f"scored dates: {TODAY}" in message
    assert "Traceback" not in result.output


def test_an_empty_sink_is_refused_saying_how_to_score(sink_config):
    result = CliRunner().invoke(app, ["report", "--config", str(sink_config)])
    assert result.exit_code == 2
    assert "holds no scores yet" in " ".join(result.output.split()) and "quietchurn run nightly" in " ".join(result.output.split())


def test_the_command_s_help_shows_worked_examples_and_its_options():
    result = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "quietchurn report --config configs/demo.yaml --as-of 2026-01-01 --out /tmp/morning.html" in text
    assert "YYYY-MM-DD" in text and "reports/report-DATE.html in the config's workspace" in text and "<str>" not in text
