"""The R3 conversation, built in one place: the first turn (with the tools a tool-aware chat template renders),
the reflection request after a failed attempt, the retry request after the reflection (or, for the control, a
bare retry request), and the tokens of each. Episodes (mining, evaluation), the R3 trainer's rollouts and the warm
start's conversations all build their turns here, so evaluation shows the model exactly what training showed it.
`reflect_and_retry` is the second half every R3 episode shares: reflect on a failure, retry with the reflection
in context, verify the retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.tasks.base import Message, Row, Task, Verdict

if TYPE_CHECKING:  # the engines import torch; conversations only call them
    from r3_pipeline.rollout.engines import Engine, Generation


def supports_tools(tokenizer) -> bool:
    return "tools" in str(getattr(tokenizer, "chat_template", "") or "")


def first_turn(task: Task, row: Row, tokenizer) -> tuple[list[Message], list[dict] | None]:
    """The first-attempt messages, and the tools to hand the chat template when both the task offers native
    tools and the model's template renders them (then the prompt text leaves the tools out)."""
    tools = task.chat_tools(row)
    if tools and supports_tools(tokenizer):
        return task.native_prompt_messages(row), tools
    return task.prompt_messages(row), None


def render(tokenizer, messages: list[Message], tools: list[dict] | None = None) -> list[int]:
    """Token ids of a conversation, ending with the assistant generation prompt."""
    extra = {"tools": tools} if tools else {}
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def reflection_conversation(task: Task, first: list[Message], first_attempt: str,
                            request: str | None = None) -> list[Message]:
    """The failed attempt and the reflection request (`request`: another one, e.g. a practice prompt)."""
    ask = task.reflection_prompt() if request is None else request
    return [*first, {"role": "assistant", "content": first_attempt}, {"role": "user", "content": ask}]


def retry_conversation(task: Task, conversation: list[Message], reflection: str) -> list[Message]:
    return [*conversation, {"role": "assistant", "content": reflection}, {"role": "user", "content": task.retry_prompt()}]


def bare_retry_conversation(task: Task, first: list[Message], first_attempt: str) -> list[Message]:
    return [*first, {"role": "assistant", "content": first_attempt}, {"role": "user", "content": task.bare_retry_prompt()}]


@dataclass
class ReflectRetry:
    """The second half of a batch of episodes: each prompt's tokens, the generations and the retry's verdict."""

    reflection_prompts: list[list[int]]
    reflections: list[Generation]
    retry_prompts: list[list[int]]
    retries: list[Generation]
    verdicts: list[Verdict]


def reflect_and_retry(task: Task, engine: Engine, rows: list[Row], conversations: list[list[Message]],
                      tools: list[list[dict] | None], reflection: Sampling, retry: Sampling) -> ReflectRetry:
    """Reflect on each conversation (which ends with the reflection request), retry with the reflection in
    context, and verify each retry against its row."""
    tok = engine.tokenizer
    reflection_ids = [render(tok, c, t) for c, t in zip(conversations, tools)]
    reflections = engine.generate(reflection_ids, reflection)
    retry_ids = [render(tok, retry_conversation(task, c, g.text), t)
                 for c, g, t in zip(conversations, reflections, tools)]
    retries = engine.generate(retry_ids, retry)
    return ReflectRetry(reflection_ids, reflections, retry_ids, retries,
                        [task.verify(row, g.text) for row, g in zip(rows, retries)])
