"""The two UIs in a real browser (`make ui-check`): `dagster dev` and `mlflow ui` over the home of a micro `r3 run`,
driven by a headless Chromium (Debian's `chromium`, through Playwright). The evaluation asset page shows the
accuracy table and plot, the run is on its job's Runs tab and its event log has the progress lines, MLflow
shows the run's step metrics and the registered model's alias, and the failure-inbox sensor, turned on with its
switch, starts a run from a dropped file (its tick on the sensor page, the run's tags on the run page).
Screenshots go to $R3_UI_SCREENSHOTS (default <tmp>/screenshots), kept as artefacts.

Skipped without Playwright or Chromium, unless R3_REQUIRE_UI=1 (as `make ui-check` sets), then failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import MICRO_SPEC, drop_in_inbox, free_port, stop_group, wait_http

pytestmark = pytest.mark.ui
CHROMIUM = "/usr/bin/chromium"
COMMUNITY_DIALOG = "Join the Dagster community"
NUX_STORAGE_KEY = "communityNux"  # the key the Dagster UI keeps the dialog's dismissal under
SENSOR, INBOX_JOB, INBOX_FILE = "micro_failure_inbox", "micro_production_retraining", "ui-check.jsonl"
SENSOR_RUN_TIMEOUT_S = 900  # the daemon's ticks are slow on a busy 2-core machine


def _require() -> None:
    missing = [what for what, ok in (("playwright", _has_playwright()), (CHROMIUM, Path(CHROMIUM).exists())) if not ok]
    if missing:
        if os.environ.get("R3_REQUIRE_UI") == "1":
            pytest.fail(f"missing for the UI check: {missing} (make ui-check installs them)")
        pytest.skip(f"missing {missing}: run `make ui-check`")


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def servers(micro_run, tmp_path_factory):
    _require()
    bin_dir = Path(sys.executable).parent
    logs = tmp_path_factory.mktemp("ui_logs")
    dagster_port = free_port()
    mlflow_port = int(micro_run["mlflow_ui"].rsplit(":", 1)[1])
    procs = [
        subprocess.Popen([str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
                          str(dagster_port)], cwd=Path(__file__).parents[1], env=micro_run["env"],
                         stdout=open(logs / "dagster.log", "w"), stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(bin_dir / "mlflow"), "ui", "--backend-store-uri",
                          f"sqlite:///{micro_run['home'] / 'mlflow.db'}", "--host", "127.0.0.1", "--port",
                          str(mlflow_port)], env=micro_run["env"], stdout=open(logs / "mlflow.log", "w"),
                         stderr=subprocess.STDOUT, start_new_session=True),
    ]
    try:
        wait_http(f"http://127.0.0.1:{dagster_port}/server_info", procs[0])
        wait_http(f"http://127.0.0.1:{mlflow_port}/health", procs[1])
        _skip_community_dialog(f"http://127.0.0.1:{dagster_port}")
        yield {"dagster": f"http://127.0.0.1:{dagster_port}", "mlflow": micro_run["mlflow_ui"]}
    finally:
        for proc in procs:
            stop_group(proc, grace_s=60)


@pytest.fixture(scope="module")
def page(servers):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # What the dialog's Skip button stores in the browser, so the dialog stays closed on every page.
        page.add_init_script(f"window.localStorage.setItem('{NUX_STORAGE_KEY}', JSON.stringify('1'))")
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    path = Path(os.environ.get("R3_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _skip_community_dialog(dagster: str) -> None:
    """Dagster's UI opens a "Join the Dagster community" dialog a second after the first page on localhost loads,
    over whatever the page shows (the screenshots were taken under it). Its Skip button sends this mutation, which
    records on the instance that it was seen (and the page fixture stores the browser's half), so no page opens it."""
    assert _graphql(dagster, "mutation SetNuxSeen { setNuxSeen }")["setNuxSeen"] is True


def _graphql(dagster: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{dagster}/graphql", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert not answer.get("errors"), answer
    return answer["data"]


def _screenshot(page, path: Path, **options) -> None:
    """A screenshot of the page as a user sees it, with no dialog over it."""
    assert not page.get_by_text(COMMUNITY_DIALOG).first.is_visible(), f"{COMMUNITY_DIALOG!r} dialog over {path.name}"
    page.screenshot(path=str(path), **options)


def _run_id(micro_run) -> str:
    from dagster import DagsterInstance, RunsFilter

    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(micro_run["dagster_home"])
    try:
        with DagsterInstance.get() as instance:
            return instance.get_runs(RunsFilter(job_name="micro_pipeline"))[0].run_id
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = old


def test_evaluation_asset_page_shows_table_and_plot(page, servers, shots):
    page.goto(f"{servers['dagster']}/assets/micro/evaluation")
    page.get_by_text("vanilla, with reflection").first.wait_for()
    plot = page.locator("img[src*='get-artifact?path=evaluation/accuracy.png']").first
    plot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot.element_handle())
    _screenshot(page, shots / "dagster_evaluation_asset.png", full_page=True)


def test_run_is_on_its_job_and_its_event_log_has_progress(page, servers, shots, micro_run):
    run_id = _run_id(micro_run)
    page.goto(f"{servers['dagster']}/locations/r3_pipeline.definitions/jobs/micro_pipeline/runs")
    page.get_by_text(run_id[:8]).first.wait_for()
    _screenshot(page, shots / "dagster_job_runs.png")
    page.goto(f"{servers['dagster']}/runs/{run_id}")
    search = page.get_by_placeholder(re.compile("filter", re.I)).first
    search.fill("progress R3 training")
    page.get_by_text(re.compile(r"progress R3 training: 3/3 steps")).first.wait_for()
    _screenshot(page, shots / "dagster_run_progress.png")


def test_mlflow_shows_step_metrics_and_the_alias(page, servers, shots, micro_run):
    import mlflow

    from r3_pipeline import tracking

    mlflow.set_tracking_uri(tracking.tracking_uri(micro_run["home"]))
    version = mlflow.MlflowClient().search_model_versions("name='r3-micro-test'")[0]
    experiment = mlflow.get_run(version.run_id).info.experiment_id
    page.goto(f"{servers['mlflow']}/#/experiments/{experiment}/runs/{version.run_id}/model-metrics")
    page.get_by_placeholder("Search metric charts").fill("r3_retry_success")  # charts below the fold are not drawn
    page.get_by_text("r3_retry_success").first.wait_for()
    _close_mlflow_assistant(page)
    page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for()  # the chart drawn, not still loading
    page.screenshot(path=str(shots / "mlflow_run_metrics.png"), full_page=True)
    alias = mlflow.MlflowClient().get_registered_model("r3-micro-test").aliases
    page.goto(f"{servers['mlflow']}/#/models/r3-micro-test")
    page.get_by_text(next(iter(alias))).first.wait_for()
    _close_mlflow_assistant(page)
    page.screenshot(path=str(shots / "mlflow_registered_model.png"), full_page=True)


def _close_mlflow_assistant(page) -> None:
    """MLflow 3.17 opens its "MLflow Assistant" side panel over a third of every page; close it if it is there."""
    close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count() and close.first.is_visible():
        close.first.click()
        close.first.wait_for(state="hidden", timeout=10_000)


def test_the_inbox_sensor_turned_on_in_the_ui_starts_a_run(page, servers, shots, micro_run):
    from playwright.sync_api import expect

    from r3_pipeline import inbox
    from r3_pipeline.layout import Layout
    from r3_pipeline.spec import load_specs

    sensor_page = f"{servers['dagster']}/locations/r3_pipeline.definitions/sensors/{SENSOR}"
    page.goto(sensor_page)
    running = page.locator("tr", has_text="Running").first  # the details row with the sensor's on/off switch
    expect(running.get_by_role("checkbox")).not_to_be_checked()  # the spec's default
    running.locator("label").click()  # the switch as drawn; the checkbox under it is hidden
    page.reload()  # what the instance now says, not the switch's own state
    expect(running.get_by_role("checkbox")).to_be_checked()

    layout = Layout(micro_run["home"])
    train = layout.spec("micro").split("train").read_text().splitlines()
    known = MICRO_SPEC["model"]["warm_start"]["num_rows"]  # rows past the warm start's: problems new to the model
    requests = [json.dumps({"numbers": r["numbers"], "target": r["target"], "response": "<answer>1 + 1</answer>"})
                for r in map(json.loads, train[known:known + 4])]
    drop_in_inbox(inbox.inbox_dir(load_specs(micro_run["specs"])[0], layout), INBOX_FILE,
                  requests + ['{"numbers": [1, 2, 3], "target": '])
    run = _inbox_run(servers["dagster"], "STARTED")  # a run still STARTING cannot be terminated
    assert {"dagster/sensor_name": SENSOR, "r3/inbox_file": INBOX_FILE}.items() <= run["tags"].items()

    page.goto(sensor_page)
    expect(page.locator("tr", has_text="1 run requested").filter(has_text=run["runId"][:8])).to_have_count(1)
    _screenshot(page, shots / "dagster_sensor_ticks.png", full_page=True)
    page.goto(f"{servers['dagster']}/runs/{run['runId']}")
    expect(page.get_by_text(f"Launched by {SENSOR}")).to_be_visible()  # the UI's word for dagster/sensor_name
    page.get_by_role("button", name="View tags and config").click()
    tags = page.get_by_role("dialog")
    expect(tags.get_by_text(SENSOR, exact=True)).to_be_visible()
    expect(tags.get_by_text(f"r3/inbox_file: {INBOX_FILE}", exact=True)).to_be_visible()
    _screenshot(page, shots / "dagster_sensor_run.png", animations="disabled")  # the dialog fully faded in

    # Not waiting for the production round: the run is terminated and the sensor switched off again.
    terminated = _graphql(servers["dagster"], """mutation($id: String!) { terminateRun(runId: $id) {
        __typename ... on TerminateRunFailure { message } } }""", {"id": run["runId"]})
    assert terminated["terminateRun"]["__typename"] == "TerminateRunSuccess", terminated
    page.goto(sensor_page)
    running.locator("label").click()
    page.reload()
    expect(running.get_by_role("checkbox")).not_to_be_checked()
    assert _inbox_run(servers["dagster"], "CANCELED")["runId"] == run["runId"]


def _inbox_run(dagster: str, status: str) -> dict:
    """The one run of the inbox job once it has `status` (failing if it ends in another), its tags as a dict."""
    query = f"""{{ runsOrError(filter: {{pipelineName: "{INBOX_JOB}"}}) {{ ... on Runs {{
        results {{ runId status tags {{ key value }} }} }} }} }}"""
    deadline = time.monotonic() + SENSOR_RUN_TIMEOUT_S
    while True:
        runs = _graphql(dagster, query)["runsOrError"]["results"]
        assert len(runs) <= 1, runs
        if runs and runs[0]["status"] == status:
            return {**runs[0], "tags": {t["key"]: t["value"] for t in runs[0]["tags"]}}
        assert not runs or runs[0]["status"] not in {"SUCCESS", "FAILURE", "CANCELED"}, runs
        assert time.monotonic() < deadline, f"no {status} run of {INBOX_JOB} in {SENSOR_RUN_TIMEOUT_S} s: {runs}"
        time.sleep(3)
