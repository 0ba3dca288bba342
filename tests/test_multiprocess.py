"""R3 training in two processes, as a spec with `training.num_processes: 2` launches it (`accelerate launch
--multi_gpu --num_processes 2`, CPU processes over gloo), materialized through Dagster and Pipes into the real
trajectory store and MLflow store, killed with SIGKILL after its first checkpoint and materialized again.

What it shows: each process rolls out its own slice of every step's batch, with its own samples even where both
hold copies of one prompt; each training episode is stored exactly once across the kill and the resume; MLflow gets
one value per step covering both slices, and Dagster one materialization and one copy of each message; the ranks
hold identical weights after every step (the check is recorded per step); the resume continues from the checkpoint
with both processes. The micro set is the overfit one of the vLLM tests (rewards of about 0.25, so every step
has gradients and they differ between the processes); with DDP's gradient all-reduce sabotaged the run fails.
A second launch shows the weight check failing on every rank when one weight differs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import psutil
import pytest
import torch
import yaml
from dagster import DagsterEventType, DagsterInstance
from mlflow import MlflowClient

from r3_pipeline import stages, tracking
from r3_pipeline.defs import build_definitions
from r3_pipeline.defs.run import execute
from r3_pipeline.layout import Layout, read_json, write_jsonl
from r3_pipeline.models.loading import load_model
from r3_pipeline.spec import parse_spec
from r3_pipeline.store import TrajectoryStore
from r3_pipeline.training.checkpoints import MANIFEST
from tests.support import MICRO_SET_TASK, MICRO_SPEC, REPO, kill_when, overfit_micro_set, start_materialization

STEPS, PER_STEP, PER_PROCESS = 6, 8, 4  # one prompt of 8 generations a step: 4 on each process
# The overfit micro set (tests/support.py): a model whose reflections propose the right equation about 1 time in 4 and
# whose retry carries out what they propose, over its 4 failures. Rewards are not all equal in a group, so every step
# has gradients, different on each process (each samples its own reflections): only the all-reduce keeps the ranks'
# weights equal, and the per-step weight check sees it when it does not (test_a_broken_gradient_all_reduce_...).
SPEC = copy.deepcopy({
    **MICRO_SPEC,
    "name": "ddp",
    "registry": {"name": "r3-ddp-test"},
    "task": {"name": "countdown", "config": MICRO_SET_TASK},
    "mining": {**MICRO_SPEC["mining"], "num_tasks": 8},
    "evaluation": {**MICRO_SPEC["evaluation"], "num_tasks": 2},
    "training": {"preset": "cpu", "num_processes": 2, "overrides": {
        **MICRO_SPEC["training"]["overrides"], "max_steps": STEPS, "save_steps": 2, "num_generations": PER_STEP,
        "per_device_train_batch_size": PER_PROCESS, "learning_rate": 1e-4, "beta": 0.0,
        "max_reflection_tokens": 32, "max_retry_tokens": 16}},
})


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_tokenizer):
    root = tmp_path_factory.mktemp("multiprocess")
    _, failures, model_dir = overfit_micro_set(tiny_tokenizer, root / "micro_model")
    SPEC["model"] = {"source": str(model_dir)}
    specs = root / "specs"
    specs.mkdir()
    (specs / "ddp.yaml").write_text(yaml.safe_dump(SPEC))
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(dagster_home))
        env = {"specs": specs, "home": root / "r3home", "dagster_home": dagster_home}
        assert _materialize(env, "tasks", "base_model", "baseline").success
        # Train on the micro set's failures (their failed attempts are the ones its reflections were taught on).
        write_jsonl(Layout(env["home"]).spec("ddp").failure_set,
                    [{"row": row, "failed_attempt": attempt, "samples": 1, "failed_samples": 1}
                     for row, attempt in failures])
        yield env


def _materialize(env, *assets: str):
    with DagsterInstance.get() as instance:
        return execute(build_definitions(env["specs"], home=str(env["home"])), instance, "ddp", list(assets))


def _training_processes(job: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(job) in " ".join(proc.info["cmdline"] or []):
            found.append(proc.info["pid"])
    return found


def _episodes(store: TrajectoryStore) -> list[dict]:
    columns, rows = store.sql("SELECT * FROM episodes_raw WHERE spec = 'ddp' AND stage = 'training' "
                              "ORDER BY step, sample_idx")
    return [dict(zip(columns, r)) for r in rows]


def test_two_processes_train_store_log_and_resume_as_one(env):
    layout = Layout(env["home"])
    out = layout.spec("ddp").training
    proc = start_materialization(env["specs"], env["home"], env["dagster_home"], "ddp", "r3_model")
    kill_when(proc, (out.checkpoints / "checkpoint-2" / MANIFEST).exists)
    # torch.distributed.run puts each training process in a session of its own, out of reach of the group kill:
    # they must stop by themselves when their launcher is gone, not train on beside the resumed run.
    deadline = time.monotonic() + 20
    while _training_processes(out.job) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _training_processes(out.job) == [], "training processes outlived the killed run"
    assert not out.result.exists()
    run_id = read_json(out.mlflow_run)["run_id"]

    resumed_at_ms = int(time.time() * 1000)
    result = _materialize(env, "r3_model")
    assert result.success
    trained = read_json(out.result)
    assert trained["num_processes"] == 2 and trained["global_step"] == STEPS
    assert "checkpoint-" in trained["resumed_from"]  # both processes resumed from the checkpoint, not from step 0
    resumed_step = int(trained["resumed_from"].rsplit("-", 1)[1])
    for checkpoint in out.checkpoints.glob("checkpoint-*"):  # each process saved its own RNG state
        assert {p.name for p in checkpoint.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    base, final = (load_model(path)[0].state_dict() for path in (stages.base_model_info(parse_spec(SPEC), layout)["path"],
                                                                  trained["final_model"]))
    assert any(not torch.equal(base[name], final[name]) for name in base)  # the weights the check compared moved

    # Each step's batch is stored once: both processes' slices (no file overwritten by the other process), ids
    # unique across them, and the steps replayed after the kill replaced rather than duplicated.
    episodes = _episodes(TrajectoryStore(layout.store_root))
    assert len(episodes) == len({e["episode_id"] for e in episodes}) == STEPS * PER_STEP
    # A reward signal: retries that succeed and retries that fail, in the groups of most steps (else the gradients
    # would be zero and the checks below would compare zeros).
    mixed = [s for s in range(STEPS) if len({e["retry_correct"] for e in episodes if e["step"] == s}) == 2]
    assert len(mixed) >= STEPS // 2, [[e["retry_correct"] for e in episodes if e["step"] == s] for s in range(STEPS)]
    for step in range(STEPS):
        batch = [e for e in episodes if e["step"] == step]
        assert [e["sample_idx"] for e in batch] == list(range(PER_STEP))
        assert len({e["task_id"] for e in batch}) == 1  # the prompt's 8 copies, 4 on each process
        first, second = batch[:PER_PROCESS], batch[PER_PROCESS:]
        # The processes' samples differ (a seed shared by both would give them identical reflections).
        assert [e["reflection"] for e in first] != [e["reflection"] for e in second]

    # MLflow: one run, written by the main process alone, one value per step of the resumed launch; the rollout
    # metrics cover both slices (they equal what the store holds for the whole step) and every step recorded that
    # the two processes held the same weights.
    mlflow.set_tracking_uri(tracking.tracking_uri(layout.home))
    client = MlflowClient()
    assert read_json(out.mlflow_run)["run_id"] == run_id
    experiment = client.get_run(run_id).info.experiment_id
    assert [r.info.run_id for r in client.search_runs([experiment])] == [run_id]

    def after_resume(metric: str) -> dict[int, list[float]]:
        values: dict[int, list[float]] = {}
        for m in client.get_metric_history(run_id, metric):
            if m.timestamp >= resumed_at_ms:
                values.setdefault(m.step, []).append(m.value)
        return values

    expected_steps = list(range(resumed_step + 1, STEPS + 1))
    success, tokens, reward = after_resume("r3_retry_success"), after_resume("r3_reflection_tokens"), after_resume("reward")
    in_sync = after_resume("r3_ranks_in_sync")
    assert sorted(success) == sorted(tokens) == sorted(reward) == sorted(in_sync) == expected_steps
    for step in expected_steps:
        assert len(success[step]) == len(tokens[step]) == len(reward[step]) == len(in_sync[step]) == 1, step
        stored = [e for e in episodes if e["step"] == step - 1]  # the rollout of step k is logged at step k + 1
        assert success[step][0] == pytest.approx(sum(e["retry_correct"] for e in stored) / len(stored))
        assert tokens[step][0] == pytest.approx(sum(e["reflection_tokens"] for e in stored) / len(stored))
        assert reward[step][0] == pytest.approx(sum(e["retry_correct"] for e in stored) / len(stored))
        assert in_sync[step][0] == 1.0
    assert {m.step for m in client.get_metric_history(run_id, "r3_ranks_in_sync")} == set(range(1, STEPS + 1))

    # Dagster heard the main process only: one materialization, each training message once.
    with DagsterInstance.get() as instance:
        logs = instance.all_logs(result.run_id)
        materializations = instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert len(materializations) == 1
    resuming = [e for e in logs if e.dagster_event is None and e.user_message.startswith("resuming from")]
    assert len(resuming) == 1

    # An interrupted training resumes only under the same topology; another process count starts afresh.
    out.result.unlink()
    assert stages.training_job(parse_spec(SPEC), layout, "same").mlflow_run_id == run_id
    one = parse_spec({**SPEC, "training": {**SPEC["training"], "num_processes": 1}})
    assert stages.training_job(one, layout, "one").mlflow_run_id != run_id


def test_the_weight_check_fails_on_every_rank_when_one_weight_differs(tmp_path):
    launcher = parse_spec(SPEC).training.launch_command()  # accelerate launch ... --multi_gpu --num_processes 2
    local = Path(sys.executable).parent / "accelerate"  # the venv's, as the r3_model asset runs it
    command = [str(local) if local.exists() else "accelerate", *launcher[1:], "-m", "tests.rank_sync_probe", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for seen in ranks:
        assert seen["processes"] == 2 and seen["active"]
        assert seen["recorded"] == [["r3/ranks_in_sync", 1.0]]  # equal weights: the check passes and says so
        assert seen["error"] and "rank(s) [1] differ from rank 0's in 1 of 4" in seen["error"]
        assert "1.weight" in seen["error"]


def test_the_weight_digest_is_exact_and_sees_one_bit():
    from r3_pipeline.training.distributed import compare_digests, parameter_digest

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2)).to(torch.bfloat16)
    model[0].bias.requires_grad_(False)  # frozen weights (LoRA's base) are left out
    names, digest = parameter_digest(model)
    assert names == ["0.weight", "1.weight", "1.bias"] and digest.dtype == torch.int64
    with torch.no_grad():  # the next bfloat16 after one bias value: one unit in the last place
        model[1].bias.view(torch.int16)[0] += 1
    _, nudged = parameter_digest(model)
    assert (nudged != digest).tolist() == [False, False, True]
    compare_digests(names, torch.stack([digest, digest]), step=1)  # equal: no error
    with pytest.raises(RuntimeError, match=r"rank\(s\) \[1\] differ from rank 0's in 1 of 3 .*1\.bias"):
        compare_digests(names, torch.stack([digest, nudged]), step=1)


def test_a_broken_gradient_all_reduce_fails_the_run(env):
    """Sabotage: the same two-process training with DDP's gradient all-reduce replaced by a hook that keeps each
    process's own gradients (tests/sabotage/sitecustomize.py). With rewards that differ, the ranks' weights part after
    the first step, and the run must fail saying so rather than train two models and keep one."""
    layout = Layout(env["home"])
    out = layout.spec("ddp").training
    shutil.rmtree(out.root, ignore_errors=True)  # a fresh training, not a resume of the finished one
    stages.training_job(parse_spec(SPEC), layout, "sabotage")
    launcher = parse_spec(SPEC).training.launch_command()
    local = Path(sys.executable).parent / "accelerate"
    command = [str(local) if local.exists() else "accelerate", *launcher[1:], "-m", "r3_pipeline.training.train",
               "--job", str(out.job)]
    path = os.pathsep.join([str(REPO / "tests" / "sabotage"), str(REPO), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": path, "R3_TEST_BREAK_ALLREDUCE": "1"})
    assert done.returncode != 0, "training with a broken all-reduce finished: the weight check did not see it"
    assert "no longer training one model" in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
    assert not out.result.exists()
