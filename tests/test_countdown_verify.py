"""The Countdown verifier is the reward signal: every reason code, every unsafe input, and totality."""

from __future__ import annotations

import random

import pytest

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.countdown.verify import (
    MAX_ANSWER_CHARS,
    MAX_RESPONSE_CHARS,
    extract_answer,
    verify_countdown,
)


def check(numbers, target, answer):
    return verify_countdown(numbers, target, f"<answer>{answer}</answer>")


@pytest.mark.parametrize(
    "numbers, target, answer",
    [
        ([8, 3, 4], 20, "(8 - 3) * 4"),
        ([8, 3, 4], 20, "4*(8-3)"),
        ([8, 3, 4], 20, "(8 - 3) * 4 = 20"),  # an equation: expression = target
        ([8, 3, 4], 20, "(8 - 3) * 4 =20"),
        ([8, 3, 4], 20, "(8 - 3) * 4 = 5 * 4"),  # the stated value may be worked out, exactly
        ([8, 3, 4], 20, "(8 - 3) * 4 ="),  # no stated value: nothing false is said
        ([8, 3], -5, "3 - 8 = -5"),  # negative targets are stated with a minus
        ([8, 3], -5, "3 - 8 = - 5"),
        ([8, 3, 4], 20, "  (8 - 3)\n * 4  "),  # newlines and padding are whitespace
        ([3, 3, 8, 8], 24, "8 / (3 - 8 / 3)"),  # fractional intermediates are exact
        ([1, 2, 3], 1, "(1 + 2) / 3"),
        ([5, 5], 0, "5 - 5"),
        ([7], 7, "((7))"),
        ([2, 2, 2], 8, "2 * 2 * 2"),
    ],
)
def test_correct_answers(numbers, target, answer):
    assert check(numbers, target, answer) == Verdict(True, "correct")


def test_correct_with_surrounding_reasoning():
    response = "Let me think. 8 - 3 = 5, 5 * 4 = 20.\n<answer>(8 - 3) * 4</answer>\nDone."
    assert verify_countdown([8, 3, 4], 20, response) == Verdict(True, "correct")


@pytest.mark.parametrize(
    "numbers, target, answer, reason",
    [
        ([8, 3, 4], 21, "(8 - 3) * 4", "wrong_value"),
        ([1, 2, 3], 2, "1 / 2 + 3 / 2 - 0 * 0 + 3 - 3 + 0", "wrong_numbers"),
        ([8, 3, 4], 20, "(8 - 3) * 5", "wrong_numbers"),
        ([8, 3, 4], 5, "8 - 3", "wrong_numbers"),  # a number left unused
        ([8, 3], 11, "8 + 3 + 3", "wrong_numbers"),  # a number used twice
        ([4, 2, 2], 1, "4 / (2 - 2)", "division_by_zero"),
        ([4, 0], 1, "4 / 0", "division_by_zero"),
        ([8, 3, 4], 20, "(8 - 3) *", "syntax"),
        ([8, 3, 4], 20, "", "syntax"),
        ([8, 3, 4], 20, "8 = 3 = 4", "multiple_equals"),
        ([8, 3, 4], 20, "8 - 3 = 5 * 4 = 20", "multiple_equals"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 31", "wrong_stated_value"),  # a false equation is not rewarded
        ([9, 4, 6], 30, "(9 - 4) * 6 = -30", "wrong_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 29 + 1 + 1", "wrong_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 30.0", "bad_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = thirty", "bad_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 3 ** 3", "bad_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = --30", "bad_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 30 / 0", "bad_stated_value"),
        ([9, 4, 6], 30, "(9 - 4) * 6 = 0x1e", "bad_stated_value"),
        ([9, 4, 6], 31, "(9 - 4) * 6 = 31", "wrong_value"),  # the expression is judged first
        ([8, 3, 4], 20, "(8 - 3) * 4 <= 20", "disallowed:Compare"),  # <= is an operator, not an equals sign
        ([8], 8, "(x := 8)", "disallowed:NamedExpr"),
        ([8, 3, 4], 20, "8;3", "syntax"),
        ([8, 3, 4], 20, "8\x00", "syntax"),
        ([2, 3], 8, "2 ** 3", "disallowed:Pow"),
        ([7, 2], 3, "7 // 2", "disallowed:FloorDiv"),
        ([7, 2], 1, "7 % 2", "disallowed:Mod"),
        ([3, 8], 5, "-3 + 8", "disallowed:UnaryOp"),
        ([3], 3, "abs(3)", "disallowed:Call"),
        ([3], 3, "__import__('os').system('echo pwned')", "disallowed:Call"),
        ([3], 3, "x", "disallowed:Name"),
        ([3], 3, "(3).real", "disallowed:Attribute"),
        ([3], 3, "lambda: 3", "disallowed:Lambda"),
        ([3], 3, "3 == 3", "disallowed:Compare"),
        ([3], 3, "[3]", "disallowed:List"),
        ([3], 3, "3 if 3 else 3", "disallowed:IfExp"),
        ([3], 3, "True", "disallowed:Constant:bool"),
        ([3], 3, "3.0", "disallowed:Constant:float"),
        ([3], 3, "3j", "disallowed:Constant:complex"),
        ([3], 3, "'3'", "disallowed:Constant:str"),
        ([3], 3, "f'{3}'", "disallowed:JoinedStr"),
        ([16], 16, "0x10", "disallowed:literal_format"),
        ([10], 10, "1_0", "disallowed:literal_format"),
        ([12], 12, "\uff11\uff12", "disallowed:non_ascii"),  # fullwidth digits
        ([12], 12, "\u0661\u0662", "disallowed:non_ascii"),  # Arabic-Indic digits
        ([8, 3], 5, "8 \u2212 3", "disallowed:non_ascii"),  # unicode minus sign
        ([8, 3], 24, "8 \u00d7 3", "disallowed:non_ascii"),  # multiplication sign
        ([3], 3, "\uff58", "disallowed:non_ascii"),  # fullwidth x, an identifier after NFKC
        ([8, 3], 11, "8 + 3 # + 4", "disallowed:comment"),
        ([10**12], 10**12, str(10**12), "too_large"),
        ([10**11 * 9] * 3, 1, "900000000000 * 900000000000 / 900000000000", "too_large"),
    ],
)
def test_reason_codes(numbers, target, answer, reason):
    assert check(numbers, target, answer) == Verdict(False, reason)


def test_no_answer():
    assert verify_countdown([8, 3, 4], 20, "(8 - 3) * 4") == Verdict(False, "no_answer")
    assert verify_countdown([8, 3, 4], 20, "<answer>(8 - 3) * 4") == Verdict(False, "no_answer")
    assert verify_countdown([8, 3, 4], 20, "(8 - 3) * 4</answer>") == Verdict(False, "no_answer")
    assert verify_countdown([8, 3, 4], 20, "") == Verdict(False, "no_answer")
    assert verify_countdown([8, 3, 4], 20, None) == Verdict(False, "no_answer")  # type: ignore[arg-type]


def test_too_long_response_and_answer():
    padding = "x" * MAX_RESPONSE_CHARS
    assert verify_countdown([8, 3, 4], 20, padding + "<answer>(8 - 3) * 4</answer>") == Verdict(False, "too_long")
    long_answer = "(8 - 3) * 4" + " " * MAX_ANSWER_CHARS + "+ 0"
    assert check([8, 3, 4, 0], 20, long_answer) == Verdict(False, "too_long")


def test_too_deep():
    answer = "1+(" * 40 + "1" + ")" * 40  # within the length bound, 41 levels of BinOp
    assert len(answer) <= MAX_ANSWER_CHARS
    assert check([1] * 41, 41, answer) == Verdict(False, "too_deep")
    flat = "+".join(["1"] * 40)  # left-nested just as deep
    assert check([1] * 40, 40, flat) == Verdict(False, "too_deep")


def test_moderate_depth_is_fine():
    answer = "+".join(["1"] * 20)
    assert check([1] * 20, 20, answer) == Verdict(True, "correct")


def test_last_answer_tag_wins():
    response = "<answer>8 + 3 + 4</answer> no wait <answer>(8 - 3) * 4</answer>"
    assert verify_countdown([8, 3, 4], 20, response) == Verdict(True, "correct")
    response = "<answer>(8 - 3) * 4</answer> no wait <answer>8 + 3 + 4</answer>"
    assert verify_countdown([8, 3, 4], 20, response) == Verdict(False, "wrong_value")


def test_extract_answer():
    assert extract_answer("a <answer> 1 + 2 </answer> b") == "1 + 2"
    assert extract_answer("<answer>1</answer><answer>2</answer>") == "2"
    assert extract_answer("<answer>junk <answer>2</answer>") == "2"  # nearest opening tag to the last close
    assert extract_answer("no tags") is None
    assert extract_answer("</answer><answer>") is None


def test_nested_parentheses_and_huge_string_are_refused():  # their speed: `r3 bench tasks`
    deep = "<answer>" + "(" * 10_000 + "3" + ")" * 10_000 + "</answer>"
    assert verify_countdown([3], 3, deep) == Verdict(False, "too_long")
    parens_in_bound = "(" * 150 + "3" + ")" * 150  # parser nesting limit, not the length bound, stops this
    assert check([3], 3, parens_in_bound[: MAX_ANSWER_CHARS]) == Verdict(False, "syntax")
    huge = "<answer>" + "9" * 10_000_000 + "</answer>"
    assert verify_countdown([3], 3, huge) == Verdict(False, "too_long")


def test_huge_literal_within_length_bound():
    digits = "9" * (MAX_ANSWER_CHARS - 5)
    assert check([3], 3, digits) == Verdict(False, "too_large")


def test_never_raises_on_random_text():
    rng = random.Random(0)
    alphabet = list("0123456789+-*/()<>=.,# \n\tabcxj_'\"[]{}:;\\") + ["<answer>", "</answer>", "**", "\u2212", "\x00"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for response in (text, f"<answer>{text}</answer>"):
            verdict = verify_countdown([1, 2, 3], 6, response)
            assert isinstance(verdict, Verdict)
            assert not verdict.reason.startswith("internal_error"), (response, verdict)
