"""The morning report of a real run on the tiny world: written by the nightly into the workspace,
logged to MLflow, linked from a Prefect artifact, and drawn by headless Chromium (Debian's package)
without console errors, with every plot loaded and a screenshot that is not blank.

Chromium is skipped when missing, unless QUIETCHURN_REQUIRE_CHROMIUM=1 (CI), which fails instead.
QUIETCHURN_REPORT_SCREENSHOT=<file.png> keeps the screenshot to look at."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from configs import DEMO_CONFIG, load_config
from flows import pipeline
from flows.monitor_tasks import DriftFailure
from models.registry import client_for, promote

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

CHROMIUM = os.environ.get("QUIETCHURN_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def nightly_report(prefect_api, tiny_world, tmp_path_factory):
    """A crowned model, a date scored one horizon ago (so it has matured) and today's nightly."""
    root = tmp_path_factory.mktemp("report-world")
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw.update(workspace=str(root / "workspace"), mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"})
    raw["source"]["path"] = str(tiny_world[0])
    raw["sink"]["path"] = str(root / "scores.duckdb")
    raw["scoring"]["capacity"] = 50
    raw["monitoring"]["drift"] = {"warn": 5.0, "fail": 10.0}  # the tiny world's natural drift never fails the run
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    today = tiny_world[1]
    trained = pipeline.train(str(path), today)
    if not trained.promoted:
        promote(client_for(config), config.registered_model_name, trained.version)
    pipeline.score_flow(str(path), today - timedelta(days=config.churn.horizon_days))
    result = pipeline.nightly(str(path), today)
    return path, config, today, result


def test_the_nightly_writes_the_report_into_the_workspace_and_logs_it_to_mlflow(nightly_report):
    _, config, today, result = nightly_report
    path = Path(result.report)
    assert path == (config.workspace / "reports" / f"report-{today}.html").resolve() and path.is_file()
    page = path.read_text()
    assert f"as of {today}" in page and "No scored date has matured yet" not in page  # the matured date's realised row is there
    run_id = result.score.mlflow_run_id
    logged = [a.path for a in client_for(config).list_artifacts(run_id, "reports")]
    assert logged == [f"reports/{path.name}"]
    with get_client(sync_client=True) as prefect:
        # the newest artifact of the key: other slow tests share this Prefect server and run nightlies of the same date
        linked = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"quietchurn-report-{today}"])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    assert [path.as_uri() in artifact.data for artifact in linked] == [True]


def _chromium():
    """Playwright's sync API and the system Chromium, or a skip (a failure under QUIETCHURN_REQUIRE_CHROMIUM=1)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"playwright is not installed ({exc})"
    if reason is None and not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason:
        if os.environ.get("QUIETCHURN_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{reason} (QUIETCHURN_REQUIRE_CHROMIUM=1 requires it)")
        pytest.skip(reason)
    return sync_playwright


def test_headless_chromium_draws_the_report_without_errors(nightly_report, tmp_path):
    from PIL import Image

    sync_playwright = _chromium()
    *_, result = nightly_report
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: errors.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(Path(result.report).as_uri(), wait_until="load")
            plots = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            sections = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []  # nothing from the network
    assert len(plots) >= 3 and all(loaded for _, loaded in plots), plots
    assert {"Risk distribution and tiers", "Silent-dissatisfied customers", "Data health"} <= set(sections)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[0] > 900  # the full page is taller than one screen
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01, "the screenshot is (nearly) blank"
    if os.environ.get("QUIETCHURN_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["QUIETCHURN_REPORT_SCREENSHOT"])


def test_a_nightly_failed_by_drift_still_writes_the_report_of_its_date(nightly_report):
    """Last in the file: it rewrites the date's report and verdict that the tests above read."""
    path, config, today, result = nightly_report
    raw = yaml.safe_load(path.read_text())
    raw["monitoring"]["drift"] = {"warn": 0.000001, "fail": 0.000002}  # any drift at all fails
    strict = path.with_name("strict.yaml")
    strict.write_text(yaml.safe_dump(raw))
    report = Path(result.report)
    report.unlink()
    with pytest.raises(DriftFailure):
        pipeline.nightly(str(strict), today)
    page = report.read_text()
    assert 'status status-fail">fail</span>' in page  # the headline's drift tile tells the failure
