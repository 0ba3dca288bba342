"""What several test modules share that is not a fixture: the micro specs, the repository root and a hand-built
episode row. Tests import it from here, never from another test module (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

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
