"""The hostile-output corpus: named adversarial cases per verifier, each with the verdict a sound verifier gives.

Built in code, since 10 MB strings and 100,000-deep nesting do not belong in the repository. Verifiers covered:
"countdown" and "function_calling" (through the real `Task.verify`) and "jsonl_line" (one raw line of a response
file given to `r3 verify`). tests/test_hostile_output.py asserts every verdict; `r3_pipeline.bench.hostile`
times them. Strings here that spell `eval`/`exec` are inputs the verifiers must refuse, never code we run.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

COUNTDOWN = "countdown"
FUNCTION_CALLING = "function_calling"
JSONL_LINE = "jsonl_line"
# Injection cases try to create this file; tests assert it never appears.
DEFAULT_SENTINEL = os.path.join(tempfile.gettempdir(), "r3_hostile_pwned")

TEN_MB = 10_000_000
DEEP = 100_000
WIDE = 1_000_000

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
RATE = {"name": "get_rate", "arguments": {"base": "USD", "target": "EUR"}}
TOOLS = [
    {"name": "get_weather", "description": "Weather forecast.",
     "parameters": {"city": {"type": "str", "description": "City."}, "days": {"type": "int", "description": "Days."}}},
    {"name": "get_rate", "description": "Exchange rate.",
     "parameters": {"base": {"type": "str", "description": "From."}, "target": {"type": "str", "description": "To."}}},
]
# get_weather with optional parameters: days by a default only (as in BFCL-derived rows), units by the xLAM
# ", optional" suffix and a default, lang by the suffix only (no default: it cannot be left out for one).
OPTIONAL_TOOLS = [
    {"name": "get_weather", "description": "Weather forecast.",
     "parameters": {"city": {"type": "str", "description": "City."},
                    "days": {"type": "int", "description": "Days.", "default": 3},
                    "units": {"type": "str, optional", "description": "Units.", "default": "metric"},
                    "lang": {"type": "str, optional", "description": "Language."}}},
]
CORRECT_ANSWER = "(8 - 3) * 4"


@dataclass(frozen=True)
class Case:
    """One hostile input and the verdict a sound verifier gives it.

    `reason` pins the exact reason code where one is expected (None: any non-empty reason will do).
    """

    verifier: str
    category: str
    name: str
    input: Any = field(repr=False)
    row: dict | None = field(default=None, repr=False)
    correct: bool = False
    reason: str | None = None
    task: str = ""

    @property
    def id(self) -> str:
        return f"{self.verifier}/{self.category}/{self.name}"


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
    return _cd_injection(sentinel) + _fc_injection(sentinel)


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


# -- function calling -------------------------------------------------------------------------------------------

def _fc(category: str, name: str, response: Any, reason: str | None = None, *, gold=(WEATHER,),
        correct: bool = False, tools: list[dict] = TOOLS) -> Case:
    row = {"task_id": f"fc-hostile-{name}", "query": "Weather in Paris for 3 days?", "tools": tools,
           "answers": list(gold)}
    return Case(FUNCTION_CALLING, category, name, response, row, correct, "correct" if correct else reason,
                FUNCTION_CALLING)


def _block(text: str) -> str:
    return f"<tool_call>{text}</tool_call>"


def _weather(arguments_body: str, name: str = "get_weather") -> str:
    """A tool_call block with one call whose arguments object has the given raw JSON body."""
    return _block(f'[{{"name": "{name}", "arguments": {{{arguments_body}}}}}]')


def function_calling_cases(sentinel: str = DEFAULT_SENTINEL) -> list[Case]:
    """Function-calling answers: nesting, width, duplicate keys, odd numbers, encodings, garbage, injection."""
    return (_fc_baseline() + _fc_nesting() + _fc_width() + _fc_duplicates() + _fc_numbers() + _fc_encoding()
            + _fc_garbage() + _fc_injection(sentinel) + _fc_tags() + _fc_optional() + _fc_size() + _fc_types()
            + _fc_bfcl())


def _fc_baseline() -> list[Case]:
    good = json.dumps([WEATHER])
    both = (WEATHER, RATE)
    padded = _block(good) + " " * (20_000 - len(_block(good)))
    return [
        _fc("baseline", "block", _block(good), correct=True),
        _fc("baseline", "object_block", _block(json.dumps(WEATHER)), correct=True),
        _fc("baseline", "native_blocks", _block(json.dumps(RATE)) + "\n" + _block(json.dumps(WEATHER)), gold=both,
            correct=True),
        _fc("baseline", "bare_list", good, correct=True),
        _fc("baseline", "fenced", f"```json\n{good}\n```", correct=True),
        _fc("baseline", "text_around", f"Sure.\n{_block(good)}\nDone.", correct=True),
        _fc("baseline", "surrogates_outside", f"\ud800{_block(good)}\udfff", correct=True),
        _fc("baseline", "rtl_and_bom_outside", f"\ufeff\u202e{_block(good)}\u202c", correct=True),
        _fc("baseline", "float_equals_int", _weather('"city": "Paris", "days": 3.0'), correct=True),
        _fc("baseline", "exponent_equals_int", _weather('"city": "Paris", "days": 3e0'), correct=True),
        _fc("baseline", "trimmed_string", _weather('"city": " Paris ", "days": 3'), correct=True),
        _fc("baseline", "key_order", _weather('"days": 3, "city": "Paris"'), correct=True),
        _fc("baseline", "unicode_escape", _weather('"city": "\\u0050aris", "days": 3'), correct=True),
        _fc("baseline", "at_length_bound", padded, correct=True),
        _fc("baseline", "wrong_value", _weather('"city": "Rome", "days": 3'), "wrong_value:city"),
    ]


def _fc_nesting() -> list[Case]:
    deep_value = "[" * 25 + "3" + "]" * 25
    ok_value = "[" * 15 + "3" + "]" * 15
    return [
        _fc("nesting", "lists_100k", "[" * DEEP, "too_long"),
        _fc("nesting", "objects_100k_in_block", _block("{" * DEEP), "too_long"),
        _fc("nesting", "balanced_100k", "[" * DEEP + "]" * DEEP, "too_long"),
        _fc("nesting", "mixed_100k", '{"a":[' * (DEEP // 6), "too_long"),
        _fc("nesting", "lists_9000_in_bound", "[" * 9000 + "]" * 9000, "too_deep"),
        _fc("nesting", "lists_21_in_block", _block("[" * 21 + "]" * 21), "too_deep"),
        _fc("nesting", "deep_argument_value", _weather(f'"city": "Paris", "days": {deep_value}'), "too_deep"),
        _fc("nesting", "deep_value_in_bound", _weather(f'"city": "Paris", "days": {ok_value}'), "wrong_value:days"),
        _fc("nesting", "brackets_in_string", _weather('"city": "' + "[" * 5000 + '", "days": 3'), "wrong_value:city"),
        _fc("nesting", "unterminated_string", _block('[{"name": "get_weather", "arguments": {"city": "' + "[" * 5000),
            "unparseable"),
    ]


def _fc_width() -> list[Case]:
    call = json.dumps(WEATHER)
    many_args = ", ".join(f'"k{i}": {i}' for i in range(1000))
    return [
        _fc("width", "array_1m", "[" + "0," * WIDE + "0]", "too_long"),
        _fc("width", "object_1m", _block("{" + ",".join(f'"k{i}":0' for i in range(WIDE)) + "}"), "too_long"),
        _fc("width", "int_array_in_bound", _block("[" + "1," * 9000 + "1]"), "unparseable"),
        _fc("width", "empty_objects_in_bound", _block("[" + "{}," * 6000 + "{}]"), "unparseable"),
        _fc("width", "calls_250", _block("[" + ",".join([call] * 250) + "]"), "wrong_count"),
        _fc("width", "arguments_1000", _weather(f'"city": "Paris", "days": 3, {many_args}'), "extra_argument:k0"),
        _fc("width", "blocks_800_empty", _block("{}") * 800, "unparseable"),
        _fc("width", "blocks_200_calls", _block(call) * 200, "wrong_count"),
    ]


def _fc_duplicates() -> list[Case]:
    dup = "unparseable:duplicate_key"
    return [
        _fc("duplicate_keys", "argument", _weather('"city": "Rome", "city": "Paris", "days": 3'), dup),
        _fc("duplicate_keys", "name", _block('[{"name": "get_rate", "name": "get_weather", "arguments": {}}]'), dup),
        _fc("duplicate_keys", "nested_value", _weather('"city": "Paris", "days": {"a": 1, "a": 2}'), dup),
        _fc("duplicate_keys", "escaped_spelling", _weather('"city": "Rome", "\\u0063ity": "Paris", "days": 3'), dup),
        _fc("duplicate_keys", "thousand_times", _weather(", ".join(['"days": 3'] * 1000) + ', "city": "Paris"'), dup),
    ]


def _fc_numbers() -> list[Case]:
    def days(literal: str) -> str:
        return _weather(f'"city": "Paris", "days": {literal}')

    return [
        _fc("numbers", "nan", days("NaN"), "unparseable"),
        _fc("numbers", "infinity", days("Infinity"), "unparseable"),
        _fc("numbers", "minus_infinity", days("-Infinity"), "unparseable"),
        _fc("numbers", "1e999999", days("1e999999"), "unparseable"),
        _fc("numbers", "minus_1e400", days("-1e400"), "unparseable"),
        _fc("numbers", "1e-999999_is_zero", days("1e-999999"), "wrong_value:days"),
        _fc("numbers", "int_100000_digits", days("1" + "0" * 100_000), "too_long"),
        _fc("numbers", "int_19000_digits", days("1" + "0" * 19_000), "unparseable"),
        _fc("numbers", "int_4000_digits", days("1" + "0" * 4000), "wrong_value:days"),
        _fc("numbers", "float_19000_digits", days("0." + "0" * 19_000 + "3"), "wrong_value:days"),
        _fc("numbers", "bool_for_int", days("true"), "wrong_value:days"),
        _fc("numbers", "string_for_int", days('"3"'), "wrong_value:days"),
        _fc("numbers", "hex", days("0x3"), "unparseable"),
        _fc("numbers", "leading_zero", days("03"), "unparseable"),
        _fc("numbers", "plus_sign", days("+3"), "unparseable"),
        _fc("numbers", "fullwidth_digit", days("\uff13"), "unparseable"),
        _fc("numbers", "arabic_indic_digit", days("\u0663"), "unparseable"),
    ]


def _fc_encoding() -> list[Case]:
    raw = b'<tool_call>[{"name": "get_weather", "arguments": {"city": "Par\xe9s", "days": 3}}]</tool_call>'
    return [
        _fc("encoding", "raw_lone_surrogate", _weather('"city": "\ud800", "days": 3'), "wrong_value:city"),
        _fc("encoding", "escaped_lone_surrogate", _weather('"city": "\\ud800", "days": 3'), "wrong_value:city"),
        _fc("encoding", "surrogate_key", _weather('"\\udfff": "Paris", "days": 3'), "missing_argument:city"),
        _fc("encoding", "invalid_utf8_surrogateescape", raw.decode("utf-8", "surrogateescape"), "wrong_value:city"),
        _fc("encoding", "invalid_utf8_replace", raw.decode("utf-8", "replace"), "wrong_value:city"),
        _fc("encoding", "mojibake_latin1", "Par\u00e9s".encode().decode("latin-1").join(
            ['<tool_call>[{"name": "get_weather", "arguments": {"city": "', '", "days": 3}}]</tool_call>']),
            "wrong_value:city"),
        _fc("encoding", "bom_inside_block", _block("\ufeff" + json.dumps([WEATHER])), "unparseable"),
        _fc("encoding", "bom_bare", "\ufeff" + json.dumps([WEATHER]), "unparseable"),
        _fc("encoding", "raw_null_in_string", _weather('"city": "Par\x00is", "days": 3'), "unparseable"),
        _fc("encoding", "escaped_null_in_string", _weather('"city": "Paris\\u0000", "days": 3'), "wrong_value:city"),
        _fc("encoding", "raw_newline_in_string", _weather('"city": "Par\nis", "days": 3'), "unparseable"),
        _fc("encoding", "cyrillic_lookalike_key", _weather('"\u0441ity": "Paris", "days": 3'),
            "missing_argument:city"),
        _fc("encoding", "smart_quotes", _block("[{\u201cname\u201d: \u201cget_weather\u201d}]"), "unparseable"),
        _fc("encoding", "rtl_override_in_value", _weather('"city": "\u202esiraP", "days": 3'), "wrong_value:city"),
        _fc("encoding", "control_chars_in_key", _weather('"city": "Paris", "days": 3, "\\u0000\\n\\u001b[2J": 1'),
            "extra_argument:\\x00\\n\\x1b[2J"),
        _fc("encoding", "truncated_escape", _weather('"city": "Paris\\u00", "days": 3'), "unparseable"),
    ]


def _fc_garbage() -> list[Case]:
    good = json.dumps([WEATHER])
    return [
        _fc("garbage", "trailing_garbage", _block(good + "xyz"), "unparseable"),
        _fc("garbage", "leading_garbage", _block("xyz" + good), "unparseable"),
        _fc("garbage", "two_values_in_block", _block(good + good), "unparseable"),
        _fc("garbage", "two_code_fences", f"```json\n{good}\n```\n```json\n{good}\n```", "unparseable"),
        _fc("garbage", "single_quotes", _block(good.replace('"', "'")), "unparseable"),
        _fc("garbage", "python_literals", _weather('"city": None, "days": True'), "unparseable"),
        _fc("garbage", "js_comment", _block("// call\n" + good), "unparseable"),
        _fc("garbage", "trailing_comma", _weather('"city": "Paris", "days": 3,'), "unparseable"),
        _fc("garbage", "empty_block", _block(""), "unparseable"),
        _fc("garbage", "empty_response", "", "unparseable"),
        _fc("garbage", "null", _block("null"), "unparseable"),
        _fc("garbage", "extra_call_key", _block('[{"name": "get_weather", "arguments": {}, "id": 1}]'), "unparseable"),
        _fc("garbage", "arguments_as_string", _block('[{"name": "get_weather", "arguments": "{}"}]'), "unparseable"),
        _fc("garbage", "name_not_string", _block('[{"name": 3, "arguments": {}}]'), "unparseable"),
        _fc("garbage", "truncated", _block(good[:-3]), "unparseable"),
    ]


def _fc_injection(sentinel: str) -> list[Case]:
    touch = f"__import__('os').system('touch {sentinel}')"
    code_arg = json.dumps({"source": touch})[1:-1]
    return [
        _fc("injection", "code_as_name", _block(json.dumps([{"name": touch, "arguments": {}}])), "wrong_function"),
        _fc("injection", "code_as_block", _block(touch), "unparseable"),
        _fc("injection", "code_bare", touch, "unparseable"),
        _fc("injection", "eval_call", _weather(code_arg, name="eval"), "wrong_function"),
        _fc("injection", "open_call", _block(json.dumps([{"name": "open", "arguments": {"file": sentinel,
                                                                                        "mode": "w"}}])),
            "wrong_function"),
        _fc("injection", "dunder_argument", _weather('"city": "Paris", "days": 3, "__class__": {"__init__": "x"}'),
            "extra_argument:__class__"),
        _fc("injection", "proto_pollution", _weather('"city": "Paris", "days": 3, "__proto__": {"admin": true}'),
            "extra_argument:__proto__"),
        _fc("injection", "template_in_value", _weather('"city": "{{7*7}}${7*7}", "days": 3'), "wrong_value:city"),
        _fc("injection", "code_in_value", _weather(f'"city": {json.dumps(touch)}, "days": 3'), "wrong_value:city"),
    ]


def _fc_tags() -> list[Case]:
    good = json.dumps([WEATHER])
    return [
        _fc("tags", "unclosed", f"<tool_call>{good}", "unparseable"),
        _fc("tags", "close_only", f"{good}</tool_call>", "unparseable"),
        _fc("tags", "nested", f"<tool_call>{_block(good)}</tool_call>", correct=True),
        _fc("tags", "close_tag_in_string", _weather('"city": "</tool_call>", "days": 3'), "unparseable"),
        _fc("tags", "open_tags_1800", "<tool_call>" * 1800, "unparseable"),
        _fc("tags", "open_tags_then_block", "<tool_call>" * 1700 + _block(good), correct=True),
        _fc("tags", "close_tags_1600", "</tool_call>" * 1600, "unparseable"),
        _fc("tags", "upper_case", f"<TOOL_CALL>{good}</TOOL_CALL>", "unparseable"),
    ]


def _fc_optional() -> list[Case]:
    """Optional arguments: left out or passed at their declared default is the same call; anything else is not."""
    def case(name: str, gold_args: dict, pred_args: dict, reason: str | None = None) -> Case:
        gold = ({"name": "get_weather", "arguments": gold_args},)
        response = _block(json.dumps([{"name": "get_weather", "arguments": pred_args}]))
        return _fc("optional_arguments", name, response, reason, gold=gold, correct=reason is None,
                   tools=OPTIONAL_TOOLS)

    paris = {"city": "Paris"}
    return [
        case("left_out_at_default", {**paris, "days": 3, "units": "metric"}, paris),
        case("passed_at_default", paris, {**paris, "days": 3.0, "units": "metric"}),
        case("left_out_not_default", {**paris, "days": 5}, paris, "missing_argument:days"),
        case("default_for_other_value", {**paris, "days": 5}, {**paris, "days": 3}, "wrong_value:days"),
        case("suffix_only_left_out", {**paris, "lang": "fr"}, paris, "missing_argument:lang"),
        case("suffix_only_passed", paris, {**paris, "lang": "fr"}, "extra_argument:lang"),
        case("unknown_argument", {**paris, "days": 3}, {**paris, "verbose": True}, "extra_argument:verbose"),
        case("default_as_string", {**paris, "days": 3}, {**paris, "days": "3"}, "wrong_value:days"),
        case("default_as_bool", {**paris, "days": 1}, {**paris, "days": True}, "wrong_value:days"),
        case("required_left_out", {**paris, "days": 3}, {"days": 3}, "missing_argument:city"),
        case("dunder_default_name", paris, {**paris, "__proto__": 3}, "extra_argument:__proto__"),
    ]


def _fc_size() -> list[Case]:
    good = _block(json.dumps([WEATHER]))
    return [
        _fc("size", "10mb_junk", "x" * TEN_MB, "too_long"),
        _fc("size", "10mb_repeated_calls", good * (TEN_MB // len(good)), "too_long"),
        _fc("size", "10mb_string_value", _weather('"city": "' + "P" * TEN_MB + '", "days": 3'), "too_long"),
        _fc("size", "over_bound_by_one", good + " " * (20_001 - len(good)), "too_long"),
    ]


def _fc_types() -> list[Case]:
    good = _block(json.dumps([WEATHER]))
    return [
        _fc("types", "none", None, "unparseable"),
        _fc("types", "bytes", good.encode(), "unparseable"),
        _fc("types", "int", 3, "unparseable"),
        _fc("types", "list", [WEATHER], "unparseable"),
        _fc("types", "dict", WEATHER, "unparseable"),
    ]


BFCL_WEATHER = {"name": "get_weather", "description": "Weather forecast.", "parameters": {
    "type": "dict", "required": ["city"],
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "hours": {"type": "array",
                                                                                      "items": {"type": "integer"}}}}}


def _bfcl(name: str, response: Any, reason: str | None = None, *, truth: list | None = None,
          correct: bool = False) -> Case:
    """A BFCL row (bfcl_data's reading of a question row with its ground truth); [] truth: irrelevance."""
    from r3_pipeline.tasks.bfcl_data import read_bfcl_row

    truth = [{"get_weather": {"city": ["New York", "NYC"], "days": ["", 3], "hours": ["", [9]]}}] \
        if truth is None else truth
    row = read_bfcl_row({"id": f"hostile_{name}", "question": [[{"role": "user", "content": "Weather?"}]],
                         "function": [BFCL_WEATHER], "ground_truth": truth})
    return Case(FUNCTION_CALLING, "bfcl", name, response, row, correct, "correct" if correct else reason,
                FUNCTION_CALLING)


def _fc_bfcl() -> list[Case]:
    """BFCL rows: its acceptance rules hold, and nothing a model writes makes them accept more."""
    def call(body: str) -> str:
        return _weather(body)

    nyc = {"name": "get_weather", "arguments": {"city": "NYC"}}
    return [
        _bfcl("standardised_string", call('"city": "new-york "'), correct=True),
        _bfcl("alternative_value", call('"city": "NYC", "days": 3'), correct=True),
        _bfcl("empty_string_for_optional", call('"city": "NYC", "days": ""'), "wrong_type:days"),
        _bfcl("empty_list_for_optional", call('"city": "NYC", "hours": []'), "wrong_value:hours"),
        _bfcl("bool_for_int", call('"city": "NYC", "days": true'), "wrong_type:days"),
        _bfcl("float_for_int", call('"city": "NYC", "days": 3.0'), "wrong_type:days"),
        _bfcl("unknown_argument", call('"city": "NYC", "__class__": 1'), "extra_argument:__class__"),
        _bfcl("injection_value", call('"city": "__import__(\'os\').system(\'id\')"'), "wrong_value:city"),
        _bfcl("deep_value", call('"city": ' + "[" * 5_000 + "]" * 5_000), "too_deep"),
        _bfcl("parallel_swapped", _block(json.dumps([nyc, {**nyc, "arguments": {"city": "Boston"}}][::-1])),
              truth=[{"get_weather": {"city": ["NYC"]}}, {"get_weather": {"city": ["Boston"]}}], correct=True),
        _bfcl("parallel_same_twice", _block(json.dumps([nyc, nyc])),
              truth=[{"get_weather": {"city": ["NYC"]}}, {"get_weather": {"city": ["Boston"]}}],
              reason="wrong_value:city"),
        _bfcl("irrelevance_text", "No tool gives that.", truth=[], correct=True),
        _bfcl("irrelevance_call", _block(json.dumps([nyc])), truth=[], reason="unexpected_call"),
        _bfcl("irrelevance_broken_block", _block('[{"name": '), truth=[], reason="unparseable"),
        _bfcl("irrelevance_huge", "x" * TEN_MB, truth=[], reason="too_long"),
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
              "response": _block(json.dumps([WEATHER]))}
    bfcl_row = {"id": "simple_1", "question": [[{"role": "user", "content": "Weather in NYC?"}]],
                "function": [BFCL_WEATHER], "ground_truth": [{"get_weather": {"city": ["NYC"]}}],
                "response": _block(json.dumps([{"name": "get_weather", "arguments": {"city": "nyc"}}]))}
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
