"""Task registry: maps a task name from the run config to its config dataclass and Task class.

Tasks register here with their (Config, Task) pair; callers only use make_task.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from r3_pipeline.tasks.base import Task
from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask
from r3_pipeline.tasks.function_calling import FunctionCallingConfig, FunctionCallingTask

TASKS: dict[str, tuple[type, type]] = {
    "countdown": (CountdownConfig, CountdownTask),
    "function_calling": (FunctionCallingConfig, FunctionCallingTask),
}


def make_task(name: str, config: dict[str, Any] | None = None) -> Task:
    """Build the named task from a plain dict of config values; unknown names or keys raise ValueError."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    config_cls, task_cls = TASKS[name]
    config = dict(config or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    for key in config:
        if key not in known:
            raise ValueError(f"unknown config key {key!r} for task {name!r}; known keys: {', '.join(sorted(known))}")
    return task_cls(config_cls(**config))
