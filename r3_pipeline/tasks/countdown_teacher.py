"""Teacher reflections for Countdown, used only to warm-start the embedded default on train rows.

A real instruction-tuned model can already write a reflection; the tiny embedded model cannot, so the warm
start shows it what a useful one looks like: what was wrong, and a working equation to try (or, with
`reflection_hint: first_step`, only its first operation). R3 then rewards the reflections the model writes itself.

The retry only learns to carry out a proposed equation with the warm start's follow conversations
(`WarmStartConfig.follow_fraction`); measured on 1,000 held-out tasks, the retry after a teacher reflection
was right 4.7% of the time with `first_step` hints and 100% with `equation` hints plus follow conversations.
The reference solution is our own trusted text, so parsing it with `ast` here is safe; model text never comes
through this module.
"""

from __future__ import annotations

import ast

from r3_pipeline.tasks.base import Row
from r3_pipeline.tasks.countdown_math import solve
from r3_pipeline.tasks.countdown_verify import extract_answer, verify_countdown

_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_WHY = {
    "wrong_value": "does not equal {target}",
    "wrong_numbers": "does not use each of {numbers} exactly once",
    "division_by_zero": "divides by zero",
}


def first_step(solution: str) -> str:
    """The innermost operation of a trusted reference solution, e.g. "8 - 3" for "(8 - 3) * 4"."""
    tree = ast.parse(solution, mode="eval").body
    node = tree
    while isinstance(node, ast.BinOp):
        if isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant):
            return f"{node.left.value} {_SYMBOL[type(node.op)]} {node.right.value}"
        node = node.left if isinstance(node.left, ast.BinOp) else node.right
    return solution


HINTS = ("equation", "first_step")


def teacher_reflection(row: Row, wrong_response: str, hint: str = "equation", proposal: str | None = None) -> str:
    """What was wrong with `wrong_response`, then the equation to try: the reference solution, or the equation
    of `proposal` (a response built by the task itself, never model output)."""
    numbers = ", ".join(map(str, row["numbers"]))
    verdict = verify_countdown(row["numbers"], row["target"], wrong_response)
    answer = extract_answer(wrong_response) or "my answer"
    why = _WHY.get(verdict.reason, "is not a valid equation").format(target=row["target"], numbers=numbers)
    solution = extract_answer(proposal) if proposal else row.get("solution") or solve(row["numbers"], row["target"])
    if hint == "first_step":
        return f"{answer} {why}. Start with {first_step(solution)}."
    return f"{answer} {why}. Try {solution}."
