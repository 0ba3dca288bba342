"""The hostile-output corpus: named adversarial cases per verifier, each with the verdict a sound verifier gives.

Built in code, since 10 MB strings and 100,000-deep nesting do not belong in the repository. Verifiers covered:
"countdown" and "function_calling" (through the real `Task.verify`) and "jsonl_line" (one raw line of a response
file given to `r3 verify`). tests/test_hostile_output.py asserts every verdict; `benchmarks.hostile`
times them. Strings here that spell `eval`/`exec` are inputs the verifiers must refuse, never code we run.
This module holds the Countdown and JSONL-line cases and assembles the corpus; the function-calling cases are in
hostile_corpus_calls, the `Case` shape and shared fixtures in hostile_case.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from benchmarks.hostile_case import (  # noqa: F401 - re-exported: the corpus's public names
    CORRECT_ANSWER, COUNTDOWN, DEEP, DEFAULT_SENTINEL, FUNCTION_CALLING, JSONL_LINE, OPTIONAL_TOOLS, RATE, TEN_MB,
    TOOLS, WEATHER, WIDE, Case,
)
from benchmarks.hostile_corpus_calls import (
    BFCL_WEATHER, function_calling_cases, function_calling_injection_cases, tool_block,
)

# -- corpus -----------------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def corpus(sentinel: str = DEFAULT_SENTINEL) -> dict[str, tuple[Case, ...]]:
    """All cases, per verifier. Cached: several cases are megabytes long. Do not mutate the result."""
    return {
        COUNTDOWN: tuple(countdown_cases(sentinel)),
        FUNCTION_CALLING: tuple(function_calling_cases(sentinel)),
        JSONL_LINE: tuple(jsonl_cases()),
    }


def all_cases(sentinel: str = DEFAULT_SENTINEL) -> list[Case]:
    return [case for cases in corpus(sentinel).values() for case in cases]


def injection_cases(sentinel: str) -> list[Case]:
    """Only the code-injection cases (small), aimed at `sentinel`: for checks that nothing is executed."""
    return _cd_injection(sentinel) + function_calling_injection_cases(sentinel)


def _cd(category: str, name: str, answer: Any, reason: str | None = None, *, numbers=(8, 3, 4), target=20,
        correct: bool = False, wrap: bool = True) -> Case:
    response = f"<answer>{answer}</answer>" if wrap else answer
    row = {"task_id": f"countdown-hostile-{name}", "numbers": list(numbers), "target": target}
    return Case(COUNTDOWN, category, name, response, row, correct, "correct" if correct else reason, COUNTDOWN)


def countdown_cases(sentinel: str = DEFAULT_SENTINEL) -> list[Case]:
    """Countdown answers: injection, operators off the whitelist, odd literals, size, nesting, Unicode, tags,
    equations."""
    return (_cd_baseline() + _cd_injection(sentinel) + _cd_operators() + _cd_literals() + _cd_huge()
            + _cd_division() + _cd_nesting() + _cd_unicode() + _cd_tags() + _cd_equations() + _cd_size()
            + _cd_types())


def _cd_baseline() -> list[Case]:
    ok = CORRECT_ANSWER
    padded = " " * (20_000 - len(f"<answer>{ok}</answer>")) + f"<answer>{ok}</answer>"
    return [
        _cd("baseline", "plain", ok, correct=True),
        _cd("baseline", "equation", f"{ok} = 20", correct=True),
        _cd("baseline", "reasoning_around", f"8 - 3 = 5, 5 * 4 = 20 <answer>{ok}</answer> done", correct=True,
            wrap=False),
        _cd("baseline", "unicode_spaces", "(8\u00a0-\u00a03)\u3000*\u20284", correct=True),
        _cd("baseline", "vertical_tab_space", "(8 - 3)\x0b*\x0c4", correct=True),
        _cd("baseline", "rtl_marks_outside", f"\u202e\u200f<answer>{ok}</answer>\u202c", correct=True, wrap=False),
        _cd("baseline", "surrogates_outside", f"\ud800 <answer>{ok}</answer> \udfff", correct=True, wrap=False),
        _cd("baseline", "null_bytes_outside", f"\x00<answer>{ok}</answer>\x00", correct=True, wrap=False),
        _cd("baseline", "last_tag_wins", f"<answer>8 + 3 + 4</answer><answer>{ok}</answer>", correct=True,
            wrap=False),
        _cd("baseline", "at_length_bound", padded, correct=True, wrap=False),
        _cd("baseline", "wrong_value", "8 + 3 + 4", "wrong_value"),
        _cd("baseline", "wrong_numbers", "(8 - 3) * 5", "wrong_numbers"),
    ]


def _cd_injection(sentinel: str) -> list[Case]:
    s = repr(sentinel)
    touch = f"__import__('os').system('touch {sentinel}')"
    return [
        _cd("injection", "import_os_system", touch, "disallowed:Call"),
        _cd("injection", "open_write", f"open({s}, 'w').write('x')", "disallowed:Call"),
        _cd("injection", "exec_string", f'exec("open({s}, \'w\')")', "disallowed:Call"),
        _cd("injection", "eval_in_expression", "eval('8 - 3') * 4", "disallowed:Call"),
        _cd("injection", "pathlib_touch", f"__import__('pathlib').Path({s}).touch()", "disallowed:Call"),
        _cd("injection", "subclasses_walk", "().__class__.__base__.__subclasses__()", "disallowed:Call"),
        _cd("injection", "lambda_called", "(lambda: 20)()", "disallowed:Call"),
        _cd("injection", "lambda", "lambda: 20", "disallowed:Lambda"),
        _cd("injection", "attribute", "(8).__class__", "disallowed:Attribute"),
        _cd("injection", "subscript", "[8, 3, 4][0]", "disallowed:Subscript"),
        _cd("injection", "builtins_name", "__builtins__", "disallowed:Name"),
        _cd("injection", "list_comprehension", "[x for x in (8, 3, 4)]", "disallowed:ListComp"),
        _cd("injection", "generator_sum", "sum(x for x in (8, 3, 4))", "disallowed:Call"),
        _cd("injection", "walrus", "((x := 8) - 3) * 4", "disallowed:NamedExpr"),  # ':=' is no equals sign
        _cd("injection", "walrus_two_equals", "(x := 8) - (y := 3)", "disallowed:NamedExpr", numbers=(8, 3)),
        _cd("injection", "fstring", "f'{__import__(\"os\").system(\"touch " + sentinel + "\")}'",
            "disallowed:JoinedStr"),
        _cd("injection", "conditional", f"8 if {touch} else 3", "disallowed:IfExp"),
        _cd("injection", "starred", "*[8, 3, 4]", "syntax"),
        _cd("injection", "statements", f"8; import os; os.system('touch {sentinel}')", "syntax"),
        _cd("injection", "import_statement", "import os", "syntax"),
        _cd("injection", "second_line", f"{CORRECT_ANSWER}\nimport os", "syntax"),
        _cd("injection", "line_continuation", "8 \\\n- 3", "syntax"),
        _cd("injection", "await", "await 8", "disallowed:Await"),
        _cd("injection", "yield", "(yield 8)", "disallowed:Yield"),
        _cd("injection", "type_call", "type('X', (), {})", "disallowed:Call"),
        _cd("injection", "string_format_mod", "'%s' % 8", "disallowed:Mod"),
        _cd("injection", "comment_hides_rest", f"{CORRECT_ANSWER} # + 1", "disallowed:comment"),
    ]


def _cd_operators() -> list[Case]:
    ops = [("floordiv", "//", "FloorDiv"), ("mod", "%", "Mod"), ("matmul", "@", "MatMult"),
           ("lshift", "<<", "LShift"), ("rshift", ">>", "RShift"), ("bitand", "&", "BitAnd"),
           ("bitor", "|", "BitOr"), ("bitxor", "^", "BitXor")]
    cases = [_cd("operators", name, f"(8 {op} 3) * 4", f"disallowed:{node}") for name, op, node in ops]
    return cases + [
        _cd("operators", "pow_tower", "9**9**9**9", "disallowed:Pow", numbers=(9, 9, 9, 9)),
        _cd("operators", "pow_huge", "2**10**10", "disallowed:Pow", numbers=(2, 10, 10)),
        _cd("operators", "pow_inside", "(8 - 3) * 4 ** 1", "disallowed:Pow"),
        _cd("operators", "pow_tower_long", "**".join(["9"] * 60), "disallowed:Pow", numbers=[9] * 60),
        _cd("operators", "invert", "~8 + 3 + 4", "disallowed:UnaryOp"),
        _cd("operators", "negate", "-8 + 3 + 4", "disallowed:UnaryOp"),
        _cd("operators", "unary_chain", "-" * 150 + CORRECT_ANSWER, "disallowed:UnaryOp"),
        _cd("operators", "not", "not 8", "disallowed:UnaryOp"),
        _cd("operators", "boolop", "8 and 3 and 4", "disallowed:BoolOp"),
        _cd("operators", "compare_chain", "8 < 3 < 4", "disallowed:Compare"),
        _cd("operators", "double_equals", f"{CORRECT_ANSWER} == 20", "disallowed:Compare"),
        _cd("operators", "broken_pow", "8 * * 3", "syntax"),
    ]


def _cd_literals() -> list[Case]:
    return [
        _cd("literals", "float", "1.5 * 8", "disallowed:Constant:float"),
        _cd("literals", "float_integral", "(8.0 - 3) * 4", "disallowed:Constant:float"),
        _cd("literals", "exponent_float", "1e3", "disallowed:Constant:float"),
        _cd("literals", "overflow_float_1e309", "1e309", "disallowed:Constant:float"),
        _cd("literals", "nan_name", "nan", "disallowed:Name"),
        _cd("literals", "NaN_name", "NaN", "disallowed:Name"),
        _cd("literals", "Infinity_name", "Infinity", "disallowed:Name"),
        _cd("literals", "float_nan_call", "float('nan')", "disallowed:Call"),
        _cd("literals", "float_inf_call", "float('inf')", "disallowed:Call"),
        _cd("literals", "complex", "3j", "disallowed:Constant:complex"),
        _cd("literals", "leading_zero", "(08 - 3) * 4", "syntax"),
        _cd("literals", "double_zero", f"{CORRECT_ANSWER} + 00", "disallowed:literal_format", numbers=(8, 3, 4, 0)),
        _cd("literals", "hex", "(0x8 - 3) * 4", "disallowed:literal_format"),
        _cd("literals", "octal", "(0o10 - 3) * 4", "disallowed:literal_format"),
        _cd("literals", "binary", "(0b1000 - 3) * 4", "disallowed:literal_format"),
        _cd("literals", "underscore", "(8_0 - 3) * 4", "disallowed:literal_format", numbers=(80, 3, 4)),
        _cd("literals", "bool", "True", "disallowed:Constant:bool"),
        _cd("literals", "none", "None", "disallowed:Constant:NoneType"),
        _cd("literals", "string", "'20'", "disallowed:Constant:str"),
        _cd("literals", "bytes", "b'20'", "disallowed:Constant:bytes"),
        _cd("literals", "ellipsis", "...", "disallowed:Constant:ellipsis"),
    ]


def _cd_huge() -> list[Case]:
    big = [999_999] * 3
    return [
        _cd("huge", "literal_195_digits", "9" * 195, "too_large"),
        _cd("huge", "literal_10_pow_12", "1" + "0" * 12, "too_large", numbers=(10**12,), target=10**12),
        _cd("huge", "literal_5000_digits", "1" + "0" * 5000, "too_long"),
        _cd("huge", "literal_100000_digits", "1" + "0" * 100_000, "too_long"),
        _cd("huge", "product_overflow", "999999 * 999999 * 999999", "too_large", numbers=big, target=1),
        _cd("huge", "denominator_overflow", "1 / 999999 / 999999 / 999999", "too_large", numbers=big + [1],
            target=0),
        _cd("huge", "wrong_numbers_first", "999999999999 * 999999999999", "wrong_numbers"),
    ]


def _cd_division() -> list[Case]:
    return [
        _cd("division_by_zero", "literal_zero", "8 / 0", "division_by_zero", numbers=(8, 0), target=1),
        _cd("division_by_zero", "subexpression", "3 / (2 - 2)", "division_by_zero", numbers=(3, 2, 2), target=1),
        _cd("division_by_zero", "zero_by_zero", "0 / 0", "division_by_zero", numbers=(0, 0), target=0),
        _cd("division_by_zero", "times_zero_after", "3 / (2 - 2) * 0", "division_by_zero", numbers=(3, 2, 2, 0),
            target=0),
        _cd("division_by_zero", "fraction_cancels", "1 / (1 / 2 - 2 / 4)", "division_by_zero",
            numbers=(1, 1, 2, 2, 4), target=1),
        _cd("division_by_zero", "nested_deep", "8 / (3 / 3 - 1) + 0", "division_by_zero", numbers=(8, 3, 3, 1, 0),
            target=8),
    ]


def _cd_nesting() -> list[Case]:
    return [
        _cd("nesting", "parens_100k", "(" * DEEP + "8" + ")" * DEEP, "too_long", numbers=(8,), target=8),
        _cd("nesting", "parens_100k_unclosed", "(" * DEEP, "too_long"),
        _cd("nesting", "parens_100k_no_tags", "(" * DEEP + "8" + ")" * DEEP, "too_long", wrap=False),
        _cd("nesting", "parens_40_in_bound", "(" * 40 + CORRECT_ANSWER + ")" * 40, "too_deep"),
        _cd("nesting", "parens_90_around_literal", "(" * 90 + "8" + ")" * 90, "too_deep", numbers=(8,), target=8),
        _cd("nesting", "parens_199_unclosed", "(" * 199, "syntax"),
        _cd("nesting", "brackets_60", "[" * 60 + "8" + "]" * 60, "too_deep", numbers=(8,), target=8),
        _cd("nesting", "unbalanced_open", "((8 - 3) * 4", "syntax"),
        _cd("nesting", "unbalanced_close", "(8 - 3)) * 4", "syntax"),
        _cd("nesting", "close_before_open", ")8 - 3( * 4", "syntax"),
        _cd("nesting", "mismatched", "(8 - 3] * 4", "syntax"),
        _cd("nesting", "left_chain_40", "+".join(["1"] * 40), "too_deep", numbers=[1] * 40, target=40),
        _cd("nesting", "right_chain_33", "1+(" * 32 + "1" + ")" * 32, "too_deep", numbers=[1] * 33, target=33),
    ]


def _cd_unicode() -> list[Case]:
    non_ascii = "disallowed:non_ascii"
    return [
        _cd("unicode", "arabic_indic_digits", "(\u0668 - \u0663) * \u0664", non_ascii),
        _cd("unicode", "fullwidth_digits", "(\uff18 - \uff13) * \uff14", non_ascii),
        _cd("unicode", "math_bold_digits", "(\U0001d7d6 - \U0001d7d1) * \U0001d7d2", non_ascii),
        _cd("unicode", "superscript", "8\u00b2", non_ascii),
        _cd("unicode", "minus_u2212", "(8 \u2212 3) * 4", non_ascii),
        _cd("unicode", "times_u00d7", "(8 - 3) \u00d7 4", non_ascii),
        _cd("unicode", "divide_u00f7", "8 \u00f7 4", non_ascii),
        _cd("unicode", "division_slash_u2215", "8 \u2215 4", non_ascii),
        _cd("unicode", "asterisk_operator_u2217", "(8 - 3) \u2217 4", non_ascii),
        _cd("unicode", "fullwidth_plus", "8 \uff0b 3 \uff0b 4", non_ascii),
        _cd("unicode", "fullwidth_parens", "\uff088 - 3\uff09 * 4", non_ascii),
        _cd("unicode", "rtl_mark_inside", "(8 - 3)\u200f * 4", non_ascii),
        _cd("unicode", "rtl_override_inside", "\u202e4 * (3 - 8)\u202c", non_ascii),
        _cd("unicode", "zero_width_space", "(8 -\u200b 3) * 4", non_ascii),
        _cd("unicode", "bom_inside", "\ufeff(8 - 3) * 4", non_ascii),
        _cd("unicode", "combining_mark", "(8\u0301 - 3) * 4", non_ascii),
        _cd("unicode", "lone_high_surrogate", "(8 - 3) * 4\ud800", non_ascii),
        _cd("unicode", "lone_low_surrogate", "\udfff(8 - 3) * 4", non_ascii),
        _cd("unicode", "surrogateescape_byte", b"(8 - 3) * 4\xff".decode("utf-8", "surrogateescape"), non_ascii),
        _cd("unicode", "null_byte_inside", "(8 - 3) * 4\x00", "syntax"),
        _cd("unicode", "control_chars", "(8 - 3)\x01 * 4", "syntax"),
    ]


def _cd_tags() -> list[Case]:
    ok = CORRECT_ANSWER
    return [
        _cd("tags", "no_tags", ok, "no_answer", wrap=False),
        _cd("tags", "unclosed", f"<answer>{ok}", "no_answer", wrap=False),
        _cd("tags", "close_only", f"{ok}</answer>", "no_answer", wrap=False),
        _cd("tags", "reversed", f"</answer>{ok}<answer>", "no_answer", wrap=False),
        _cd("tags", "upper_case_tags", f"<ANSWER>{ok}</ANSWER>", "no_answer", wrap=False),
        _cd("tags", "empty", "", "syntax"),
        _cd("tags", "whitespace_only", " \n\t ", "syntax"),
        _cd("tags", "nested", f"<answer>{ok}</answer>", "syntax"),
        _cd("tags", "many_open_tags", "<answer>" * 2400 + f"{ok}</answer>", correct=True, wrap=False),
        _cd("tags", "many_close_tags", "</answer>" * 2000, "no_answer", wrap=False),
        _cd("tags", "many_pairs_last_wrong", "<answer>(8 - 3) * 4</answer>" * 500 + "<answer>8</answer>",
            "wrong_numbers", wrap=False),
        _cd("tags", "target_on_left", f"20 = {ok}", "wrong_numbers"),
        _cd("tags", "only_right_side", "= 20", "syntax"),
        _cd("tags", "two_equals", "8 = 3 = 4", "multiple_equals"),
    ]


def _cd_equations() -> list[Case]:
    """Answers written as equations: the stated value must be the target, or a false statement earns reward."""
    ok = CORRECT_ANSWER
    return [
        _cd("equations", "true_equation", f"{ok} = 20", correct=True),
        _cd("equations", "worked_value", f"{ok} = 5 * 4", correct=True),
        _cd("equations", "no_value", f"{ok} =", correct=True),
        _cd("equations", "negative_target", "3 - 8 = -5", correct=True, numbers=(8, 3), target=-5),
        _cd("equations", "false_value", "(9 - 4) * 6 = 31", "wrong_stated_value", numbers=(9, 4, 6), target=30),
        _cd("equations", "false_value_is_target", "(9 - 4) * 6 = 30", "wrong_value", numbers=(9, 4, 6),
            target=31),
        _cd("equations", "negated_value", f"{ok} = -20", "wrong_stated_value"),
        _cd("equations", "value_off_by_fraction", f"{ok} = 41 / 2", "wrong_stated_value"),
        _cd("equations", "float_value", f"{ok} = 20.0", "bad_stated_value"),
        _cd("equations", "words_value", f"{ok} = twenty", "bad_stated_value"),
        _cd("equations", "call_value", f"{ok} = __import__('os').getpid()", "bad_stated_value"),
        _cd("equations", "pow_value", f"{ok} = 2 ** 99999", "bad_stated_value"),
        _cd("equations", "huge_value", f"{ok} = {'9' * 150}", "bad_stated_value"),
        _cd("equations", "deep_value", f"{ok} = {'(' * 40}20{')' * 40}", "bad_stated_value"),
        _cd("equations", "zero_division_value", f"{ok} = 20 / 0", "bad_stated_value"),
        _cd("equations", "double_minus_value", f"{ok} = --20", "bad_stated_value"),
        _cd("equations", "unicode_value", f"{ok} = \uff12\uff10", "bad_stated_value"),
        _cd("equations", "chained", "8 - 3 = 5 * 4 = 20", "multiple_equals"),
        _cd("equations", "value_then_equals", f"{ok} = 20 = 20", "multiple_equals"),
        _cd("equations", "double_equals_then_sign", f"{ok} == 20 = 1", "disallowed:Compare"),
        _cd("equations", "less_equal", f"{ok} <= 20", "disallowed:Compare"),
    ]


def _cd_size() -> list[Case]:
    ok = CORRECT_ANSWER
    return [
        _cd("size", "10mb_junk", "x" * TEN_MB, "too_long", wrap=False),
        _cd("size", "10mb_then_answer", "x" * TEN_MB + f"<answer>{ok}</answer>", "too_long", wrap=False),
        _cd("size", "10mb_digits_answer", "9" * TEN_MB, "too_long"),
        _cd("size", "10mb_open_tags", "<answer>" * (TEN_MB // 8), "too_long", wrap=False),
        _cd("size", "10mb_parens", "(" * TEN_MB, "too_long"),
        _cd("size", "response_over_bound", "x" * 20_000 + f"<answer>{ok}</answer>", "too_long", wrap=False),
        _cd("size", "answer_over_bound", ok + " " * 190 + "+ 0", "too_long", numbers=(8, 3, 4, 0)),
    ]


def _cd_types() -> list[Case]:
    return [
        _cd("types", "none", None, "no_answer", wrap=False),
        _cd("types", "bytes", f"<answer>{CORRECT_ANSWER}</answer>".encode(), "no_answer", wrap=False),
        _cd("types", "int", 20, "no_answer", wrap=False),
        _cd("types", "list", [f"<answer>{CORRECT_ANSWER}</answer>"], "no_answer", wrap=False),
    ]



# -- JSONL lines (r3 verify) ------------------------------------------------------------------------------------

def _line(category: str, name: str, raw: bytes, reason: str | None = None, *, task: str = COUNTDOWN,
          correct: bool = False) -> Case:
    return Case(JSONL_LINE, category, name, raw, None, correct, "correct" if correct else reason, task)


def _cd_row(response: Any = f"<answer>{CORRECT_ANSWER}</answer>", **extra: Any) -> dict:
    return {"task_id": "countdown-line", "numbers": [8, 3, 4], "target": 20, "response": response, **extra}


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def jsonl_cases() -> list[Case]:
    """Raw lines of a response file: bad bytes, bad JSON, wrong shapes, huge and deep lines, and good rows."""
    good = _dumps(_cd_row())
    fc_row = {"task_id": "fc-line", "query": "Weather?", "tools": json.dumps(TOOLS), "answers": json.dumps([WEATHER]),
              "response": tool_block(json.dumps([WEATHER]))}
    bfcl_row = {"id": "simple_1", "question": [[{"role": "user", "content": "Weather in NYC?"}]],
                "function": [BFCL_WEATHER], "ground_truth": [{"get_weather": {"city": ["NYC"]}}],
                "response": tool_block(json.dumps([{"name": "get_weather", "arguments": {"city": "nyc"}}]))}
    return [
        _line("baseline", "good_row", good, correct=True),
        _line("baseline", "wrong_answer", _dumps(_cd_row("<answer>8 + 3 + 4</answer>")), "wrong_value"),
        _line("baseline", "no_newline", good.rstrip(b"\n"), correct=True),
        _line("baseline", "crlf", good.rstrip(b"\n") + b"\r\n", correct=True),
        _line("baseline", "escaped_surrogate_task_id", good.replace(b"countdown-line", b"\\ud800"), correct=True),
        _line("baseline", "deep_brackets_in_response", _dumps(_cd_row("[" * 5000)), "no_answer"),
        _line("baseline", "function_calling_row", _dumps(fc_row), task=FUNCTION_CALLING, correct=True),
        _line("baseline", "bfcl_row", _dumps(bfcl_row), task=FUNCTION_CALLING, correct=True),
        _line("shape", "bfcl_without_ground_truth", _dumps({k: v for k, v in bfcl_row.items() if k != "ground_truth"}),
              "bad_row:missing_field:ground_truth", task=FUNCTION_CALLING),
        _line("encoding", "invalid_utf8", b'{"task_id": "x", "response": "\xff\xfe"}\n', "bad_row:not_utf8"),
        _line("encoding", "overlong_encoding", good.replace(b"(", b"\xc0\xa8"), "bad_row:not_utf8"),
        _line("encoding", "encoded_surrogate", good.replace(b"(", b"\xed\xa0\x80"), "bad_row:not_utf8"),
        _line("encoding", "truncated_multibyte", good.rstrip(b"\n") + b"\xe2\x82", "bad_row:not_utf8"),
        _line("encoding", "latin1_byte", good.replace(b"(8", b"(\xe98"), "bad_row:not_utf8"),
        _line("encoding", "utf8_bom", b"\xef\xbb\xbf" + good, "bad_row:not_json"),
        _line("encoding", "utf16", good.decode().encode("utf-16"), "bad_row:not_utf8"),
        _line("encoding", "raw_null_bytes", good.replace(b" ", b"\x00"), "bad_row:not_json"),
        _line("json", "not_json", b"{not json\n", "bad_row:not_json"),
        _line("json", "trailing_garbage", good.rstrip(b"\n") + b" xyz\n", "bad_row:not_json"),
        _line("json", "two_objects", good.rstrip(b"\n") + good, "bad_row:not_json"),
        _line("json", "truncated", good[:-10], "bad_row:not_json"),
        _line("json", "nan_target", good.replace(b'"target": 20', b'"target": NaN'), "bad_row:not_integral:target"),
        _line("json", "infinity_number", good.replace(b"[8, 3, 4]", b"[8, 3, Infinity]"),
              "bad_row:not_integral:numbers"),
        _line("json", "float_target", good.replace(b'"target": 20', b'"target": 20.0'), correct=True),
        _line("json", "exponent_target", good.replace(b'"target": 20', b'"target": 2e1'), correct=True),
        _line("json", "fractional_target", good.replace(b'"target": 20', b'"target": 20.000001'),
              "bad_row:not_integral:target"),
        _line("json", "huge_float_target", good.replace(b'"target": 20', b'"target": 1e300'), "bad_row:magnitude"),
        _line("json", "overflow_float_target", good.replace(b'"target": 20', b'"target": 1e999'),
              "bad_row:not_integral:target"),
        _line("json", "int_5000_digits", good.replace(b'"target": 20', b'"target": 1' + b"0" * 5000),
              "bad_row:not_json"),
        _line("json", "duplicate_response", good.rstrip(b"\n")[:-1] + b', "response": "<answer>8</answer>"}\n',
              "bad_row:duplicate_key"),
        _line("json", "duplicate_nested", _dumps(_cd_row())[:-2] + b', "meta": {"a": 1, "a": 2}}\n',
              "bad_row:duplicate_key"),
        _line("nesting", "lists_100k", b"[" * DEEP + b"\n", "bad_row:too_deep"),
        _line("nesting", "objects_100k_balanced", b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"\n", "bad_row:too_deep"),
        _line("nesting", "deep_extra_field", _dumps(_cd_row())[:-2] + b', "meta": ' + b"[" * 70 + b"]" * 70 + b"}\n",
              "bad_row:too_deep"),
        _line("size", "10mb_line", b'{"response": "' + b"x" * TEN_MB + b'"}\n', "bad_row:too_long"),
        _line("size", "array_1m_wide", b"[" + b"0," * WIDE + b"0]\n", "bad_row:too_long"),
        _line("size", "object_wide_in_bound", _dumps(_cd_row(**{f"k{i}": i for i in range(50_000)})), correct=True),
        _line("size", "pairs_wide_in_bound", b"[" + b"[]," * 300_000 + b"[]]\n", "bad_row:not_an_object"),
        _line("size", "long_response", _dumps(_cd_row("x" * 100_000)), "too_long"),
        _line("shape", "array", b"[1, 2, 3]\n", "bad_row:not_an_object"),
        _line("shape", "null", b"null\n", "bad_row:not_an_object"),
        _line("shape", "string", b'"{}"\n', "bad_row:not_an_object"),
        _line("shape", "missing_response", _dumps({"task_id": "x", "numbers": [8, 3, 4], "target": 20}),
              "bad_row:missing_response"),
        _line("shape", "response_int", _dumps(_cd_row(20)), "bad_row:response_not_a_string"),
        _line("shape", "response_null", _dumps(_cd_row(None)), "bad_row:response_not_a_string"),
        _line("shape", "numbers_string", _dumps({**_cd_row(), "numbers": "8,3,4"}), "bad_row:bad_type:numbers"),
        _line("shape", "target_huge", _dumps({**_cd_row(), "target": 10**13}), "bad_row:magnitude"),
        _line("shape", "numbers_nested", _dumps({**_cd_row(), "numbers": [[8], 3, 4]}), "bad_row:bad_type:numbers"),
        _line("shape", "task_id_number", _dumps({**_cd_row(), "task_id": 5}), correct=True),
        _line("shape", "task_id_object", _dumps({**_cd_row(), "task_id": {"a": 1}}), "bad_row:bad_type:task_id"),
        _line("shape", "task_id_bool", _dumps({**_cd_row(), "task_id": True}), "bad_row:bad_type:task_id"),
        _line("shape", "no_task_id", _dumps({k: v for k, v in _cd_row().items() if k != "task_id"}), correct=True),
        _line("shape", "tinyzero_nums", _dumps({**_cd_row(), "nums": [8, 3, 4]}), correct=True),
        _line("shape", "nums_conflict", _dumps({**_cd_row(), "nums": [8, 3, 5]}),
              "bad_row:conflicting_fields:nums,numbers"),
        _line("shape", "false_equation", _dumps(_cd_row("<answer>(8 - 3) * 4 = 21</answer>")), "wrong_stated_value"),
        _line("shape", "fc_tools_deep", _dumps({**fc_row, "tools": "[" * 30 + "]" * 30}), "bad_row:bad_json:tools",
              task=FUNCTION_CALLING),
        _line("shape", "fc_answers_huge", _dumps({**fc_row, "answers": "[" * DEEP}), "bad_row:too_large",
              task=FUNCTION_CALLING),
        _line("shape", "fc_answers_nan", _dumps({**fc_row, "answers": '[{"name": "get_weather", "arguments": '
                                                                      '{"days": NaN}}]'}),
              "bad_row:bad_json:answers", task=FUNCTION_CALLING),
    ]


# -- running and timing -----------------------------------------------------------------------------------------
