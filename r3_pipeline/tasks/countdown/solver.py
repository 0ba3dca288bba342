"""Trusted Countdown arithmetic: an exact brute-force solver used to prove generated problems solvable.

Intermediate values may be fractions (the verifier evaluates with exact rationals, so "(1 + 2) / 3 * 8" is a
valid route to 8). Values are kept below the verifier's magnitude bound, so every solution found here verifies.

Speed comes from memoising, per sorted sub-multiset of numbers, every reachable value with a recipe (the last
operation and its two operands); the final combination step looks the target's partner value up instead of
enumerating, and expression text is only built for the one solution returned. Values are ints where integral
(much faster than Fraction) and Fractions otherwise; equal ints and Fractions hash alike, so dict keys agree.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from itertools import combinations

from r3_pipeline.tasks.countdown.verify import MAX_MAGNITUDE

Value = int | Fraction
Key = tuple[int, ...]
# How a value was reached: (operator, left sub-multiset, left value, right sub-multiset, right value); None for a
# number on its own.
Recipe = tuple[str, Key, Value, Key, Value] | None
# An expression is (text, precedence): precedence of its top operator, so callers know when to parenthesise.
Expr = tuple[str, int]
_ADD, _MUL, _ATOM = 1, 2, 3
# Minimum precedence an operand needs to go unparenthesised on each side of an operator (exact for rationals).
_NEEDS = {"+": (_ADD, _ADD), "-": (_ADD, _MUL), "*": (_MUL, _MUL), "/": (_MUL, _ATOM)}


def solve(numbers: list[int], target: int) -> str | None:
    """An expression using each of `numbers` exactly once with + - * / that equals `target`, or None."""
    if not numbers or any(type(n) is not int or n < 0 for n in numbers):
        raise ValueError(f"numbers must be a non-empty list of non-negative ints, got {numbers!r}")
    key = tuple(sorted(numbers))
    if len(key) == 1:
        return str(key[0]) if key[0] == target else None
    for left, right in _splits(key):
        recipe = _meet(left, right, target)
        if recipe is not None:
            return _text(recipe)[0]
    return None


@lru_cache(maxsize=1024)
def _splits(key: Key) -> tuple[tuple[Key, Key], ...]:
    """Distinct unordered splits of a sorted multiset into two non-empty sorted parts."""
    out: dict[tuple[Key, Key], None] = {}
    rest = range(1, len(key))
    for size in range(len(key) - 1):
        for others in combinations(rest, size):
            chosen = {0, *others}
            left = tuple(key[i] for i in sorted(chosen))
            right = tuple(key[i] for i in range(len(key)) if i not in chosen)
            out[(left, right)] = None
    return tuple(out)


@lru_cache(maxsize=16384)
def _reachable(key: Key) -> dict[Value, Recipe]:
    """Every value reachable from the sorted multiset `key`, each with the first recipe found for it.

    The cached dicts are shared: callers must not mutate them.
    """
    if len(key) == 1:
        return {key[0]: None}
    out: dict[Value, Recipe] = {}
    for left, right in _splits(key):
        right_values = list(_reachable(right))
        for a in _reachable(left):
            for b in right_values:
                candidates = [(a + b, "+", True), (a - b, "-", True), (b - a, "-", False), (a * b, "*", True)]
                if b:
                    candidates.append((_div(a, b), "/", True))
                if a:
                    candidates.append((_div(b, a), "/", False))
                for value, op, a_first in candidates:
                    if value not in out and _small(value):
                        out[value] = (op, left, a, right, b) if a_first else (op, right, b, left, a)
    return out


def _meet(left: Key, right: Key, goal: int) -> Recipe:
    """A recipe `a op b` (a from one part, b from the other, either order) equal to goal, by lookup of b."""
    if len(_reachable(left)) > len(_reachable(right)):
        left, right = right, left  # scan the smaller part, look up in the larger
    right_values = _reachable(right)
    for a in _reachable(left):
        # (value b must have, operator, whether a is the left operand)
        wanted = [(goal - a, "+", True), (a - goal, "-", True), (a + goal, "-", False)]
        if a:
            wanted += [(_div(goal, a), "*", True), (goal * a, "/", False)]
            if goal:
                wanted.append((_div(a, goal), "/", True))
        for b, op, a_first in wanted:
            if b in right_values:
                return (op, left, a, right, b) if a_first else (op, right, b, left, a)
    return None


def _text(recipe: Recipe) -> Expr:
    op, left_key, a, right_key, b = recipe
    return _join(_operand(left_key, a), op, _operand(right_key, b))


def _operand(key: Key, value: Value) -> Expr:
    recipe = _reachable(key)[value]
    return (str(value), _ATOM) if recipe is None else _text(recipe)


def _join(left: Expr, op: str, right: Expr) -> Expr:
    need_left, need_right = _NEEDS[op]
    lt = left[0] if left[1] >= need_left else f"({left[0]})"
    rt = right[0] if right[1] >= need_right else f"({right[0]})"
    return f"{lt} {op} {rt}", (_ADD if op in "+-" else _MUL)


def _div(x: Value, y: Value) -> Value:
    """x / y exactly (y != 0), as an int when integral."""
    if type(x) is int and type(y) is int:
        q, r = divmod(x, y)
        return q if r == 0 else Fraction(x, y)
    value = Fraction(x) / y
    return value.numerator if value.denominator == 1 else value


def _small(value: Value) -> bool:
    if type(value) is int:
        return -MAX_MAGNITUDE < value < MAX_MAGNITUDE
    return abs(value.numerator) < MAX_MAGNITUDE and value.denominator < MAX_MAGNITUDE
