"""The Countdown task: reach a target number from given numbers with + - * /, each number used exactly once.

This is the paper's arithmetic task. Problems are either generated from a seed or loaded from a user's dataset
(`source`, read and checked by data.py); problems.py builds both into rows and splits, and this module is the
Task the pipeline sees: prompts, verification (verify.py), reference and corrupted answers, teacher reflections
(teacher.py), and the row rules `r3 verify` applies to a user's row.
"""

from __future__ import annotations

import random

from r3_pipeline.prompts import PromptTexts, load_prompts
from r3_pipeline.tasks.base import Message, Row, Splits, Verdict
from r3_pipeline.tasks.countdown.config import MAX_COUNT, CountdownConfig
from r3_pipeline.tasks.countdown.data import GENERATED, problem_of
from r3_pipeline.tasks.countdown.problems import chain, generate, load_splits
from r3_pipeline.tasks.countdown.solver import solve
from r3_pipeline.tasks.countdown.teacher import BEHAVIOURS, reflection_behaviour, teacher_reflection
from r3_pipeline.tasks.countdown.verify import verify_countdown
from r3_pipeline.tasks.rows import RowRejected

_CORRUPT_OPS = "+-*/"
_CORRUPT_TRIES = 20


def read_row(row: object) -> Row:
    """`row` as the verifier takes it (`nums` read as `numbers`, integral floats as ints), under the same row
    rules as a loaded `source` (data.problem_of); raises RowRejected with the reason otherwise.
    A `task_id` is not required: `r3 verify` labels rows itself."""
    numbers, target = problem_of(row, MAX_COUNT)
    solution = row.get("solution")  # type: ignore[union-attr] - problem_of refuses anything but a dict
    if solution is not None and not isinstance(solution, str):
        raise RowRejected("bad_type:solution")
    return {**row, "numbers": numbers, "target": target}


def validate_row(row: object) -> str | None:
    """Why `row` is not a usable Countdown row (see `read_row`), or None when it is fine."""
    try:
        read_row(row)
    except RowRejected as reject:
        return reject.reason
    return None


class CountdownTask(PromptTexts):
    """Countdown as a Task (see r3_pipeline.tasks.base.Task)."""

    name = "countdown"

    def __init__(self, config: CountdownConfig | None = None):
        self.config = config or CountdownConfig()
        self.prompts = load_prompts("countdown", self.config.prompts_path)

    def build_splits(self) -> Splits:
        """Generated: draw num_train + num_test distinct solvable problems, then split (disjoint by construction).
        Loaded: see `load_splits`."""
        cfg = self.config
        if cfg.source != GENERATED:
            return load_splits(cfg)
        rows = generate(cfg, cfg.num_train + cfg.num_test)
        return Splits(train=rows[cfg.num_test :], test=rows[: cfg.num_test], rejected=[])

    def prompt_messages(self, row: Row) -> list[Message]:
        numbers = ", ".join(map(str, row["numbers"]))
        return [{"role": "user", "content": self.prompts["attempt"].format(numbers=numbers, target=row["target"])}]

    def verify(self, row: Row, response: str) -> Verdict:
        return verify_countdown(row["numbers"], row["target"], response)

    def reference_response(self, row: Row) -> str:
        solution = row.get("solution") or solve(row["numbers"], row["target"])
        if solution is None:
            raise ValueError(f"row {row.get('task_id')!r} has no solution")
        return f"<answer>{solution}</answer>"

    def corrupt_response(self, row: Row, rng: random.Random) -> str:
        """Numbers shuffled and joined by random operators, re-drawn until it is wrong; always verifies False."""
        numbers = list(row["numbers"])
        for _ in range(_CORRUPT_TRIES):
            rng.shuffle(numbers)
            ops = [rng.choice(_CORRUPT_OPS) for _ in numbers[1:]]
            response = f"<answer>{chain(numbers, ops)}</answer>"
            if not self.verify(row, response).correct:
                return response
        # Fallback: an extra copy of a number can never use the numbers exactly once.
        return f"<answer>{chain(numbers + numbers[:1], ['+'] * len(numbers))}</answer>"

    def native_prompt_messages(self, row: Row) -> list[Message]:
        return self.prompt_messages(row)

    def chat_tools(self, row: Row) -> list[dict] | None:
        return None  # no tools: the chat template renders the plain prompt


    reflection_behaviours = BEHAVIOURS

    def teacher_reflection(self, row: Row, wrong_response: str, proposal: str | None = None,
                           behaviour: str = "guess", rng: random.Random | None = None) -> str:
        return teacher_reflection(row, wrong_response, self.config.reflection_hint, proposal, behaviour, rng)

    def reflection_behaviour(self, reflection: str) -> str:
        return reflection_behaviour(reflection)

    def validate_row(self, row: object) -> str | None:
        return validate_row(row)

    def read_row(self, row: object) -> Row:
        return read_row(row)


