"""The morning report's "Who answers surveys" block: today beside training from the date's verdict,
"not stored at training" for an older model version, nothing for a verdict written before the block
existed. Constructed tables (tests/flows/test_report.py builds them)."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl
import pytest

from configs import DEMO_CONFIG, load_config
from models.who_answers import BASE_RATE, SAME_AS_SCORE_RUN, who_answers_block
from report import render_report
from sinks.schema import SCORE_RUNS
from tests.flows.test_report import NOW, TODAY, VERDICT, run_row, tables

TODAY_FIGURES = {"response_rate": 0.21, "mean_propensity": 0.287}
TRAINING = {"as_of": "2025-11-01", "response_rate": 0.25, "response_rate_definition": SAME_AS_SCORE_RUN, "mean_propensity": 0.301}


@pytest.fixture(scope="module")
def config():
    return load_config(DEMO_CONFIG)


def _page(config, training: dict | None, with_block: bool = True) -> str:
    drift = pl.DataFrame([{"feature": "response_propensity", "value": 0.042}])
    verdict = {**VERDICT, "who_answers": who_answers_block(training, TODAY_FIGURES, drift)} if with_block else VERDICT
    runs = pl.DataFrame([run_row(TODAY - timedelta(days=30)), run_row(TODAY, verdict)], schema=SCORE_RUNS.schema)
    return render_report(tables(score_runs=runs), config, NOW)


def _block_rows(page: str) -> list[list[str]]:
    block = page.split('id="who-answers"')[1].split("</table>")[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr><td>.*?</tr>", block, re.DOTALL)]


@pytest.mark.parametrize(
    ("training", "rows"),
    [
        (TRAINING, [["survey response rate", "21.0%", "25.0%", "-4.0 pts"], ["mean response propensity", "0.287", "0.301", "-0.014"]]),
        ({**TRAINING, "response_rate": 0.31, "response_rate_definition": BASE_RATE},
         [["survey response rate", "21.0%", "31.0% (base rate)", "–"], ["mean response propensity", "0.287", "0.301", "-0.014"]]),
        (None, [["survey response rate", "21.0%", "not stored at training", "–"], ["mean response propensity", "0.287", "not stored at training", "–"]]),
    ],
)
def test_the_report_shows_who_answers_today_beside_training(config, training, rows):
    page = _page(config, training)
    assert _block_rows(page) == rows
    assert "Who answers surveys" in page and "PSI against training: 0.042" in page


def test_a_verdict_without_the_block_shows_none(config):
    assert 'id="who-answers"' not in _page(config, TRAINING, with_block=False)
