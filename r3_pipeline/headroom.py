"""R3's gates, measured on held-out tasks before training compute is spent.

R3 can only amplify what the model's own reflections already contain, so three numbers decide whether a run is
worth its cost (docs/r3_results.md shows the runs that ignored them):

- **worth training**: first attempt, retry after a bare "try again", retry after the model's own greedy
  reflection. The reflection must help the retry more than the bare retry does.
- **the retry follows a good reflection**: retry success after a teacher reflection (one that proposes a correct
  answer). Low here means no reflection can be rewarded.
- **headroom**: on the greedy failures, retry success after k reflections sampled at the training temperature:
  their mean, pass@k (some sample helps), and the share of failures with a mixed outcome (0 < successes < k),
  the GRPO groups that carry a signal. If the greedy reflection became as good as the best of k, the second
  attempt would be `ceiling_second`.

Every retry is greedy, as in evaluation; the reflections are what varies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from r3_pipeline.rollout.conversation import (
    bare_retry_conversation,
    first_turn,
    reflect_and_retry,
    reflection_conversation,
    render,
    retry_conversation,
)
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.tasks.base import Row, Task

if TYPE_CHECKING:
    from r3_pipeline.rollout.engines import Engine


@dataclass(frozen=True)
class HeadroomConfig:
    samples: int = 8  # reflections sampled per failure
    temperature: float = 1.0  # of the sampled reflections (the training temperature to try)
    max_answer_tokens: int = 32  # first attempt and retry
    max_reflection_tokens: int = 48
    seed: int = 1


def measure_headroom(task: Task, rows: list[Row], engine: Engine, cfg: HeadroomConfig = HeadroomConfig()) -> dict:
    """The gates on `rows` (held-out), as a flat dict of shares (0..1) and counts."""
    tok = engine.tokenizer
    answer = Sampling(0.0, 1.0, cfg.max_answer_tokens)
    turns = [first_turn(task, r, tok) for r in rows]
    firsts = engine.generate([render(tok, m, t) for m, t in turns], answer)
    failed = [i for i, g in enumerate(firsts) if not task.verify(rows[i], g.text).correct]
    f_rows, f_tools = [rows[i] for i in failed], [turns[i][1] for i in failed]
    convs = [reflection_conversation(task, turns[i][0], firsts[i].text) for i in failed]

    bare = engine.generate([render(tok, bare_retry_conversation(task, turns[i][0], firsts[i].text), turns[i][1])
                            for i in failed], answer)
    bare_ok = [task.verify(r, g.text).correct for r, g in zip(f_rows, bare)]

    def retry_ok(reflection: Sampling, reps: int = 1) -> list[bool]:
        return [v.correct for v in reflect_and_retry(task, engine, f_rows * reps, convs * reps, f_tools * reps,
                                                     reflection, answer).verdicts]

    greedy_ok = retry_ok(Sampling(0.0, 1.0, cfg.max_reflection_tokens))
    teacher = [task.teacher_reflection(r, firsts[i].text) for r, i in zip(f_rows, failed)]
    teacher_retries = engine.generate([render(tok, retry_conversation(task, c, t), tools)
                                       for c, t, tools in zip(convs, teacher, f_tools)], answer)
    teacher_ok = [task.verify(r, g.text).correct for r, g in zip(f_rows, teacher_retries)]
    sampled_ok = retry_ok(Sampling(cfg.temperature, 1.0, cfg.max_reflection_tokens, cfg.seed), cfg.samples)
    n, k = len(failed), cfg.samples
    per_failure = [[sampled_ok[j * n + i] for j in range(k)] for i in range(n)]

    def share(xs) -> float:
        xs = list(xs)
        return sum(xs) / len(xs) if xs else 0.0

    first = 1 - n / len(rows)
    pass_k = share(any(p) for p in per_failure)
    return {
        "tasks": len(rows), "failures": n, "samples": k, "temperature": cfg.temperature,
        "first": first,
        "second_bare": first + sum(bare_ok) / len(rows),
        "second_reflection": first + sum(greedy_ok) / len(rows),
        "retry_bare": share(bare_ok), "retry_greedy": share(greedy_ok), "retry_teacher": share(teacher_ok),
        "retry_sampled_mean": share(sampled_ok), "pass_at_k": pass_k,
        "mixed_groups": share(0 < sum(p) < k for p in per_failure),
        "ceiling_second": first + pass_k * n / len(rows),
    }


LABELS = {
    "first": "first attempt", "second_bare": "second attempt, bare retry",
    "second_reflection": "second attempt, own greedy reflection",
    "retry_bare": "retry success on failures: bare retry", "retry_greedy": "  after greedy reflection",
    "retry_teacher": "  after teacher reflection", "retry_sampled_mean": "  after a sampled reflection (mean)",
    "pass_at_k": "  pass@k of sampled reflections", "mixed_groups": "failures with 0 < successes < k (GRPO signal)",
    "ceiling_second": "second attempt if greedy = best of k",
}


def headroom_table(result: dict) -> str:
    head = (f"{result['tasks']} held-out tasks, {result['failures']} greedy failures, k={result['samples']} "
            f"reflections at T={result['temperature']}")
    lines = [head, *(f"  {LABELS[key]:<48} {100 * result[key]:5.1f}%" for key in LABELS)]
    return "\n".join(lines)
