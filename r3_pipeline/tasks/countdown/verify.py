"""Safe verifier for Countdown answers: model text is parsed and walked, never executed.

The reward signal of R3 comes from this function, so it must be exact (rational arithmetic, no floats), total
(never raises, whatever the string) and unexploitable (no eval, only a whitelist of AST nodes, every size bounded
before work is done on it).

An answer may be a bare expression or an equation "expression = value". The value is read, not ignored: a
response that states a false equation must not earn the reward, or RL would find that out. The value may be
left out ("(8 - 3) * 4 ="); when given it must be plain arithmetic under the same whitelist (a leading minus
allowed, as targets can be negative) equal to the target. An equals sign is a lone '=', not part of `==`,
`<=`, `>=`, `!=` or `:=` (those are operators, refused by the whitelist like any other).

Reason codes (`Verdict.reason`):
  correct                      the expression uses exactly the given numbers and equals the target
  no_answer                    no <answer>...</answer> pair, or the response is not a string
  too_long                     response or answer text over the length bounds (checked before any parsing)
  syntax                       the answer is not a Python-syntax arithmetic expression (unbalanced brackets too)
  disallowed:<NodeName>        a syntax node outside the whitelist, e.g. disallowed:Pow, disallowed:Call
  disallowed:Constant:<type>   a literal that is not a plain int, e.g. disallowed:Constant:float
  disallowed:literal_format    an int literal not written in plain decimal digits (0x10, 1_0, 00)
  disallowed:non_ascii         any non-ASCII character (look-alike digits, unicode minus, x signs)
  disallowed:comment           a '#' (Python would silently drop the rest of the line)
  too_deep                     brackets or expression tree nested deeper than MAX_DEPTH (brackets are counted
                               before parsing, so the parser never sees deep nesting)
  too_large                    a literal or intermediate value with numerator/denominator >= MAX_MAGNITUDE
  wrong_numbers                the literals are not exactly the given multiset of numbers
  division_by_zero             a division by a (sub)expression equal to zero
  wrong_value                  a valid expression that does not equal the target
  wrong_stated_value           an equation "expression = value" whose stated value is not the target, e.g.
                               "(9 - 4) * 6 = 31" for target 30: a false statement is never rewarded
  bad_stated_value             the value after '=' is not plain arithmetic under the same whitelist
                               ("= 30.0", "= x", "= 3 ** 3")
  multiple_equals              more than one '=' sign ("8 - 3 = 5 * 4 = 20"): which side is the answer?
  internal_error:<Exception>   a bug guard; not expected to ever occur
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.rows import Rejected

MAX_RESPONSE_CHARS = 20_000
MAX_ANSWER_CHARS = 200
MAX_DEPTH = 32
MAX_MAGNITUDE = 10**12

OPEN_TAG = "<answer>"
CLOSE_TAG = "</answer>"

_DECIMAL = re.compile(r"[0-9]+")
_EQUALS_SIGN = re.compile(r"(?<![=<>!:])=(?!=)")
_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class _Reject(Rejected):
    """Internal control flow: carries the reason code out of the tree walk."""


def extract_answer(response: str) -> str | None:
    """The stripped text of the LAST <answer>...</answer> pair, or None when there is no such pair.

    "Last pair" means the last closing tag and the nearest opening tag before it, so stray or nested
    opening tags earlier in the text do not leak into the answer.
    """
    if not isinstance(response, str):
        return None
    end = response.rfind(CLOSE_TAG)
    if end < 0:
        return None
    start = response.rfind(OPEN_TAG, 0, end)
    if start < 0:
        return None
    return response[start + len(OPEN_TAG) : end].strip()


def verify_countdown(numbers: list[int], target: int, response: str) -> Verdict:
    """Check that the last answer in `response` uses exactly `numbers` and evaluates exactly to `target`."""
    try:
        return _verify(numbers, target, response)
    except _Reject as reject:
        return Verdict(False, reject.reason)
    except Exception as exc:  # noqa: BLE001 - a verifier must be total; see module docstring
        return Verdict(False, f"internal_error:{type(exc).__name__}")


def expression_value(expression: str) -> int | Fraction | None:
    """Exact value of an arithmetic expression under the verifier's whitelist and bounds, or None when it has
    none (not an expression, division by zero, too large). Safe on model text, like the verifier."""
    try:
        text = _one_line(_split_equation(expression)[0])
        tree = _parse(text)
        _check(tree.body, 1, [], text)
        return _evaluate(tree.body)
    except _Reject:
        return None
    except Exception:  # noqa: BLE001 - total, as the verifier
        return None


def _verify(numbers: list[int], target: int, response: str) -> Verdict:
    if not isinstance(response, str):
        raise _Reject("no_answer")
    if len(response) > MAX_RESPONSE_CHARS:
        raise _Reject("too_long")
    answer = extract_answer(response)
    if answer is None:
        raise _Reject("no_answer")
    if len(answer) > MAX_ANSWER_CHARS:
        raise _Reject("too_long")
    expression, stated = _split_equation(answer)
    text = _one_line(expression)
    tree = _parse(text)
    literals: list[int] = []
    _check(tree.body, 1, literals, text)
    if Counter(literals) != Counter(numbers):
        raise _Reject("wrong_numbers")
    value = _evaluate(tree.body)
    if value != target:
        raise _Reject("wrong_value")
    if stated is not None and _stated_value(stated) != target:
        raise _Reject("wrong_stated_value")
    return Verdict(True, "correct")


def _split_equation(answer: str) -> tuple[str, str | None]:
    """(expression, stated value) of "expression = value"; the value is None when there is no equals sign or
    nothing after it. More than one equals sign is refused."""
    if "=" not in answer:  # the common case, kept cheap
        return answer, None
    signs = [match.start() for match in _EQUALS_SIGN.finditer(answer)]
    if not signs:
        return answer, None
    if len(signs) > 1:
        raise _Reject("multiple_equals")
    stated = answer[signs[0] + 1 :]
    return answer[: signs[0]], stated if stated.strip() else None


def _stated_value(stated: str) -> int | Fraction:
    """Exact value of the text after '=', through the same whitelist and bounds as the expression."""
    text = _one_line(stated)
    sign = -1 if text.startswith("-") else 1
    text = text[1:].lstrip() if sign < 0 else text
    try:
        tree = _parse(text)
        _check(tree.body, 1, [], text)
        return sign * _evaluate(tree.body)
    except _Reject:
        raise _Reject("bad_stated_value") from None


def _one_line(text: str) -> str:
    """Whitespace runs, newlines included, as single spaces: Python's eval-mode grammar rejects bare newlines."""
    return " ".join(text.split())


def _parse(text: str) -> ast.Expression:
    if not text.isascii():
        raise _Reject("disallowed:non_ascii")
    if "#" in text:
        raise _Reject("disallowed:comment")
    _check_brackets(text)
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        raise _Reject("syntax") from None


def _check_brackets(text: str) -> None:
    """Reject unbalanced or over-deep bracket nesting with a flat scan, before Python's recursive parser runs.

    Balance is judged first, so a truncated answer reads as a syntax error rather than as too deep.
    """
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise _Reject("syntax")
    if depth:
        raise _Reject("syntax")
    if deepest > MAX_DEPTH:
        raise _Reject("too_deep")


def _check(node: ast.AST, depth: int, literals: list[int], text: str) -> None:
    """Whitelist walk: bounds depth and literal size, collects int literals; raises _Reject on anything else."""
    if depth > MAX_DEPTH:
        raise _Reject("too_deep")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _OPS:
            raise _Reject(f"disallowed:{type(node.op).__name__}")
        _check(node.left, depth + 1, literals, text)
        _check(node.right, depth + 1, literals, text)
    elif isinstance(node, ast.Constant):
        literals.append(_literal(node, text))
    else:
        raise _Reject(f"disallowed:{type(node).__name__}")


def _literal(node: ast.Constant, text: str) -> int:
    value = node.value
    if type(value) is not int:  # excludes bool, which subclasses int
        raise _Reject(f"disallowed:Constant:{type(value).__name__}")
    # Only plain decimal digits count as "using the number": 0x14, 2_0 or 00 are not how anyone writes 20 or 0.
    written = text[node.col_offset : node.end_col_offset]
    if not _DECIMAL.fullmatch(written) or (len(written) > 1 and written[0] == "0"):
        raise _Reject("disallowed:literal_format")
    if value >= MAX_MAGNITUDE:
        raise _Reject("too_large")
    return value


def _evaluate(node: ast.AST) -> int | Fraction:
    """Exact value of a tree that already passed `_check` (so only BinOp and int Constant remain).

    Values stay plain ints until a division does not come out even (Fraction arithmetic is several times
    slower, and most answers never need it); the result is exact either way.
    """
    if isinstance(node, ast.Constant):
        return node.value
    left = _evaluate(node.left)
    right = _evaluate(node.right)
    if isinstance(node.op, ast.Div):
        if right == 0:
            raise _Reject("division_by_zero")
        value = Fraction(left) / right
        value = value.numerator if value.denominator == 1 else value
    else:
        value = _OPS[type(node.op)](left, right)
    if type(value) is int:
        if abs(value) >= MAX_MAGNITUDE:
            raise _Reject("too_large")
    elif abs(value.numerator) >= MAX_MAGNITUDE or value.denominator >= MAX_MAGNITUDE:
        raise _Reject("too_large")
    return value
