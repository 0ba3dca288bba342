"""The function-calling verifier is the reward signal: every reason code, the value rules, and hostile input."""

from __future__ import annotations

import json

import pytest

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.function_calling.parse import (
    MAX_DEPTH,
    MAX_RESPONSE_CHARS,
    JsonRejected,
    extract_blocks,
    loads_strict,
    nesting_exceeds,
    parse_calls,
)
from r3_pipeline.tasks.function_calling.verify import values_equal, verify_calls

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
RATE = {"name": "get_rate", "arguments": {"base": "USD", "target": "EUR"}}


def answer(calls) -> str:
    return f"<tool_call>{json.dumps(calls)}</tool_call>"


def reason(gold, response) -> str:
    verdict = verify_calls(gold, response)
    assert isinstance(verdict, Verdict)
    return verdict.reason


# -- correct answers --------------------------------------------------------------------------------------------

def test_exact_answer_is_correct():
    assert verify_calls([WEATHER], answer([WEATHER])) == Verdict(True, "correct")


def test_text_around_the_block_is_ignored():
    assert reason([WEATHER], f"Let me call it.\n{answer([WEATHER])}\nDone.") == "correct"


def test_parallel_calls_in_any_order():
    assert reason([WEATHER, RATE], answer([RATE, WEATHER])) == "correct"


def test_repeated_function_names_swapped():
    paris = {"name": "get_weather", "arguments": {"city": "Paris"}}
    rome = {"name": "get_weather", "arguments": {"city": "Rome"}}
    assert reason([paris, rome], answer([rome, paris])) == "correct"
    assert reason([paris, rome], answer([rome, rome])) == "wrong_value:city"
    assert reason([paris, paris], answer([paris, rome])) == "wrong_value:city"


def test_native_multi_block_output():
    text = "\n".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in (RATE, WEATHER))
    assert reason([WEATHER, RATE], text) == "correct"


def test_blocks_holding_lists_and_objects_are_concatenated():
    text = f"<tool_call>{json.dumps([RATE])}</tool_call><tool_call>{json.dumps(WEATHER)}</tool_call>"
    assert reason([WEATHER, RATE], text) == "correct"


def test_bare_json_list_object_and_fence_without_tags():
    assert reason([WEATHER], json.dumps([WEATHER])) == "correct"
    assert reason([WEATHER], json.dumps(WEATHER)) == "correct"
    assert reason([WEATHER], f"```json\n{json.dumps([WEATHER])}\n```") == "correct"


def test_call_without_arguments_key_means_no_arguments():
    gold = [{"name": "get_unread", "arguments": {}}]
    assert reason(gold, '<tool_call>{"name": "get_unread"}</tool_call>') == "correct"


def test_stray_open_tag_does_not_leak_into_block():
    assert extract_blocks("<tool_call> junk <tool_call>[1]</tool_call>") == ["[1]"]
    assert extract_blocks("<tool_call>[1]") == []
    gold = [{"name": "get_unread", "arguments": {}}]
    assert reason(gold, '<tool_call> junk <tool_call>{"name": "get_unread"}</tool_call>') == "correct"


@pytest.mark.parametrize("value", ["<tool_call>", "</tool_call>", "a <tool_call>b</tool_call> c"])
def test_tags_inside_argument_strings_are_argument_text(value):
    call = {"name": "f", "arguments": {"note": value}}
    assert reason([call], answer([call])) == "correct"
    other = {"name": "f", "arguments": {"note": value + "x"}}
    assert reason([call], answer([other])) == "wrong_value:note"


# -- value rules ------------------------------------------------------------------------------------------------

def test_numbers_compare_by_value():
    as_float = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3.0}}
    assert reason([WEATHER], answer([as_float])) == "correct"
    assert values_equal(5, 5.0) and values_equal(5.0, 5)


def test_bool_is_never_a_number():
    gold = [{"name": "f", "arguments": {"flag": True, "n": 1}}]
    assert reason(gold, answer([{"name": "f", "arguments": {"flag": 1, "n": 1}}])) == "wrong_value:flag"
    assert reason(gold, answer([{"name": "f", "arguments": {"flag": True, "n": True}}])) == "wrong_value:n"
    assert not values_equal(False, 0) and not values_equal(0, False)


def test_strings_case_sensitive_trimmed_and_typed():
    gold = [{"name": "f", "arguments": {"city": "Paris"}}]
    assert reason(gold, answer([{"name": "f", "arguments": {"city": " Paris "}}])) == "correct"
    assert reason(gold, answer([{"name": "f", "arguments": {"city": "paris"}}])) == "wrong_value:city"
    assert not values_equal("5", 5)


def test_dict_key_order_irrelevant_list_order_significant():
    gold = [{"name": "f", "arguments": {"a": 1, "b": 2, "opts": {"x": 1, "y": [1, 2]}}}]
    reordered = '<tool_call>[{"arguments": {"opts": {"y": [1, 2], "x": 1}, "b": 2, "a": 1}, "name": "f"}]</tool_call>'
    assert reason(gold, reordered) == "correct"
    flipped = [{"name": "f", "arguments": {"a": 1, "b": 2, "opts": {"x": 1, "y": [2, 1]}}}]
    assert reason(gold, answer(flipped)) == "wrong_value:opts"


def test_null_only_equals_null():
    assert values_equal(None, None)
    for other in (0, "", False, [], {}):
        assert not values_equal(None, other) and not values_equal(other, None)


# -- reason codes -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "response, expected",
    [
        ("no calls here", "unparseable"),
        ("<tool_call>[{'name': 'get_weather'}]</tool_call>", "unparseable"),  # not JSON (single quotes)
        ("<tool_call>42</tool_call>", "unparseable"),
        ('<tool_call>"get_weather"</tool_call>', "unparseable"),
        ("<tool_call>[[]]</tool_call>", "unparseable"),
        ('<tool_call>[{"name": 3, "arguments": {}}]</tool_call>', "unparseable"),
        ('<tool_call>[{"name": "f", "arguments": [1]}]</tool_call>', "unparseable"),
        ('<tool_call>[{"name": "f", "arguments": {}, "id": 1}]</tool_call>', "unparseable"),
        ('<tool_call>[{"name": "f", "arguments": "{}"}]</tool_call>', "unparseable"),
        (None, "unparseable"),
    ],
)
def test_unparseable(response, expected):
    assert reason([WEATHER], response) == expected


def test_wrong_count():
    assert reason([WEATHER], answer([WEATHER, WEATHER])) == "wrong_count"
    assert reason([WEATHER, RATE], answer([WEATHER])) == "wrong_count"
    assert reason([WEATHER], answer([])) == "wrong_count"


def test_wrong_function():
    assert reason([WEATHER], answer([{"name": "get_forecast", "arguments": WEATHER["arguments"]}])) == "wrong_function"
    assert reason([WEATHER, RATE], answer([WEATHER, WEATHER])) == "wrong_function"


def test_missing_extra_and_wrong_value():
    base = {"name": "get_weather"}
    assert reason([WEATHER], answer([{**base, "arguments": {"city": "Paris"}}])) == "missing_argument:days"
    extra = {"city": "Paris", "days": 3, "units": "metric"}
    assert reason([WEATHER], answer([{**base, "arguments": extra}])) == "extra_argument:units"
    assert reason([WEATHER], answer([{**base, "arguments": {"city": "Rome", "days": 3}}])) == "wrong_value:city"


# -- optional arguments: declared defaults ---------------------------------------------------------------------

TOOLS = [{"name": "get_weather", "parameters": {"city": {"type": "str"}, "days": {"type": "int", "default": 3},
                                                "units": {"type": "str, optional", "default": "metric"}}},
         {"name": "get_rate", "parameters": {"base": {"type": "str"}, "days": {"type": "int"}}}]


@pytest.mark.parametrize("gold_args, pred_args, expected", [
    ({"city": "Paris", "days": 3}, {"city": "Paris"}, "correct"),  # left out at its default: the same call
    ({"city": "Paris", "days": 3, "units": "metric"}, {"city": "Paris"}, "correct"),
    ({"city": "Paris", "days": 3}, {"city": "Paris", "days": 3.0}, "correct"),
    ({"city": "Paris", "days": 3}, {"city": "Paris", "days": 3, "units": " metric "}, "correct"),
    ({"city": "Paris"}, {"city": "Paris", "days": 3}, "correct"),  # passed at its default: the same call
    ({"city": "Paris", "days": 5}, {"city": "Paris"}, "missing_argument:days"),  # the default is not asked for
    ({"city": "Paris", "days": 5}, {"city": "Paris", "days": 3}, "wrong_value:days"),
    ({"city": "Paris", "days": 3}, {"city": "Paris", "days": 4}, "wrong_value:days"),
    ({"city": "Paris"}, {"city": "Paris", "days": 4}, "extra_argument:days"),
    ({"city": "Paris", "days": 3}, {"city": "Paris", "verbose": True}, "extra_argument:verbose"),  # unknown
    ({"city": "Paris", "days": 3}, {"days": 3}, "missing_argument:city"),  # required, no default
    ({"city": "Paris", "days": 3}, {"city": "Paris", "days": "3"}, "wrong_value:days"),
    ({"city": "Paris", "days": 3}, {"city": "Paris", "days": True}, "wrong_value:days"),
])
def test_declared_defaults(gold_args, pred_args, expected):
    gold = [{"name": "get_weather", "arguments": gold_args}]
    verdict = verify_calls(gold, answer([{"name": "get_weather", "arguments": pred_args}]), TOOLS)
    assert verdict == Verdict(expected == "correct", expected)


def test_declared_defaults_belong_to_their_tool():
    gold = [{"name": "get_rate", "arguments": {"base": "USD", "days": 3}}]
    pred = [{"name": "get_rate", "arguments": {"base": "USD"}}]
    assert reason(gold, answer(pred)) == "missing_argument:days"
    assert verify_calls(gold, answer(pred), TOOLS) == Verdict(False, "missing_argument:days")


def test_parallel_calls_with_defaults_match_in_any_order():
    gold = [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}},
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Rome", "days": 5}}]
    pred = [{"name": "get_weather", "arguments": {"city": "Rome", "days": 5}},
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]
    assert verify_calls(gold, answer(pred), TOOLS) == Verdict(True, "correct")
    pred[0] = {"name": "get_weather", "arguments": {"city": "Rome"}}
    assert verify_calls(gold, answer(pred), TOOLS) == Verdict(False, "missing_argument:days")


def test_reason_order_is_deterministic():
    # missing before extra, names in sorted order
    pred = [{"name": "get_weather", "arguments": {"zzz": 1, "days": 4}}]
    assert reason([WEATHER], answer(pred)) == "missing_argument:city"
    pred = [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 4}}]
    assert reason([WEATHER], answer(pred)) == "wrong_value:city"


def test_too_long_before_parsing():
    assert reason([WEATHER], "x" * (MAX_RESPONSE_CHARS + 1)) == "too_long"
    padded = answer([WEATHER]) + " " * (MAX_RESPONSE_CHARS - len(answer([WEATHER])))
    assert reason([WEATHER], padded) == "correct"


def test_too_deep():
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert reason([WEATHER], f"<tool_call>{deep}</tool_call>") == "too_deep"
    assert reason([WEATHER], "[" * 5000) == "too_deep"
    # brackets inside strings do not count
    value = "[" * 100
    gold = [{"name": "f", "arguments": {"s": value}}]
    assert reason(gold, answer(gold)) == "correct"
    assert not nesting_exceeds(json.dumps({"s": '\\"[[[['}), 3)


def test_nan_infinity_and_overflow_rejected():
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "-1e400"):
        call = f'{{"name": "get_weather", "arguments": {{"city": "Paris", "days": {literal}}}}}'
        text = f"<tool_call>[{call}]</tool_call>"
        assert reason([WEATHER], text) == "unparseable", literal


def test_huge_integer_literal_is_unparseable():
    text = '<tool_call>[{"name": "f", "arguments": {"n": ' + "9" * 10_000 + "}}]</tool_call>"
    assert reason([{"name": "f", "arguments": {"n": 1}}], text) == "unparseable"


def test_duplicate_keys_rejected():
    text = '<tool_call>[{"name": "get_weather", "arguments": {"city": "Rome", "city": "Paris", "days": 3}}]</tool_call>'
    assert reason([WEATHER], text) == "unparseable:duplicate_key"
    with pytest.raises(JsonRejected):
        loads_strict('{"a": 1, "a": 1}')


# -- hostile input ----------------------------------------------------------------------------------------------

# The time these take is measured by `r3 bench tasks`; here, what they return.

def test_100k_nested_brackets_are_too_long():
    for text in ("[" * 100_000, "<tool_call>" + "[" * 100_000 + "</tool_call>", "{" * 100_000):
        assert reason([WEATHER], text) == "too_long"


def test_loads_strict_deep_input_within_size_bound_never_recurses():
    with pytest.raises(JsonRejected) as err:
        loads_strict("[" * 100_000 + "]" * 100_000, max_chars=10**6)
    assert err.value.reason == "too_deep"


def test_10mb_output():
    huge = answer([WEATHER]) * (10_000_000 // len(answer([WEATHER])))
    assert reason([WEATHER], huge) == "too_long"


def test_many_tags_within_bound_are_unparseable():
    text = "<tool_call>" * (MAX_RESPONSE_CHARS // len("<tool_call>"))
    assert reason([WEATHER], text) == "unparseable"


def test_lone_surrogates_and_junk_never_raise():
    gold = [{"name": "f", "arguments": {"s": "x"}}]
    junk = [
        "\ud800<tool_call>[]</tool_call>\udfff",
        '<tool_call>[{"name": "f", "arguments": {"s": "\ud800"}}]</tool_call>',
        '<tool_call>[{"name": "f", "arguments": {"s": "\\ud800"}}]</tool_call>',
        '<tool_call>[{"name": "f", "arguments": {"\\ud800": "x"}}]</tool_call>',
        "\x00\x01\x02 \ufffe \U0010ffff",
        "<tool_call>\ud83d</tool_call>",
        b"\xff\xfe".decode("latin-1"),
    ]
    for text in junk:
        verdict = verify_calls(gold, text)
        assert verdict.correct is False
        verdict.reason.encode("utf-8")  # reason codes are always writable as UTF-8
    assert reason(gold, junk[1]) == "wrong_value:s"
    assert reason(gold, junk[3]).startswith("missing_argument:s")


def test_extra_argument_name_is_escaped_and_bounded():
    gold = [{"name": "f", "arguments": {}}]
    name = "\ud800" + "k" * 500
    text = answer([{"name": "f", "arguments": {name: 1}}])
    got = reason(gold, text)
    assert got.startswith("extra_argument:\\ud800")
    assert len(got) <= len("extra_argument:") + 64


def test_parse_calls_returns_calls_or_verdict():
    assert parse_calls(answer([WEATHER])) == [WEATHER]
    assert parse_calls("nothing") == Verdict(False, "unparseable")


def test_never_raises_on_non_string_inputs():
    for response in (None, 5, b"<tool_call>[]</tool_call>", ["x"], {"a": 1}):
        assert verify_calls([WEATHER], response).correct is False
