"""The Task protocol: what every verifiable task (Countdown, function calling, ...) provides to the pipeline.

A task row is a plain JSON-serialisable dict with at least a stable string `task_id`; everything else is the
task's own. Keeping rows as dicts means the same rows go to Parquet, JSONL, the trajectory store and the
verifier without conversion.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

Row = dict[str, Any]
Message = dict[str, str]


@dataclass(frozen=True)
class Verdict:
    """Outcome of verifying one response. `reason` is "correct" or a short machine-readable code."""

    correct: bool
    reason: str


@dataclass
class Splits:
    """Train and test rows, plus rows set aside as invalid (each with a `reject_reason`)."""

    train: list[Row]
    test: list[Row]
    rejected: list[Row]
    rows_read: int = 0  # input rows examined, when size caps kept fewer than were read; 0: train + test + rejected

    @property
    def total_read(self) -> int:
        return self.rows_read or len(self.train) + len(self.test) + len(self.rejected)


class TaskConfig(Protocol):
    """What the pipeline reads of every task's config dataclass."""

    max_reject_rate: float  # largest share of input rows set aside as invalid that the tasks asset accepts
    prompts_path: str | None  # the task's prompt file (None: its own in assets/prompts/)


class Task(Protocol):
    """What every task provides; the prompt texts come from its prompt file (assets/prompts/, `r3_pipeline.prompts`).
    For `r3 verify` a task also has `read_row(row)`, the row as `verify` takes it under the task's loader rules
    (raising `r3_pipeline.tasks.rows.RowRejected` with the reason), and `validate_row(row)`, that reason or None."""

    name: str
    config: TaskConfig
    reflection_behaviours: tuple[str, ...]  # the teacher's reflection behaviours, for the warm start's mixture

    def build_splits(self) -> Splits:
        """Generate or load the task rows and split them into disjoint train and test sets."""

    def prompt_messages(self, row: Row) -> list[Message]:
        """The chat messages that pose this row to the model (the first-attempt prompt)."""

    def chat_tools(self, row: Row) -> list[dict] | None:
        """Tools for a tool-aware chat template to render, or None (see `r3_pipeline.rollout.episodes.first_turn`)."""

    def native_prompt_messages(self, row: Row) -> list[Message]:
        """The first-attempt prompt when the chat template renders `chat_tools(row)` itself."""

    def verify(self, row: Row, response: str) -> Verdict:
        """Score a model response. Must never raise and never evaluate model text as code."""

    def reference_response(self, row: Row) -> str:
        """A response that verifies correct (used for warm start and verifier sanity checks)."""

    def corrupt_response(self, row: Row, rng: random.Random) -> str:
        """A plausible response that verifies wrong (verifier sanity checks, warm-start failures)."""

    def reflection_prompt(self) -> str:
        """The user turn asking the model to reflect on its failed attempt."""

    def retry_prompt(self) -> str:
        """The user turn asking for the second attempt after the reflection."""

    def bare_retry_prompt(self) -> str:
        """The user turn asking for a second attempt with no reflection (the control of evaluation.bare_retry)."""

    def practice_prompt(self, behaviour: str) -> str:
        """The reflection request that asks for `behaviour` by name (the warm start's practice conversations)."""

    def teacher_reflection(self, row: Row, wrong_response: str, proposal: str | None = None,
                           behaviour: str = "guess", rng: random.Random | None = None) -> str:
        """A reflection on a wrong response in one of `reflection_behaviours`, written from the reference answer.
        Used only to warm-start the embedded default on train rows (it plays the part of a real model's
        instruction tuning). `proposal`: a response a `guess` proposes instead of the reference one (the warm
        start's "follow" conversations, which teach the retry to carry out what the reflection proposed).
        `rng` draws whatever the behaviour tries on the way (e.g. a search's wrong candidates)."""

    def reflection_behaviour(self, reflection: str) -> str:
        """Which of `reflection_behaviours` a (model-written) reflection shows, by its form alone."""
