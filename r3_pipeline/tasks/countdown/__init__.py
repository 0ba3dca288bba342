"""Countdown: reach a target number from given numbers with + - * /, each number used exactly once (the paper's
arithmetic task, as in TinyZero).

    config.py    CountdownConfig: generated or loaded problems, sizes, seed, prompts, warm-start hints
    task.py      CountdownTask (the Task protocol) and the row rules `r3 verify` applies
    problems.py  a problem's identity and canonical row; seeded generation; splits from a user's source
    data.py      reading and checking a user's source rows (JSONL, JSON, Parquet, dataset), with reject reasons
    solver.py    the exact solver that proves every kept problem solvable
    verify.py    the verifier: the reward signal, safe on hostile model output
    teacher.py   teacher reflections for the embedded default's warm start, and reflection behaviours

The task registry (r3_pipeline.tasks) finds the task by `TASK`.
"""

from r3_pipeline.tasks.countdown.config import CountdownConfig
from r3_pipeline.tasks.countdown.task import CountdownTask

TASK = (CountdownConfig, CountdownTask)
__all__ = ["TASK", "CountdownConfig", "CountdownTask"]
