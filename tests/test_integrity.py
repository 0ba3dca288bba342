"""The r3_integrity check fails when a training rollout breaks R3's rules: a prompt from outside the failure
set, or a reward that is not the retry's verdict."""

import pytest

from r3_pipeline import stages
from r3_pipeline.layout import Layout, write_json, write_jsonl
from r3_pipeline.spec import parse_spec
from r3_pipeline.store import TrajectoryStore, episode_id
from tests.support import MICRO_SPEC, make_episode


def rollout(task_id: str, reward: float, correct: bool, run_id: str = "run-1") -> dict:
    return make_episode(task_id, episode_id=episode_id(task_id, run_id), stage="training", run_id=run_id, step=1,
                        spec="micro", first_correct=False, reflection="r", retry="x", retry_correct=correct,
                        reward=reward)


@pytest.mark.parametrize("rows,ok", [
    ([rollout("a", 1.0, True), rollout("b", 0.0, False)], True),
    ([rollout("a", 1.0, True), rollout("zz", 0.0, False)], False),  # not a mined failure
    ([rollout("a", 1.0, False)], False),  # reward without a correct retry
    ([rollout("a", 1.0, True, run_id="older-run"), rollout("zz", 0.0, False, run_id="older-run")], False),  # none
])
def test_training_integrity(tmp_path, rows, ok):
    spec, layout = parse_spec(MICRO_SPEC), Layout(tmp_path)
    write_json(layout.spec("micro").training.job, {"run_id": "run-1"})
    write_jsonl(layout.spec("micro").failure_set,
                [{"row": {"task_id": "a"}}, {"row": {"task_id": "b"}}])
    TrajectoryStore(layout.store_root).write(rows)
    assert stages.training_integrity(spec, layout)["ok"] is ok
