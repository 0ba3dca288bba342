"""The failure inbox end to end on a real `dagster dev` (webserver and daemon) over a micro spec: a dropped file
with good and bad rows starts exactly one retraining run (bad rows set aside, rows mined, trained on, evaluated,
a registry decision with its reason); a half-written file is not read until it is renamed into place; a daemon
restart consumes no file twice; the same rows dropped again under a new name are recorded but not trained on
twice, and that round is guarded against forgetting by the champion of the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support import MICRO_SPEC, REPO, drop_in_inbox, free_port, stop_group, wait_http, write_instance_config

SPEC = {**MICRO_SPEC, "name": "inbox", "description": "Micro spec with a failure inbox, for tests.",
        "evaluation": {**MICRO_SPEC["evaluation"], "bare_retry": False},
        "registry": {"name": "r3-inbox-test"}, "inbox": {"sensor_running": True, "poll_seconds": 3}}
JOB, SENSOR, FILE_TAG = "inbox_production_retraining", "inbox_failure_inbox", "r3/inbox_file"
RUN_TIMEOUT_S = 1800  # a round takes minutes on a quiet 2-core machine, far more on a busy one
BAD_ROWS = ['{"numbers": [1, 2, 3], "target": ', '{"numbers": [1, 2], "response": "<answer>1 + 2</answer>"}',
            '["not", "an", "object"]']


class Dagster:
    """`dagster dev` over the test's homes; restartable, always stopped at the end."""

    def __init__(self, root: Path, env: dict):
        self.root, self.env, self.proc, self.url = root, env, None, ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.root / f"dagster-{port}.log"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
             str(port)], cwd=REPO, env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_http(f"{self.url}/server_info", self.proc, log=log)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            stop_group(self.proc, grace_s=60)

    def graphql(self, query: str, variables: dict) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["data"]

    def cancel(self, run_id: str) -> None:
        """What the UI's Terminate button does."""
        answer = self.graphql("mutation($id: String!) { terminateRun(runId: $id) { __typename } }", {"id": run_id})
        assert answer["terminateRun"]["__typename"] == "TerminateRunSuccess", answer

    def ticks(self) -> list[dict]:
        """The sensor's ticks as the UI shows them (GraphQL), newest first."""
        query = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
            sensorState { status ticks(limit: 200) { status timestamp runIds skipReason } } } } }"""
        selector = {"repositoryLocationName": "r3_pipeline.definitions", "repositoryName": "__repository__",
                    "sensorName": SENSOR}
        state = self.graphql(query, {"s": selector})["sensorOrError"]["sensorState"]
        assert state["status"] == "RUNNING"
        return state["ticks"]


@pytest.fixture
def world(tmp_path, monkeypatch):
    specs, home, dagster_home = tmp_path / "specs", tmp_path / "home", tmp_path / "dagster"
    specs.mkdir()
    dagster_home.mkdir()
    (specs / "inbox.yaml").write_text(yaml.safe_dump(SPEC))
    write_instance_config(dagster_home, RUN_TIMEOUT_S)
    env = {**os.environ, "R3_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "R3_SPECS_DIR": str(specs),
           "PYTHONPATH": str(REPO), "DAGSTER_GRPC_TIMEOUT_SECONDS": "600"}
    for name in ("R3_HOME", "DAGSTER_HOME", "R3_SPECS_DIR"):
        monkeypatch.setenv(name, env[name])
    dagster = Dagster(tmp_path, env)
    yield {"specs": specs, "home": home, "dagster": dagster}
    dagster.stop()


def _runs(instance, file_name: str | None = None) -> list:
    from dagster import RunsFilter

    tags = {FILE_TAG: file_name} if file_name else {}
    return instance.get_runs(RunsFilter(job_name=JOB, tags=tags))


def _wait(predicate, timeout_s: float, what: str, dagster: Dagster):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert dagster.proc.poll() is None, "dagster dev exited"
        time.sleep(2)
    raise TimeoutError(f"timed out waiting for {what}")


def _finished(instance, file_name: str, dagster: Dagster):
    from dagster import DagsterRunStatus

    done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    run = _wait(lambda: next((r for r in _runs(instance, file_name) if r.status in done), None), RUN_TIMEOUT_S,
                f"the run of {file_name}", dagster)
    if run.status != DagsterRunStatus.SUCCESS:
        errors = [e.message for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_failure]
        pytest.fail(f"run of {file_name} ended {run.status}: {errors}")
    return run


def test_the_sensor_retrains_once_per_file_and_never_twice_on_a_row(world):
    from dagster import DagsterInstance
    from mlflow import MlflowClient

    from r3_pipeline import inbox, tracking
    from r3_pipeline.defs import build_definitions
    from r3_pipeline.defs.run import execute
    from r3_pipeline.layout import Layout, read_json
    from r3_pipeline.spec import load_specs
    from r3_pipeline.store import TrajectoryStore

    home, dagster = world["home"], world["dagster"]
    spec, layout = load_specs(world["specs"])[0], Layout(home)
    store = TrajectoryStore(layout.store_root)
    with DagsterInstance.get() as instance:
        assert execute(build_definitions(world["specs"], home=str(home)), instance, "inbox", ["tasks"]).success
    train = [json.loads(line) for line in layout.spec("inbox").split("train").read_text().splitlines()]
    requests = [json.dumps({"numbers": r["numbers"], "target": r["target"], "response": "<answer>1 + 1</answer>"})
                for r in train[100:120]]  # rows past the warm start's, as a user's would be: unknown problems
    folder = inbox.inbox_dir(spec, layout)
    folder.mkdir(parents=True)
    half = folder / ".late.jsonl.part"
    half.write_text("\n".join(requests[:3]) + "\n" + requests[3][:20])  # being written: never read
    dagster.start()
    drop_in_inbox(folder, "monday.jsonl", requests[:10] + BAD_ROWS + requests[10:])

    with DagsterInstance.get() as instance:
        monday = _finished(instance, "monday.jsonl", dagster)
        assert len(_runs(instance)) == 1 and monday.tags["dagster/sensor_name"] == SENSOR
        ticks = dagster.ticks()
        assert sum(bool(t["runIds"]) for t in ticks) == 1 and len(ticks) >= 3  # ticked on, with nothing new

    recorded = store.sql("SELECT status, count(*) FROM production_rows WHERE file = 'monday.jsonl' GROUP BY 1")[1]
    assert dict(recorded) == {"accepted": 20, "rejected": 3}
    assert store.sql("SELECT reason FROM rejected_rows WHERE source = 'inbox:monday.jsonl' ORDER BY line")[1] == [
        ("not_json",), ("missing_field:target",), ("not_an_object",)]
    first_ids = {r[0] for r in store.sql("SELECT task_id FROM production_rows WHERE status = 'accepted'")[1]}
    mined = store.sql("SELECT DISTINCT task_id FROM episodes WHERE stage = 'mining' AND run_id = ?", [monday.run_id])[1]
    assert {r[0] for r in mined} == first_ids
    trained_first = {r[0] for r in store.sql("SELECT DISTINCT task_id FROM episodes WHERE stage = 'training'")[1]}
    assert trained_first and trained_first <= first_ids
    decision = read_json(layout.spec("inbox").registry)
    tracking.configure(home, "inbox")
    version = MlflowClient().get_model_version("r3-inbox-test", decision["version"])
    assert version.tags["promotion_reason"] == decision["reason"] and decision["alias"] in version.aliases
    fates = dict(store.sql("SELECT fate, count(*) FROM production_fates WHERE file = 'monday.jsonl' GROUP BY 1")[1])
    assert fates["rejected"] == 3 and sum(fates.values()) == 23
    assert any(f.startswith(("fixed", "failed again")) for f in fates), fates

    # A daemon restart: the cursor survives, no file is consumed again.
    dagster.stop()
    restarted = time.time()
    dagster.start()
    _wait(lambda: sum(t["timestamp"] > restarted for t in dagster.ticks()) >= 2, 120, "ticks after restart", dagster)
    # The first round's version made champion by hand (as a user may), so the next round starts from it and is
    # guarded against forgetting what it fixed.
    MlflowClient().set_registered_model_alias("r3-inbox-test", "champion", decision["version"])

    drop_in_inbox(folder, "tuesday.jsonl", requests[:15])  # the same requests again, under a new name
    with DagsterInstance.get() as instance:
        assert len(_runs(instance, "monday.jsonl")) == 1
        _wait(lambda: _runs(instance, "tuesday.jsonl"), 120, "the run of tuesday.jsonl", dagster)
        assert not _runs(instance, "late.jsonl")
        half.write_text("\n".join(requests[:3]) + "\n" + json.dumps({"numbers": [2, 3, 9], "target": 15}) + "\n")
        half.rename(folder / "late.jsonl")
        late = _wait(lambda: _runs(instance, "late.jsonl"), 120, "the run of late.jsonl", dagster)[0]
        # Queued behind tuesday's run (one run per spec at a time); cancelled here to keep the test short.
        _wait(lambda: instance.get_run_by_id(late.run_id).status.value != "NOT_STARTED", 120, "the queue", dagster)
        assert instance.get_run_by_id(late.run_id).status.value == "QUEUED"
        dagster.cancel(late.run_id)
        tuesday = _finished(instance, "tuesday.jsonl", dagster)
        assert [len(_runs(instance, f)) for f in ("monday.jsonl", "tuesday.jsonl", "late.jsonl")] == [1, 1, 1]
        assert instance.get_run_by_id(late.run_id).status.value == "CANCELED"

    assert store.sql("SELECT count(*) FROM production_rows WHERE file = 'tuesday.jsonl'")[1] == [(15,)]
    trained_again = {r[0] for r in store.sql("SELECT DISTINCT task_id FROM episodes WHERE stage = 'training' "
                                             "AND run_id = ?", [tuesday.run_id])[1]}
    mined_again = {r[0] for r in store.sql("SELECT DISTINCT task_id FROM episodes WHERE stage = 'mining' "
                                           "AND run_id = ?", [tuesday.run_id])[1]}
    assert trained_again and not trained_again & trained_first and not mined_again & trained_first
    evaluated = read_json(layout.spec("inbox").evaluation_results)
    regression = evaluated["regression"]
    assert regression["champion"] == decision["version"] and regression["held_out"] == 24
    assert regression["production_checked"] == 5  # monday's requests that tuesday did not repeat
    second = read_json(layout.spec("inbox").registry)
    assert second["version"] != decision["version"] and "regression set" in second["reason"]
    print(f"\nsensor runs: monday {monday.run_id} -> v{decision['version']} {decision['alias']}: {decision['reason']}"
          f"\ntuesday {tuesday.run_id} -> v{second['version']} {second['alias']}: {second['reason']}")
