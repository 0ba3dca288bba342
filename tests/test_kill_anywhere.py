"""Kill -9 at instants spread over the whole life of a real training run, of failure mining and of evaluation,
resume after each kill, and require that nothing is lost or doubled: training finishes with its steps, the final
model loads and holds the last checkpoint's weights, every episode is stored exactly once, one MLflow run holds the
training; mining and evaluation keep every stored chunk and store each episode once.

Training runs as the training process itself (`r3_pipeline.training.train`, which `accelerate launch` runs, over
the job the r3_model asset writes), with its file writes and checkpoint deletions slowed down
(tests/slow_writer_train.py) so that kills land inside a checkpoint write, inside a rotation's deletion and inside
the final model's write. Before each launch the test notes which checkpoints are whole by its own reading (every
file a resume needs is there); a launch that says it resumes from any other fails the test: this is what failed
when resuming used transformers' `get_last_checkpoint` (the highest-numbered folder, complete or not).

Mining and evaluation run as Dagster materializations in their own process group, killed as test_interruption.py
kills them, at more instants (starting up, mid-way, after the last chunk). Bounded: 7 training kills, 4 mining and
4 evaluation kills, on the micro spec.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from dagster import DagsterInstance
from mlflow import MlflowClient

from r3_pipeline import stages, tracking
from r3_pipeline.defs import build_definitions
from r3_pipeline.defs.run import execute
from r3_pipeline.layout import Layout, read_json
from r3_pipeline.models.loading import load_model
from r3_pipeline.spec import parse_spec
from r3_pipeline.store import TrajectoryStore
from tests.support import MICRO_SPEC, REPO, start_materialization, stored_chunks, stored_counts

STEPS, PER_STEP = 6, 8
MINING_TASKS, EVAL_TASKS, SAMPLES = 12, 12, 2
SPEC = {
    **MICRO_SPEC,
    "name": "anywhere",
    "registry": {"name": "r3-anywhere-test"},
    "mining": {**MICRO_SPEC["mining"], "num_tasks": MINING_TASKS, "chunk_tasks": 2, "samples_per_task": SAMPLES},
    "evaluation": {**MICRO_SPEC["evaluation"], "num_tasks": EVAL_TASKS, "chunk_tasks": 2},
    "training": {"preset": "cpu", "overrides": {**MICRO_SPEC["training"]["overrides"], "max_steps": STEPS,
                                                "save_steps": 2, "per_device_train_batch_size": PER_STEP}},
}
# What a resume needs from a checkpoint, read by the test itself (not by the code under test).
NEEDED = ("config.json", "model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")
KILL_TIMEOUT_S = 600  # per launch; a loaded 2-core machine made a launch take minutes


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("anywhere")
    specs = root / "specs"
    specs.mkdir()
    (specs / "anywhere.yaml").write_text(yaml.safe_dump(SPEC))
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(dagster_home))
        env = {"specs": specs, "home": root / "r3home", "dagster_home": dagster_home, "root": root,
               "rng": random.Random(23), "kills": {}}
        _materialize(env, "tasks", "base_model")
        yield env
        print("kills:", env["kills"])


def _materialize(env, *assets: str) -> None:
    with DagsterInstance.get() as instance:
        assert execute(build_definitions(env["specs"], home=str(env["home"])), instance, "anywhere",
                       list(assets)).success


def _kill_at(proc: subprocess.Popen, what: str, ready, delay: float = 0.0, may_finish: bool = False) -> bool:
    """SIGKILL the process group once `ready()` holds (after `delay` seconds more); whether it was killed. Fails if
    the process ends first, unless `may_finish` (an instant just before its end, which it may outrun)."""
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while not ready():
        if proc.poll() is not None:
            assert may_finish, f"the process ended before the kill {what!r} (exit {proc.returncode})"
            return False
        assert time.monotonic() < deadline, f"timed out waiting for the instant {what!r}"
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is not None:
        assert may_finish, f"the process ended before the kill {what!r} (exit {proc.returncode})"
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True




def _kill_stage_anywhere(env, asset: str, stage: str, total_chunks: int, rows: int) -> None:
    """Kill a materialization of `asset` starting up, after the first chunk, mid-way and after its last chunk (before
    the materialization ends), materialize it to the end, and check that no stored chunk was rewritten or doubled."""
    store = TrajectoryStore(Layout(env["home"]).store_root)
    chunks = lambda: stored_chunks(store, "anywhere", stage)  # noqa: E731
    rng = env["rng"]
    instants = [("starting up", lambda: True, rng.uniform(1.0, 4.0)),
                ("after the first chunk", lambda: len(chunks()) >= 1, rng.uniform(0.0, 0.3)),
                ("mid-way", lambda: len(chunks()) >= total_chunks // 2, rng.uniform(0.0, 0.3)),
                ("after the last chunk", lambda: len(chunks()) >= total_chunks, 0.0)]
    kept: dict[str, int] = {}
    for what, ready, delay in instants:
        proc = start_materialization(env["specs"], env["home"], env["dagster_home"], "anywhere", asset)
        if _kill_at(proc, what, ready, delay, may_finish=what == "after the last chunk"):
            env["kills"][stage] = env["kills"].get(stage, 0) + 1
        now = chunks()
        assert all(now[name] == mtime for name, mtime in kept.items()), f"a stored chunk was rewritten ({what})"
        kept = now
        raw, distinct, _ = stored_counts(store, "anywhere", stage)
        assert raw == distinct, f"an episode stored twice ({what})"
    assert len(kept) == total_chunks  # the last kill came after every chunk was stored
    _materialize(env, asset)
    assert all(chunks()[name] == mtime for name, mtime in kept.items())
    assert stored_counts(store, "anywhere", stage) == (rows, rows, rows)


def test_mining_killed_anywhere_resumes_without_loss_or_duplicates(env):
    _kill_stage_anywhere(env, "baseline", "mining", MINING_TASKS // 2, MINING_TASKS * SAMPLES)
    store = TrajectoryStore(Layout(env["home"]).store_root)
    failures = Layout(env["home"]).spec("anywhere").failure_set.read_text().splitlines()
    failed = store.sql("SELECT count(DISTINCT task_id) FROM episodes WHERE spec='anywhere' AND stage='mining' "
                       "AND NOT first_correct")[1][0][0]
    assert len(failures) == failed > 0  # keep: any


def _whole(checkpoint: Path) -> bool:
    return all((checkpoint / name).is_file() and (checkpoint / name).stat().st_size > 0 for name in NEEDED)


def _checkpoint(out, step: int) -> Path:
    return out.checkpoints / f"checkpoint-{step}"


def _launch(job: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen([sys.executable, "-m", "tests.slow_writer_train", "--job", str(job)], cwd=REPO,
                                start_new_session=True, stdout=handle, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})


def _resumed_from(log: Path) -> list[str]:
    return re.findall(r"resuming from (\S+)", log.read_text())


def test_training_killed_anywhere_finishes_once_with_every_episode_once(env):
    layout = Layout(env["home"])
    spec = parse_spec(SPEC)
    if not layout.spec("anywhere").failure_set.exists():
        _materialize(env, "baseline")
    out = layout.spec("anywhere").training
    job = stages.training_job(spec, layout, "kill-anywhere")  # the job the r3_model asset hands the process
    store = TrajectoryStore(layout.store_root)
    rng = env["rng"]

    def step_stored(step: int):
        return lambda: any(store.episodes_dir.glob(f"training-*-step{step:06d}.parquet"))

    def writing():  # a checkpoint folder exists that the trainer has not finished writing
        return lambda: any(not (c / "trainer_state.json").exists() for c in out.checkpoints.glob("checkpoint-*"))

    def deleting():  # rotation has started deleting a whole checkpoint (it deletes config.json before the state)
        return lambda: any((c / "trainer_state.json").exists() and not (c / "config.json").exists()
                           for c in out.checkpoints.glob("checkpoint-*"))

    instants = [("starting up", lambda: True, rng.uniform(0.5, 3.0)),
                ("mid-step 2", step_stored(1), rng.uniform(0.0, 0.5)),
                ("inside a checkpoint write", writing(), 0.0),
                ("mid-step 4", step_stored(3), rng.uniform(0.0, 0.5)),
                ("inside a checkpoint write", writing(), 0.0),
                ("inside a rotation's deletion", deleting(), 0.0),
                ("inside the final model's write", lambda: (out.final_model / "config.json").exists(), 0.0),
                ("never: runs to the end", None, 0.0)]
    resumes = []
    for n, (what, ready, delay) in enumerate(instants):
        whole = {str(c) for c in out.checkpoints.glob("checkpoint-*") if _whole(c)}
        log = env["root"] / f"train-{n}.log"
        proc = _launch(out.job, log)
        if ready is None:
            assert proc.wait(timeout=KILL_TIMEOUT_S) == 0, log.read_text()[-3000:]
        else:
            _kill_at(proc, what, ready, delay)
            env["kills"]["training"] = env["kills"].get("training", 0) + 1
            assert not out.result.exists(), f"killed {what}, yet result.json says training finished"
        for resumed in _resumed_from(log):
            # The resume used a checkpoint the test had seen whole before the launch.
            assert resumed in whole, f"launch {n} resumed from {resumed}, which was not whole; whole: {sorted(whole)}"
            resumes.append(resumed)
    assert resumes, "no launch resumed from a checkpoint"

    result = read_json(out.result)
    assert result["global_step"] == STEPS
    final, _ = load_model(result["final_model"])
    last, _ = load_model(_checkpoint(out, STEPS))
    final_w, last_w = final.state_dict(), last.state_dict()
    assert final_w.keys() == last_w.keys() and all(torch.equal(final_w[k], last_w[k]) for k in final_w)

    # One MLflow run holds the whole training, with every step.
    mlflow.set_tracking_uri(tracking.tracking_uri(layout.home))
    client = MlflowClient()
    run = client.get_run(job.mlflow_run_id)
    assert [r.info.run_id for r in client.search_runs([run.info.experiment_id])] == [job.mlflow_run_id]
    assert {m.step for m in client.get_metric_history(job.mlflow_run_id, "reward")} == set(range(1, STEPS + 1))
    # Each step's rollout stored once, whatever the launches that replayed it.
    assert stored_counts(store, "anywhere", "training") == (STEPS * PER_STEP,) * 3
    steps = store.sql("SELECT step, count(*) FROM episodes WHERE spec='anywhere' AND stage='training' GROUP BY step "
                      "ORDER BY step")[1]
    assert [tuple(s) for s in steps] == [(s, PER_STEP) for s in range(STEPS)]
    (out.root / "kill_log.json").write_text(json.dumps({"resumes": resumes}))


def test_evaluation_killed_anywhere_resumes_without_loss_or_duplicates(env):
    layout = Layout(env["home"])
    if not layout.spec("anywhere").training.result.exists():
        _materialize(env, "baseline", "r3_model")
    # Chunks of 2 tasks for the vanilla model, the trained one, and the vanilla model's bare-retry control.
    _kill_stage_anywhere(env, "evaluation", "evaluation", 3 * EVAL_TASKS // 2, 3 * EVAL_TASKS)
