"""Task registry: maps a task name from the run config to its config dataclass and Task class.

Each task is one subpackage of this package (`countdown/`, `function_calling/`) whose `__init__` sets
`TASK = (ConfigClass, TaskClass)`; the registry finds them all, so adding a task adds a folder and nothing here.
A task's name (its Task class's `name`) is its folder's name. Beside the tasks sit what they share: the Task
protocol (base.py), the row rules (rows.py) and the bounded JSON reader (strict_json.py). Callers only use
make_task (and TASKS to check a spec's task and its config keys).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from r3_pipeline.tasks.base import Task


def _discover() -> dict[str, tuple[type, type]]:
    tasks = {}
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            config_cls, task_cls = importlib.import_module(f"{__name__}.{module.name}").TASK
            if task_cls.name != module.name:
                raise ValueError(f"task folder {module.name!r} holds the task named {task_cls.name!r}")
            tasks[module.name] = (config_cls, task_cls)
    return dict(sorted(tasks.items()))


TASKS: dict[str, tuple[type, type]] = _discover()


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
