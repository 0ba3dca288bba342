"""The two UIs in a real browser (`make ui-check`): `dagster dev` and `mlflow ui` over the home of a micro `r3 run`,
driven by a headless Chromium (Debian's `chromium`, through Playwright). The evaluation asset page shows the
accuracy table and plot, the run is on its job's Runs tab and its event log has the progress lines, MLflow
shows the run's step metrics and the registered model's alias. Screenshots go to $R3_UI_SCREENSHOTS (default
<tmp>/screenshots), kept as artefacts.

Skipped without Playwright or Chromium, unless R3_REQUIRE_UI=1 (as `make ui-check` sets), then failed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui
CHROMIUM = "/usr/bin/chromium"


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout_s} s")


@pytest.fixture(scope="module")
def servers(micro_run, tmp_path_factory):
    _require()
    bin_dir = Path(sys.executable).parent
    logs = tmp_path_factory.mktemp("ui_logs")
    dagster_port = _free_port()
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
        _wait_http(f"http://127.0.0.1:{dagster_port}/server_info", procs[0])
        _wait_http(f"http://127.0.0.1:{mlflow_port}/health", procs[1])
        yield {"dagster": f"http://127.0.0.1:{dagster_port}", "mlflow": micro_run["mlflow_ui"]}
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)


@pytest.fixture(scope="module")
def page(servers):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    path = Path(os.environ.get("R3_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dismiss_dialogs(page) -> None:
    """Dagster's first visit opens a "Join the Dagster community" dialog a moment after the page loads."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_role("button", name="Skip").click(timeout=5000)
    except PlaywrightTimeout:
        pass


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
    _dismiss_dialogs(page)
    page.get_by_text("vanilla, with reflection").first.wait_for()
    plot = page.locator("img[src*='get-artifact?path=evaluation/accuracy.png']").first
    plot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot.element_handle())
    page.screenshot(path=str(shots / "dagster_evaluation_asset.png"), full_page=True)


def test_run_is_on_its_job_and_its_event_log_has_progress(page, servers, shots, micro_run):
    run_id = _run_id(micro_run)
    page.goto(f"{servers['dagster']}/locations/r3_pipeline.definitions/jobs/micro_pipeline/runs")
    _dismiss_dialogs(page)
    page.get_by_text(run_id[:8]).first.wait_for()
    page.screenshot(path=str(shots / "dagster_job_runs.png"))
    page.goto(f"{servers['dagster']}/runs/{run_id}")
    _dismiss_dialogs(page)
    search = page.get_by_placeholder(re.compile("filter", re.I)).first
    search.fill("progress R3 training")
    page.get_by_text(re.compile(r"progress R3 training: 3/3 steps")).first.wait_for()
    page.screenshot(path=str(shots / "dagster_run_progress.png"))


def test_mlflow_shows_step_metrics_and_the_alias(page, servers, shots, micro_run):
    import mlflow

    from r3_pipeline import tracking

    mlflow.set_tracking_uri(tracking.tracking_uri(micro_run["home"]))
    version = mlflow.MlflowClient().search_model_versions("name='r3-micro-test'")[0]
    experiment = mlflow.get_run(version.run_id).info.experiment_id
    page.goto(f"{servers['mlflow']}/#/experiments/{experiment}/runs/{version.run_id}/model-metrics")
    page.get_by_placeholder("Search metric charts").fill("r3_retry_success")  # charts below the fold are not drawn
    page.get_by_text("r3_retry_success").first.wait_for()
    page.screenshot(path=str(shots / "mlflow_run_metrics.png"), full_page=True)
    alias = mlflow.MlflowClient().get_registered_model("r3-micro-test").aliases
    page.goto(f"{servers['mlflow']}/#/models/r3-micro-test")
    page.get_by_text(next(iter(alias))).first.wait_for()
    page.screenshot(path=str(shots / "mlflow_registered_model.png"), full_page=True)
