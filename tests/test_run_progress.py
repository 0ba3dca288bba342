"""What a user sees of `r3 run` (issue 16), on one micro run in its own process: a line per asset with its
seconds and key figure and progress lines for the long stages in the terminal, Dagster's debug stream in a
log file instead; in the Dagster instance, a run filed under its job's code location, progress in its event
log (from the training process too), checks right after their asset, readable check results, metadata the
asset page shows inline with links to MLflow; in MLflow, one evaluation table and described models."""

from __future__ import annotations

import re
import subprocess
import sys

import mlflow
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from mlflow import MlflowClient

from r3_pipeline import tracking
from r3_pipeline.progress import MARK

ASSETS = ["tasks", "base_model", "baseline", "r3_model", "evaluation", "registered_model"]


@pytest.fixture(scope="module")
def instance(micro_run, monkeypatch_module):
    monkeypatch_module.setenv("DAGSTER_HOME", str(micro_run["dagster_home"]))
    with DagsterInstance.get() as instance:
        yield instance


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def run(instance):
    # The filter the job's Runs tab uses: job name and the code location's repository label.
    runs = instance.get_runs(RunsFilter(job_name="micro_pipeline",
                                        tags={REPOSITORY_LABEL_TAG: "__repository__@r3_pipeline.definitions"}))
    assert len(runs) == 1
    return runs[0]


def test_terminal_shows_each_asset_and_progress_and_no_dagster_debug(micro_run):
    err = micro_run["stderr"]
    for asset in ASSETS:
        assert re.search(rf"^\[micro\] {asset} +started$", err, re.M), asset
        assert re.search(rf"^\[micro\] {asset} +done in \d+s: \S", err, re.M), asset
    assert re.search(r"^\[micro\] tasks +done in \d+s: train 160, test 24, rejected 0$", err, re.M)
    assert re.search(r"^\[micro\] evaluation +done in \d+s: second attempt vanilla [\d.]+% -> trained [\d.]+%", err, re.M)
    for stage in ("warm start", "mining", "R3 training", "evaluation"):
        assert re.search(rf"^  {stage}: \d+/\d+ \w+ \(\d+%\), ", err, re.M), stage
    assert re.search(r"^  R3 training: 3/3 steps \(100%\), .*done in .*reward=", err, re.M)
    assert re.search(r"check train_test_disjoint: passed", err)
    assert "\r" not in err and "DEBUG" not in err + micro_run["stdout"]  # not a terminal: plain lines only
    log = re.search(r"go to (\S+\.log)", err)
    assert log, err
    text = open(log[1]).read()
    assert "DEBUG" in text and "STEP_START" in text  # Dagster's own stream went to the file
    out = micro_run["stdout"]
    assert "== micro (countdown, 24 held-out tasks" in out  # the summary, as before
    # then what to do next, last: the UIs, the report and a query of this run, the real-model demonstration
    nxt = out[out.index("\nNext:\n"):].splitlines()[2:]
    commands = [line.split("  #")[0].strip() for line in nxt]
    r3 = commands[2].removesuffix(" report --spec micro")
    assert r3 in ("r3", ".venv/bin/r3"), commands
    assert commands == ["make ui", "make mlflow-ui", f"{r3} report --spec micro", f'{r3} sql "SELECT * FROM retry_success"',
                        "make reproduce"]
    assert f"MLflow UI at {micro_run['mlflow_ui']}" in nxt[1] and re.search(r"about \d+ min on 2 cores", nxt[4])


def test_run_is_filed_under_its_job_with_progress_in_the_event_log(instance, run):
    assert run.remote_job_origin.repository_origin.code_location_origin.location_name == "r3_pipeline.definitions"
    progress = {}
    for entry in instance.all_logs(run.run_id):
        if entry.dagster_event is None and entry.user_message.startswith(MARK + " "):
            progress.setdefault(entry.step_key, []).append(entry.user_message)
    assert set(progress) == {"micro__base_model", "micro__baseline", "micro__r3_model", "micro__evaluation"}
    # From the training process through Pipes: each of the 3 steps, with reward and retry success.
    assert len(progress["micro__r3_model"]) == 3 and "retry_success=" in progress["micro__r3_model"][-1]
    # The share of groups with no reward spread (no GRPO signal), per step.
    assert all("zero_variance_groups=" in line for line in progress["micro__r3_model"])
    assert progress["micro__evaluation"][-1].startswith("progress evaluation: 72/72 episodes (100%)")


def test_checks_run_right_after_their_asset(instance, run):
    order = [e.step_key for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)]
    assert order.index("micro__tasks_verifier_sanity") < order.index("micro__base_model")
    assert order.index("micro__evaluation_trained_not_worse") < order.index("micro__registered_model")


def test_check_results_say_what_was_checked_and_by_how_much(instance):
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey(["micro", "evaluation"]), "trained_not_worse")])
    data = next(iter(evaluation.values())).event.dagster_event.event_specific_data
    assert re.fullmatch(r"trained second-attempt accuracy [\d.]+% is (not )?below vanilla [\d.]+%: [+-][\d.]+ points "
                        r"on 24 held-out tasks \(paired 95% CI \[[+-][\d.]+, [+-][\d.]+\]\)", data.description)
    points = data.metadata["difference_points"].value
    assert points == round(points, 1)


def test_asset_pages_show_tables_plots_and_links_inline(instance, micro_run):
    def metadata(asset):
        return instance.get_latest_materialization_event(AssetKey(["micro", asset])).asset_materialization.metadata

    ev = metadata("evaluation")
    # Dagster renders markdown inline on the asset page only under 1,000 characters.
    assert len(ev["accuracy"].value) < 1000 and "| vanilla, with reflection | 24 |" in ev["accuracy"].value
    assert "base" not in ev["accuracy"].value and "vanilla_second_attempt" in ev and "base_second_attempt" not in ev
    ui = re.escape(micro_run["mlflow_ui"])
    assert re.fullmatch(rf"!\[plot\]\({ui}/get-artifact\?path=evaluation/accuracy.png&run_uuid=\w+\)", ev["plot"].value)
    assert ev["plot_embedded"].value.startswith("![plot](data:image/png;base64,")
    run_url = ev["mlflow_run"].value
    assert re.fullmatch(rf"{ui}/#/experiments/\d+/runs/\w+", run_url)
    r3 = metadata("r3_model")
    assert r3["mlflow_run"].value == run_url and len(r3["training_curves"].value) < 1000
    reg = metadata("registered_model")
    assert reg["model_version"].value == f"{micro_run['mlflow_ui']}/#/models/r3-micro-test/versions/{reg['version'].value}"
    assert metadata("base_model")["summary"].value.startswith("micro:embedded:")


def test_mlflow_has_one_evaluation_table_the_plots_and_descriptions(micro_run):
    mlflow.set_tracking_uri(tracking.tracking_uri(micro_run["home"]))
    client = MlflowClient()
    version = client.search_model_versions("name='r3-micro-test'")[0]
    assert "R3" in client.get_registered_model("r3-micro-test").description
    assert re.search(r"vanilla [\d.]+% -> trained [\d.]+%", version.description)
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"evaluation.json", "evaluation", "training"} <= artifacts
    table = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/evaluation.json")
    assert table["columns"] == ["model", "attempt", "accuracy", "ci_low", "ci_high", "n"]
    assert sorted({row[0] for row in table["data"]}) == ["trained", "vanilla", "vanilla_bare_retry"]
    assert len(table["data"]) == 6


def test_report_is_one_self_contained_html(micro_run):
    r3 = [sys.executable, "-m", "r3_pipeline.cli"]
    proc = subprocess.run([*r3, "report", "--spec", "micro"], env=micro_run["env"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = open(proc.stdout.strip(), encoding="utf-8").read()
    assert html.count("src=\"data:image/png;base64,") == 3  # accuracy, training curves, reflection lengths
    assert "src=\"http" not in html and "<script" not in html
    for text in ("vanilla, with reflection", "trained, with reflection", "Paired gains", "Training curves",
                 "Reflections before and after training", "retry repeats the failed attempt",
                 "Reflection behaviours", "Example reflections", "r3-micro-test"):
        assert text in html, text
