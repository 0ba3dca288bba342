"""The R3 episode, batched: attempt -> verify -> reflection request -> reflection -> retry -> verify.

Every stage (mining, evaluation, training rollouts, the warm start's conversations) builds its turns with
`r3_pipeline.rollout.conversation`, so what the model sees at evaluation is exactly what it was trained on, and
every stage stores its episodes through `Episode.to_record`. Turns are generated for the whole batch at once:
all first attempts, then reflections for the failures, then retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from r3_pipeline.prompts import DEFAULT_BARE_RETRY
from r3_pipeline.rollout.conversation import (
    bare_retry_conversation,
    first_turn,
    reflect_and_retry,
    reflection_conversation,
    render,
)
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.store import episode_id
from r3_pipeline.tasks.base import Row, Task, Verdict

if TYPE_CHECKING:  # the engines import torch; episodes only call them
    from r3_pipeline.rollout.engines import Engine, Generation


REFLECTION, BARE = "reflection", "bare"
BARE_RETRY_PROMPT = DEFAULT_BARE_RETRY  # what the shipped prompt files ask (their `bare_retry`)


@dataclass
class EpisodeConfig:
    samples_per_task: int = field(default=1, metadata={"help": "Episodes per task row (k in failure mining)."})
    attempt: Sampling = field(default_factory=lambda: Sampling(temperature=0.0), metadata={"help": "First attempt decoding."})
    reflection: Sampling = field(default_factory=lambda: Sampling(temperature=0.0), metadata={"help": "Reflection decoding."})
    retry: Sampling = field(default_factory=lambda: Sampling(temperature=0.0), metadata={"help": "Retry decoding."})
    reflect: bool = field(default=True, metadata={"help": "Run reflection and retry after a failed first attempt."})
    retry_mode: str = field(default=REFLECTION, metadata={"help": (
        f"'{REFLECTION}': reflect, then retry (R3); '{BARE}': retry after a bare \"try again\" with no reflection, "
        "the control that shows whether gains come from the reflection.")})

    def __post_init__(self) -> None:
        if self.retry_mode not in (REFLECTION, BARE):
            raise ValueError(f"retry_mode must be '{REFLECTION}' or '{BARE}', got {self.retry_mode!r}")


@dataclass
class ReflectionSamples:
    """Several reflections on one given failed attempt, each followed by a retry: a prompt's reflection pass rate,
    the share of its GRPO group that would be rewarded (mining's pass-rate filter)."""

    samples: int = field(default=8, metadata={"help": "Reflections per failed attempt."})
    reflection: Sampling = field(default_factory=lambda: Sampling(temperature=1.0), metadata={"help": "Reflection decoding."})
    retry: Sampling = field(default_factory=lambda: Sampling(temperature=0.0), metadata={"help": "Retry decoding."})


@dataclass
class Episode:
    row: Row
    sample_idx: int
    prompt: str
    prompt_tokens: int
    first: Generation
    first_verdict: Verdict
    reflection: Generation | None = None
    retry: Generation | None = None
    retry_verdict: Verdict | None = None
    retry_mode: str = REFLECTION
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished_at: datetime | None = None

    @property
    def truncated_tokens(self) -> int:
        """Prompt tokens the engine dropped to fit its limits, over all turns (each `Generation.truncated`)."""
        return sum(g.truncated for g in (self.first, self.reflection, self.retry) if g)

    @property
    def second_correct(self) -> bool:
        """Success at attempt 1, or at attempt 2 after reflecting (the paper's second-attempt accuracy)."""
        return self.first_verdict.correct or bool(self.retry_verdict and self.retry_verdict.correct)

    def to_record(self, *, spec: str, stage: str, run_id: str, model_id: str, task: str, step: int | None = None,
                  reward: float | None = None, behaviour_of: Callable[[str], str] | None = None,
                  id_scope: str | None = None) -> dict:
        """The store row; `behaviour_of` (a task's `reflection_behaviour`) fills `reflection_behaviour`. The episode
        id is scoped by `model_id`, or by `id_scope` when given (training: its output dir)."""
        task_id = self.row["task_id"]
        # Reflection episodes keep their original ids; a bare-retry run's episodes of the same task are others.
        mode = () if self.retry_mode == REFLECTION else (self.retry_mode,)
        return {
            "episode_id": episode_id(spec, stage, model_id if id_scope is None else id_scope, task_id, self.sample_idx,
                                     -1 if step is None else step, *mode),
            "spec": spec, "stage": stage, "run_id": run_id, "model_id": model_id, "task": task,
            "task_id": task_id, "sample_idx": self.sample_idx, "step": step,
            "prompt": self.prompt, "first_attempt": self.first.text,
            "first_correct": self.first_verdict.correct, "first_reason": self.first_verdict.reason,
            "reflection": self.reflection.text if self.reflection else None,
            "retry": self.retry.text if self.retry else None,
            "retry_correct": self.retry_verdict.correct if self.retry_verdict else None,
            "retry_reason": self.retry_verdict.reason if self.retry_verdict else None,
            "reward": reward,
            "prompt_tokens": self.prompt_tokens, "first_tokens": len(self.first.ids),
            "reflection_tokens": len(self.reflection.ids) if self.reflection else None,
            "retry_tokens": len(self.retry.ids) if self.retry else None,
            "truncated_tokens": self.truncated_tokens, "retry_mode": self.retry_mode,
            "reflection_behaviour": behaviour_of(self.reflection.text) if self.reflection and behaviour_of else None,
            "started_at": self.started_at, "finished_at": self.finished_at or datetime.now(timezone.utc),
        }


def run_episodes(task: Task, rows: list[Row], engine: Engine, cfg: EpisodeConfig) -> list[Episode]:
    tok = engine.tokenizer
    jobs = [(row, k) for row in rows for k in range(cfg.samples_per_task)]
    turns = [first_turn(task, row, tok) for row, _ in jobs]
    prompt_ids = [render(tok, msgs, tools) for msgs, tools in turns]
    firsts = engine.generate(prompt_ids, cfg.attempt)
    episodes = [
        Episode(row=row, sample_idx=k, prompt=tok.decode(ids), prompt_tokens=len(ids), first=gen,
                first_verdict=task.verify(row, gen.text), retry_mode=cfg.retry_mode)
        for (row, k), ids, gen in zip(jobs, prompt_ids, firsts)
    ]
    failed = [(e, t) for e, t in zip(episodes, turns) if not e.first_verdict.correct] if cfg.reflect else []
    if failed and cfg.retry_mode == BARE:
        retry_convs = [bare_retry_conversation(task, msgs, e.first.text) for e, (msgs, _) in failed]
        retries = engine.generate([render(tok, c, t) for c, (_, (_, t)) in zip(retry_convs, failed)], cfg.retry)
        for (e, _), retry in zip(failed, retries):
            e.retry, e.retry_verdict = retry, task.verify(e.row, retry.text)
    elif failed:
        second = reflect_and_retry(task, engine, [e.row for e, _ in failed],
                                   [reflection_conversation(task, msgs, e.first.text) for e, (msgs, _) in failed],
                                   [t for _, (_, t) in failed], cfg.reflection, cfg.retry)
        for (e, _), refl, retry, verdict in zip(failed, second.reflections, second.retries, second.verdicts):
            e.reflection, e.retry, e.retry_verdict = refl, retry, verdict
    now = datetime.now(timezone.utc)
    for e in episodes:
        e.finished_at = now
    return episodes


def reflect_on_failures(task: Task, failures: list[tuple[Row, str]], engine: Engine,
                        cfg: ReflectionSamples) -> list[Episode]:
    """`cfg.samples` episodes per (row, failed attempt): the given attempt, a sampled reflection, the retry. The
    first attempt is not generated here, so its verdict is the verifier's on the given text."""
    from r3_pipeline.rollout.engines import Generation

    tok = engine.tokenizer
    turns = [first_turn(task, row, tok) for row, _ in failures]
    prompts = [render(tok, msgs, tools) for msgs, tools in turns]
    # Sample k of failure i sits at i * samples + k: every failure's turns are built once, repeated per sample.
    each = [i for i in range(len(failures)) for _ in range(cfg.samples)]
    second = reflect_and_retry(task, engine, [failures[i][0] for i in each],
                               [reflection_conversation(task, turns[i][0], failures[i][1]) for i in each],
                               [turns[i][1] for i in each], cfg.reflection, cfg.retry)
    now = datetime.now(timezone.utc)
    out = []
    for j, i in enumerate(each):
        (row, attempt), ids = failures[i], prompts[i]
        out.append(Episode(row=row, sample_idx=j % cfg.samples, prompt=tok.decode(ids), prompt_tokens=len(ids),
                           first=Generation([], attempt, True), first_verdict=task.verify(row, attempt),
                           reflection=second.reflections[j], retry=second.retries[j],
                           retry_verdict=second.verdicts[j], finished_at=now))
    return out
