"""Teacher reflections for Countdown, used only to warm-start the embedded default on train rows.

A real instruction-tuned model can already write a reflection; the tiny embedded model cannot, so the warm
start shows it what a useful one looks like: what was wrong, and a working equation to try (or, with
`reflection_hint: first_step`, only its first operation). R3 then rewards the reflections the model writes itself.
The same failure can be reflected on in several behaviours (`BEHAVIOURS`), which the warm start mixes.

The retry only learns to carry out a proposed equation with the warm start's follow conversations
(`WarmStartConfig.follow_fraction`); measured on 1,000 held-out tasks, the retry after a teacher reflection
was right 4.7% of the time with `first_step` hints and 100% with `equation` hints plus follow conversations.
The reference solution is our own trusted text, so parsing it with `ast` here is safe; model text never comes
through this module except through `reflection_behaviour`, which only looks at its form.
"""

from __future__ import annotations

import ast
import operator
import random
from fractions import Fraction

from r3_pipeline.tasks.base import Row
from r3_pipeline.tasks.countdown.solver import solve
from r3_pipeline.tasks.countdown.verify import extract_answer, verify_countdown

_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_APPLY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}
_WHY = {
    "wrong_value": "does not equal {target}",
    "wrong_numbers": "does not use each of {numbers} exactly once",
    "division_by_zero": "divides by zero",
    "wrong_stated_value": "does not equal the value it states, and that value must be {target}",
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
# Reflection behaviours the warm start can teach, from most to least useful to the retry when carried out
# correctly (docs/r3_results.md, section 7, measures them): `search` tries candidates over the shown numbers,
# each worked out one operation at a time, until one reaches the target; `guess` says what was wrong and
# proposes an equation unchecked; `restate` says what was wrong and proposes nothing.
BEHAVIOURS = ("search", "guess", "restate")
MAX_SEARCH_MISSES = 2  # wrong candidates a search reflection tries before the one that works


def teacher_reflection(row: Row, wrong_response: str, hint: str = "equation", proposal: str | None = None,
                       behaviour: str = "guess", rng: random.Random | None = None) -> str:
    """A reflection on `wrong_response` in one of `BEHAVIOURS`. `guess` proposes the reference solution, or the
    equation of `proposal` (a response built by the task itself, never model output); `search` reaches the
    reference solution after up to MAX_SEARCH_MISSES checked candidates drawn with `rng`."""
    numbers = ", ".join(map(str, row["numbers"]))
    verdict = verify_countdown(row["numbers"], row["target"], wrong_response)
    answer = extract_answer(wrong_response) or "my answer"
    why = _WHY.get(verdict.reason, "is not a valid equation").format(target=row["target"], numbers=numbers)
    solution = extract_answer(proposal) if proposal else row.get("solution") or solve(row["numbers"], row["target"])
    if behaviour == "search":
        return _search(row, answer, solution, rng or random.Random(0))
    if behaviour == "restate":
        return f"{answer} {why}. I will solve it again."
    if behaviour != "guess":
        raise ValueError(f"unknown Countdown reflection behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
    if hint == "first_step":
        return f"{answer} {why}. Start with {first_step(solution)}."
    return f"{answer} {why}. Try {solution}."


def _search(row: Row, answer: str, solution: str, rng: random.Random) -> str:
    """"Need 20. 8 + 3 + 4 = 11 + 4 = 15 no. 8 + 3 * 4 = 8 + 12 = 20 yes. Try 8 + 3 * 4.": candidates over the
    shown numbers (never the failed equation), each worked out one operation at a time, stopping at the first
    that reaches the target; the last is the reference solution unless a candidate got there first."""
    target = row["target"]
    steps = [f"Need {target}."]
    tried = {" ".join(answer.split()), solution}
    for _ in range(rng.randint(0, MAX_SEARCH_MISSES)):
        candidate = " ".join(_interleave(row["numbers"], [rng.choice("+-*") for _ in row["numbers"][1:]]))
        if candidate in tried:
            continue
        tried.add(candidate)
        work, value = worked(candidate)
        if value == target:  # another way to the target: the search ends there
            return " ".join([*steps, f"{work} yes. Try {candidate}."])
        steps.append(f"{work} no.")
    return " ".join([*steps, f"{worked(solution)[0]} yes. Try {solution}."])


def worked(expression: str) -> tuple[str, int | Fraction]:
    """"8 + 3 * 4 - 2" -> ("8 + 3 * 4 - 2 = 8 + 12 - 2 = 20 - 2 = 18", 18): the expression rewritten one
    operation at a time, in the order it is evaluated. Only for trusted expressions (reference solutions and
    candidates built here), never model text."""
    tree = ast.parse(expression, mode="eval").body
    lines = [expression]
    while not isinstance(tree, ast.Constant):
        tree = _reduce_once(tree)
        lines.append(_text(tree, 0))
    return " = ".join(lines), tree.value


def _reduce_once(node: ast.AST) -> ast.AST:
    """Replace the first operation (in evaluation order) whose operands are both numbers by its value."""
    if isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant):
        left, right = node.left.value, node.right.value
        value = Fraction(left) / right if isinstance(node.op, ast.Div) else _APPLY[type(node.op)](left, right)
        if isinstance(value, Fraction) and value.denominator == 1:
            value = value.numerator
        return ast.Constant(value)
    if not isinstance(node.left, ast.Constant):
        return ast.BinOp(_reduce_once(node.left), node.op, node.right)
    return ast.BinOp(node.left, node.op, _reduce_once(node.right))


def _text(node: ast.AST, outer: int, right_side: bool = False) -> str:
    """Expression text with only the parentheses precedence needs (values may be negative or fractions)."""
    if isinstance(node, ast.Constant):
        text = str(node.value)
        return f"({text})" if (node.value < 0 or isinstance(node.value, Fraction)) and right_side else text
    mine = _PRECEDENCE[type(node.op)]
    text = f"{_text(node.left, mine)} {_SYMBOL[type(node.op)]} {_text(node.right, mine, True)}"
    return f"({text})" if mine < outer or (right_side and mine == outer) else text


def _interleave(numbers: list[int], ops: list[str]) -> list[str]:
    parts = [str(numbers[0])]
    for op, n in zip(ops, numbers[1:]):
        parts += [op, str(n)]
    return parts


def reflection_behaviour(text: str) -> str:
    """Which of `BEHAVIOURS` a reflection shows, by its form: checked values (search), a proposal (guess),
    neither (restate). Works on model text; never evaluates it."""
    if text.startswith("Need "):
        return "search"
    return "guess" if "Try " in text else "restate"
