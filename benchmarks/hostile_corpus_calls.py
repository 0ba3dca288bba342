"""Hostile-output cases for the function-calling verifier, BFCL rows included: nesting, width, duplicate keys,
numbers, encodings, garbage, injection, tags, optional arguments, size and types. Assembled with the other
verifiers' cases by hostile_corpus.corpus(); strings here that spell code are inputs to refuse, never run.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.hostile_case import (
    DEEP, DEFAULT_SENTINEL, FUNCTION_CALLING, OPTIONAL_TOOLS, RATE, TEN_MB, TOOLS, WEATHER, WIDE, Case,
)

# -- function calling -------------------------------------------------------------------------------------------

def _fc(category: str, name: str, response: Any, reason: str | None = None, *, gold=(WEATHER,),
        correct: bool = False, tools: list[dict] = TOOLS) -> Case:
    row = {"task_id": f"fc-hostile-{name}", "query": "Weather in Paris for 3 days?", "tools": tools,
           "answers": list(gold)}
    return Case(FUNCTION_CALLING, category, name, response, row, correct, "correct" if correct else reason,
                FUNCTION_CALLING)


def tool_block(text: str) -> str:
    return f"<tool_call>{text}</tool_call>"


def weather_call(arguments_body: str, name: str = "get_weather") -> str:
    """A tool_call block with one call whose arguments object has the given raw JSON body."""
    return tool_block(f'[{{"name": "{name}", "arguments": {{{arguments_body}}}}}]')


def function_calling_cases(sentinel: str = DEFAULT_SENTINEL) -> list[Case]:
    """Function-calling answers: nesting, width, duplicate keys, odd numbers, encodings, garbage, injection."""
    return (_fc_baseline() + _fc_nesting() + _fc_width() + _fc_duplicates() + _fc_numbers() + _fc_encoding()
            + _fc_garbage() + function_calling_injection_cases(sentinel) + _fc_tags() + _fc_optional() + _fc_size() + _fc_types()
            + _fc_bfcl())


def _fc_baseline() -> list[Case]:
    good = json.dumps([WEATHER])
    both = (WEATHER, RATE)
    padded = tool_block(good) + " " * (20_000 - len(tool_block(good)))
    return [
        _fc("baseline", "block", tool_block(good), correct=True),
        _fc("baseline", "object_block", tool_block(json.dumps(WEATHER)), correct=True),
        _fc("baseline", "native_blocks", tool_block(json.dumps(RATE)) + "\n" + tool_block(json.dumps(WEATHER)), gold=both,
            correct=True),
        _fc("baseline", "bare_list", good, correct=True),
        _fc("baseline", "fenced", f"```json\n{good}\n```", correct=True),
        _fc("baseline", "text_around", f"Sure.\n{tool_block(good)}\nDone.", correct=True),
        _fc("baseline", "surrogates_outside", f"\ud800{tool_block(good)}\udfff", correct=True),
        _fc("baseline", "rtl_and_bom_outside", f"\ufeff\u202e{tool_block(good)}\u202c", correct=True),
        _fc("baseline", "float_equals_int", weather_call('"city": "Paris", "days": 3.0'), correct=True),
        _fc("baseline", "exponent_equals_int", weather_call('"city": "Paris", "days": 3e0'), correct=True),
        _fc("baseline", "trimmed_string", weather_call('"city": " Paris ", "days": 3'), correct=True),
        _fc("baseline", "key_order", weather_call('"days": 3, "city": "Paris"'), correct=True),
        _fc("baseline", "unicode_escape", weather_call('"city": "\\u0050aris", "days": 3'), correct=True),
        _fc("baseline", "at_length_bound", padded, correct=True),
        _fc("baseline", "wrong_value", weather_call('"city": "Rome", "days": 3'), "wrong_value:city"),
    ]


def _fc_nesting() -> list[Case]:
    deep_value = "[" * 25 + "3" + "]" * 25
    ok_value = "[" * 15 + "3" + "]" * 15
    return [
        _fc("nesting", "lists_100k", "[" * DEEP, "too_long"),
        _fc("nesting", "objects_100k_in_block", tool_block("{" * DEEP), "too_long"),
        _fc("nesting", "balanced_100k", "[" * DEEP + "]" * DEEP, "too_long"),
        _fc("nesting", "mixed_100k", '{"a":[' * (DEEP // 6), "too_long"),
        _fc("nesting", "lists_9000_in_bound", "[" * 9000 + "]" * 9000, "too_deep"),
        _fc("nesting", "lists_21_in_block", tool_block("[" * 21 + "]" * 21), "too_deep"),
        _fc("nesting", "deep_argument_value", weather_call(f'"city": "Paris", "days": {deep_value}'), "too_deep"),
        _fc("nesting", "deep_value_in_bound", weather_call(f'"city": "Paris", "days": {ok_value}'), "wrong_value:days"),
        _fc("nesting", "brackets_in_string", weather_call('"city": "' + "[" * 5000 + '", "days": 3'), "wrong_value:city"),
        _fc("nesting", "unterminated_string", tool_block('[{"name": "get_weather", "arguments": {"city": "' + "[" * 5000),
            "unparseable"),
    ]


def _fc_width() -> list[Case]:
    call = json.dumps(WEATHER)
    many_args = ", ".join(f'"k{i}": {i}' for i in range(1000))
    return [
        _fc("width", "array_1m", "[" + "0," * WIDE + "0]", "too_long"),
        _fc("width", "object_1m", tool_block("{" + ",".join(f'"k{i}":0' for i in range(WIDE)) + "}"), "too_long"),
        _fc("width", "int_array_in_bound", tool_block("[" + "1," * 9000 + "1]"), "unparseable"),
        _fc("width", "empty_objects_in_bound", tool_block("[" + "{}," * 6000 + "{}]"), "unparseable"),
        _fc("width", "calls_250", tool_block("[" + ",".join([call] * 250) + "]"), "wrong_count"),
        _fc("width", "arguments_1000", weather_call(f'"city": "Paris", "days": 3, {many_args}'), "extra_argument:k0"),
        _fc("width", "blocks_800_empty", tool_block("{}") * 800, "unparseable"),
        _fc("width", "blocks_200_calls", tool_block(call) * 200, "wrong_count"),
    ]


def _fc_duplicates() -> list[Case]:
    dup = "unparseable:duplicate_key"
    return [
        _fc("duplicate_keys", "argument", weather_call('"city": "Rome", "city": "Paris", "days": 3'), dup),
        _fc("duplicate_keys", "name", tool_block('[{"name": "get_rate", "name": "get_weather", "arguments": {}}]'), dup),
        _fc("duplicate_keys", "nested_value", weather_call('"city": "Paris", "days": {"a": 1, "a": 2}'), dup),
        _fc("duplicate_keys", "escaped_spelling", weather_call('"city": "Rome", "\\u0063ity": "Paris", "days": 3'), dup),
        _fc("duplicate_keys", "thousand_times", weather_call(", ".join(['"days": 3'] * 1000) + ', "city": "Paris"'), dup),
    ]


def _fc_numbers() -> list[Case]:
    def days(literal: str) -> str:
        return weather_call(f'"city": "Paris", "days": {literal}')

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
        _fc("encoding", "raw_lone_surrogate", weather_call('"city": "\ud800", "days": 3'), "wrong_value:city"),
        _fc("encoding", "escaped_lone_surrogate", weather_call('"city": "\\ud800", "days": 3'), "wrong_value:city"),
        _fc("encoding", "surrogate_key", weather_call('"\\udfff": "Paris", "days": 3'), "missing_argument:city"),
        _fc("encoding", "invalid_utf8_surrogateescape", raw.decode("utf-8", "surrogateescape"), "wrong_value:city"),
        _fc("encoding", "invalid_utf8_replace", raw.decode("utf-8", "replace"), "wrong_value:city"),
        _fc("encoding", "mojibake_latin1", "Par\u00e9s".encode().decode("latin-1").join(
            ['<tool_call>[{"name": "get_weather", "arguments": {"city": "', '", "days": 3}}]</tool_call>']),
            "wrong_value:city"),
        _fc("encoding", "bom_inside_block", tool_block("\ufeff" + json.dumps([WEATHER])), "unparseable"),
        _fc("encoding", "bom_bare", "\ufeff" + json.dumps([WEATHER]), "unparseable"),
        _fc("encoding", "raw_null_in_string", weather_call('"city": "Par\x00is", "days": 3'), "unparseable"),
        _fc("encoding", "escaped_null_in_string", weather_call('"city": "Paris\\u0000", "days": 3'), "wrong_value:city"),
        _fc("encoding", "raw_newline_in_string", weather_call('"city": "Par\nis", "days": 3'), "unparseable"),
        _fc("encoding", "cyrillic_lookalike_key", weather_call('"\u0441ity": "Paris", "days": 3'),
            "missing_argument:city"),
        _fc("encoding", "smart_quotes", tool_block("[{\u201cname\u201d: \u201cget_weather\u201d}]"), "unparseable"),
        _fc("encoding", "rtl_override_in_value", weather_call('"city": "\u202esiraP", "days": 3'), "wrong_value:city"),
        _fc("encoding", "control_chars_in_key", weather_call('"city": "Paris", "days": 3, "\\u0000\\n\\u001b[2J": 1'),
            "extra_argument:\\x00\\n\\x1b[2J"),
        _fc("encoding", "truncated_escape", weather_call('"city": "Paris\\u00", "days": 3'), "unparseable"),
    ]


def _fc_garbage() -> list[Case]:
    good = json.dumps([WEATHER])
    return [
        _fc("garbage", "trailing_garbage", tool_block(good + "xyz"), "unparseable"),
        _fc("garbage", "leading_garbage", tool_block("xyz" + good), "unparseable"),
        _fc("garbage", "two_values_in_block", tool_block(good + good), "unparseable"),
        _fc("garbage", "two_code_fences", f"```json\n{good}\n```\n```json\n{good}\n```", "unparseable"),
        _fc("garbage", "single_quotes", tool_block(good.replace('"', "'")), "unparseable"),
        _fc("garbage", "python_literals", weather_call('"city": None, "days": True'), "unparseable"),
        _fc("garbage", "js_comment", tool_block("// call\n" + good), "unparseable"),
        _fc("garbage", "trailing_comma", weather_call('"city": "Paris", "days": 3,'), "unparseable"),
        _fc("garbage", "empty_block", tool_block(""), "unparseable"),
        _fc("garbage", "empty_response", "", "unparseable"),
        _fc("garbage", "null", tool_block("null"), "unparseable"),
        _fc("garbage", "extra_call_key", tool_block('[{"name": "get_weather", "arguments": {}, "id": 1}]'), "unparseable"),
        _fc("garbage", "arguments_as_string", tool_block('[{"name": "get_weather", "arguments": "{}"}]'), "unparseable"),
        _fc("garbage", "name_not_string", tool_block('[{"name": 3, "arguments": {}}]'), "unparseable"),
        _fc("garbage", "truncated", tool_block(good[:-3]), "unparseable"),
    ]


def function_calling_injection_cases(sentinel: str) -> list[Case]:
    touch = f"__import__('os').system('touch {sentinel}')"
    code_arg = json.dumps({"source": touch})[1:-1]
    return [
        _fc("injection", "code_as_name", tool_block(json.dumps([{"name": touch, "arguments": {}}])), "wrong_function"),
        _fc("injection", "code_as_block", tool_block(touch), "unparseable"),
        _fc("injection", "code_bare", touch, "unparseable"),
        _fc("injection", "eval_call", weather_call(code_arg, name="eval"), "wrong_function"),
        _fc("injection", "open_call", tool_block(json.dumps([{"name": "open", "arguments": {"file": sentinel,
                                                                                        "mode": "w"}}])),
            "wrong_function"),
        _fc("injection", "dunder_argument", weather_call('"city": "Paris", "days": 3, "__class__": {"__init__": "x"}'),
            "extra_argument:__class__"),
        _fc("injection", "proto_pollution", weather_call('"city": "Paris", "days": 3, "__proto__": {"admin": true}'),
            "extra_argument:__proto__"),
        _fc("injection", "template_in_value", weather_call('"city": "{{7*7}}${7*7}", "days": 3'), "wrong_value:city"),
        _fc("injection", "code_in_value", weather_call(f'"city": {json.dumps(touch)}, "days": 3'), "wrong_value:city"),
    ]


def _fc_tags() -> list[Case]:
    good = json.dumps([WEATHER])
    return [
        _fc("tags", "unclosed", f"<tool_call>{good}", "unparseable"),
        _fc("tags", "close_only", f"{good}</tool_call>", "unparseable"),
        _fc("tags", "nested", f"<tool_call>{tool_block(good)}</tool_call>", correct=True),
        # A tag inside a JSON string is argument text: the call parses, with the wrong city.
        _fc("tags", "close_tag_in_string", weather_call('"city": "</tool_call>", "days": 3'), "wrong_value:city"),
        _fc("tags", "open_tag_in_string", weather_call('"city": "<tool_call>", "days": 3'), "wrong_value:city"),
        _fc("tags", "open_tags_1800", "<tool_call>" * 1800, "unparseable"),
        _fc("tags", "open_tags_then_block", "<tool_call>" * 1700 + tool_block(good), correct=True),
        _fc("tags", "close_tags_1600", "</tool_call>" * 1600, "unparseable"),
        _fc("tags", "upper_case", f"<TOOL_CALL>{good}</TOOL_CALL>", "unparseable"),
    ]


def _fc_optional() -> list[Case]:
    """Optional arguments: left out or passed at their declared default is the same call; anything else is not."""
    def case(name: str, gold_args: dict, pred_args: dict, reason: str | None = None) -> Case:
        gold = ({"name": "get_weather", "arguments": gold_args},)
        response = tool_block(json.dumps([{"name": "get_weather", "arguments": pred_args}]))
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
    good = tool_block(json.dumps([WEATHER]))
    return [
        _fc("size", "10mb_junk", "x" * TEN_MB, "too_long"),
        _fc("size", "10mb_repeated_calls", good * (TEN_MB // len(good)), "too_long"),
        _fc("size", "10mb_string_value", weather_call('"city": "' + "P" * TEN_MB + '", "days": 3'), "too_long"),
        _fc("size", "over_bound_by_one", good + " " * (20_001 - len(good)), "too_long"),
    ]


def _fc_types() -> list[Case]:
    good = tool_block(json.dumps([WEATHER]))
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
    from r3_pipeline.tasks.function_calling.bfcl_data import read_bfcl_row

    truth = [{"get_weather": {"city": ["New York", "NYC"], "days": ["", 3], "hours": ["", [9]]}}] \
        if truth is None else truth
    row = read_bfcl_row({"id": f"hostile_{name}", "question": [[{"role": "user", "content": "Weather?"}]],
                         "function": [BFCL_WEATHER], "ground_truth": truth})
    return Case(FUNCTION_CALLING, "bfcl", name, response, row, correct, "correct" if correct else reason,
                FUNCTION_CALLING)


def _fc_bfcl() -> list[Case]:
    """BFCL rows: its acceptance rules hold, and nothing a model writes makes them accept more."""
    def call(body: str) -> str:
        return weather_call(body)

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
        _bfcl("parallel_swapped", tool_block(json.dumps([nyc, {**nyc, "arguments": {"city": "Boston"}}][::-1])),
              truth=[{"get_weather": {"city": ["NYC"]}}, {"get_weather": {"city": ["Boston"]}}], correct=True),
        _bfcl("parallel_same_twice", tool_block(json.dumps([nyc, nyc])),
              truth=[{"get_weather": {"city": ["NYC"]}}, {"get_weather": {"city": ["Boston"]}}],
              reason="wrong_value:city"),
        _bfcl("irrelevance_text", "No tool gives that.", truth=[], correct=True),
        _bfcl("irrelevance_call", tool_block(json.dumps([nyc])), truth=[], reason="unexpected_call"),
        _bfcl("irrelevance_broken_block", tool_block('[{"name": '), truth=[], reason="unparseable"),
        _bfcl("irrelevance_huge", "x" * TEN_MB, truth=[], reason="too_long"),
    ]
