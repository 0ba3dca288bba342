"""Kill -9 in the middle of mining, training and evaluation, then materialize again: nothing restarts from zero,
no trajectory is stored twice or lost, and the model is registered once. Real processes, real stores.

Each interrupted materialization runs in its own process group (the Dagster run, and for training also the
`accelerate launch` process and its trainer), which the test kills with SIGKILL once it has done some work.
While mining runs, the test also queries the store in a loop, as a user's SQL session would.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from mlflow import MlflowClient

from r3_pipeline import tracking
from r3_pipeline.defs import build_definitions
from r3_pipeline.defs.run import execute
from r3_pipeline.layout import Layout, read_json
from r3_pipeline.store import TrajectoryStore
from r3_pipeline.training.checkpoints import MANIFEST
from tests.support import MICRO_SPEC, kill_when, start_materialization, stored_chunks, stored_counts

SPEC = {
    **MICRO_SPEC,
    "name": "kill",
    "registry": {"name": "r3-kill-test"},
    "mining": {**MICRO_SPEC["mining"], "num_tasks": 12, "chunk_tasks": 2, "samples_per_task": 2},
    "evaluation": {**MICRO_SPEC["evaluation"], "chunk_tasks": 2},
    "training": {"preset": "cpu", "overrides": {**MICRO_SPEC["training"]["overrides"], "max_steps": 8, "save_steps": 2}},
}

@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("interruption")
    specs = root / "specs"
    specs.mkdir()
    (specs / "kill.yaml").write_text(yaml.safe_dump(SPEC))
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    env = {"specs": specs, "home": root / "r3home", "dagster_home": dagster_home}
    _materialize(env, "tasks", "base_model")
    yield env
    if old is None:
        os.environ.pop("DAGSTER_HOME")
    else:
        os.environ["DAGSTER_HOME"] = old


def _materialize(env, *assets: str) -> None:
    """In this process, as `r3 run` does; a run left unfinished by a killed process is reclaimed first."""
    with DagsterInstance.get() as instance:
        assert execute(build_definitions(env["specs"], home=str(env["home"])), instance, "kill", list(assets)).success


def _start(env, *assets: str) -> subprocess.Popen:
    return start_materialization(env["specs"], env["home"], env["dagster_home"], "kill", *assets)




def _check_resumed_without_duplicates(store, stage, before: dict[str, int], expected_rows: int) -> None:
    after = stored_chunks(store, "kill", stage)
    # Chunks stored before the kill are kept as they were, not regenerated.
    assert all(after[name] == mtime for name, mtime in before.items())
    assert stored_counts(store, "kill", stage) == (expected_rows, expected_rows, expected_rows)


def test_killed_mining_resumes_and_readers_never_see_partial_data(env):
    """Killed and materialized again from `tasks` on, as `r3 run` does: the base model warm-started here is kept
    (a new one would change the model id the stored chunks belong to, and mining would start over)."""
    store = TrajectoryStore(Layout(env["home"]).store_root)
    base = Layout(env["home"]).spec("kill").base_model_info
    model_id = read_json(base)["model_id"]
    total_chunks, per_chunk = 12 // 2, 2 * 2  # tasks / chunk_tasks; tasks x samples per chunk
    seen: list[int] = []

    def query() -> None:
        # A reader in another process than the writer: no lock error, and only whole chunks.
        n = store.sql("SELECT count(*) FROM episodes WHERE spec='kill' AND stage='mining'")[1][0][0]
        assert n % per_chunk == 0, f"saw a partial chunk: {n} rows"
        seen.append(n)

    proc = _start(env, "tasks", "base_model", "baseline")
    kill_when(proc, lambda: len(stored_chunks(store, "kill", "mining")) >= 2, on_poll=query)
    before = stored_chunks(store, "kill", "mining")
    assert 2 <= len(before) < total_chunks, "the kill should land mid-way"
    assert max(seen) <= len(before) * per_chunk

    _materialize(env, "tasks", "base_model", "baseline")
    assert read_json(base)["model_id"] == model_id and read_json(base)["reused"]
    _check_resumed_without_duplicates(store, "mining", before, 12 * 2)
    failures = Layout(env["home"]).spec("kill").failure_set.read_text().splitlines()
    failed_tasks = store.sql("SELECT count(DISTINCT task_id) FROM episodes WHERE spec='kill' AND stage='mining' "
                             "AND NOT first_correct")[1][0][0]
    assert len(failures) == failed_tasks  # keep: any


def test_killed_training_resumes_from_checkpoint_and_registers_once(env):
    _materialize(env, "baseline")
    layout = Layout(env["home"])
    out = layout.spec("kill").training
    checkpoint = out.checkpoints / "checkpoint-2" / MANIFEST

    proc = _start(env, "r3_model")
    kill_when(proc, checkpoint.exists)
    assert not out.result.exists()
    run_before = read_json(out.mlflow_run)["run_id"]
    failure_set = layout.spec("kill").failure_set.read_text()

    # From `tasks` on, as `r3 run` does: mining must pick the same tasks (the killed training's are not yet
    # "trained on"), or the failure set changes and training starts over. The run would wait forever on the dead
    # run's training slot if it were not reclaimed.
    _materialize(env, "tasks", "base_model", "baseline", "r3_model")
    assert layout.spec("kill").failure_set.read_text() == failure_set
    with DagsterInstance.get() as instance:
        assert instance.get_run_records()[1].dagster_run.status == DagsterRunStatus.FAILURE  # the killed run
    result = read_json(out.result)
    assert "checkpoint-" in result["resumed_from"]  # it did not restart from step 0
    assert result["global_step"] == 8
    assert read_json(out.mlflow_run)["run_id"] == run_before  # one MLflow run for the whole training
    mlflow.set_tracking_uri(tracking.tracking_uri(layout.home))
    steps = {m.step for m in MlflowClient().get_metric_history(run_before, "reward")}
    assert steps == set(range(1, 9))
    store = TrajectoryStore(layout.store_root)
    assert stored_counts(store, "kill", "training") == (8 * 8, 8 * 8, 8 * 8)  # steps x sequences, each step stored once

    # Evaluation killed mid-way resumes too.
    proc = _start(env, "evaluation")
    kill_when(proc, lambda: len(stored_chunks(store, "kill", "evaluation")) >= 2)
    before = stored_chunks(store, "kill", "evaluation")
    assert len(before) < 3 * 24 // 2  # chunks of 2 tasks: base, trained, and the base's bare-retry control
    _materialize(env, "evaluation")
    _check_resumed_without_duplicates(store, "evaluation", before, 3 * 24)

    # Registering twice (a re-materialization after an interruption) makes one model version.
    _materialize(env, "registered_model")
    _materialize(env, "registered_model")
    versions = MlflowClient().search_model_versions("name='r3-kill-test'")
    assert len(versions) == 1


def test_killed_training_with_changed_settings_starts_afresh(env):
    """Checkpoints of an interrupted training are resumed only under the same settings. After the user changes
    them, the next training starts from step 0 in a new MLflow run, instead of resuming with mixed settings or
    failing on MLflow's refusal to change a logged param."""
    _materialize(env, "baseline")
    out = Layout(env["home"]).spec("kill").training
    store = TrajectoryStore(Layout(env["home"]).store_root)
    trained_before = stored_counts(store, "kill", "training")[0]
    out.result.unlink(missing_ok=True)
    proc = _start(env, "r3_model")
    kill_when(proc, (out.checkpoints / "checkpoint-2" / MANIFEST).exists)
    run_before = read_json(out.mlflow_run)["run_id"]
    spec_file = env["specs"] / "kill.yaml"
    changed = {**SPEC, "training": {"preset": "cpu", "overrides": {**SPEC["training"]["overrides"], "max_steps": 4,
                                                                  "learning_rate": 3e-5}}}
    spec_file.write_text(yaml.safe_dump(changed))
    try:
        _materialize(env, "r3_model")
    finally:
        spec_file.write_text(yaml.safe_dump(SPEC))
    result = read_json(out.result)
    assert result["resumed_from"] == "" and result["global_step"] == 4
    run_after = read_json(out.mlflow_run)["run_id"]
    assert run_after != run_before
    mlflow.set_tracking_uri(tracking.tracking_uri(Layout(env["home"]).home))
    assert MlflowClient().get_run(run_after).data.params["r3.learning_rate"] == "3e-05"
    # Every training's episodes stay in the store: those stored before, the 2 or more steps of the killed
    # training and the 4 of this one (before, a new training's step files replaced an earlier one's).
    raw, distinct, view = stored_counts(store, "kill", "training")
    assert raw == distinct == view and raw >= trained_before + (2 + 4) * 8, (trained_before, raw, distinct, view)
