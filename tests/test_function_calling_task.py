"""The function-calling task: synthetic generation, the catalog, splits, and the Task methods on every row."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from r3_pipeline.tasks import TASKS, make_task
from r3_pipeline.tasks.function_calling import FunctionCallingConfig, FunctionCallingTask
from r3_pipeline.tasks.function_calling.render import format_calls, render_tools
from r3_pipeline.tasks.function_calling.teacher import hint
from r3_pipeline.tasks.function_calling.data import validate_xlam_rows
from r3_pipeline.tasks.function_calling.synth import (
    SynthSettings,
    generate_xlam_rows,
    holdout_names,
    load_catalog,
)
from r3_pipeline.tasks.function_calling.parse import parse_calls

SMALL = {"num_train": 400, "num_test": 100}


@pytest.fixture(scope="module")
def default_splits():
    task = FunctionCallingTask(FunctionCallingConfig())
    return task, task.build_splits()


def called_names(row):
    return {call["name"] for call in row["answers"]}


def offered_names(row):
    return {tool["name"] for tool in row["tools"]}


# -- catalog ----------------------------------------------------------------------------------------------------

def test_catalog_size_domains_and_types():
    tools = load_catalog()
    assert len(tools) >= 50
    assert len({t.domain for t in tools}) >= 8
    assert all(len(t.templates) >= 2 for t in tools)
    types = {p.type for t in tools for p in t.params}
    assert {"int", "float", "str", "bool", "List[int]", "List[str]"} <= types
    assert sum(p.optional for t in tools for p in t.params) >= 20


def test_tool_schema_is_xlam_format():
    tool = next(t for t in load_catalog() if t.name == "get_current_weather")
    assert tool.schema() == {
        "name": "get_current_weather", "description": "Current weather conditions for a city.",
        "parameters": {"city": {"type": "str", "description": "City name, e.g. Paris."},
                       "units": {"type": "str, optional", "description": "metric or imperial.", "default": "metric"}},
    }


# -- generation -------------------------------------------------------------------------------------------------

def test_default_sizes_and_no_rejects(default_splits):  # their speed: `r3 bench tasks`
    _, splits = default_splits
    assert (len(splits.train), len(splits.test), splits.rejected) == (2000, 300, [])


def test_generation_is_deterministic():
    settings = SynthSettings(seed=5)
    assert generate_xlam_rows(50, 20, settings) == generate_xlam_rows(50, 20, settings)
    assert generate_xlam_rows(50, 20, settings) != generate_xlam_rows(50, 20, SynthSettings(seed=6))
    task = make_task("function_calling", {**SMALL, "seed": 5})
    assert task.build_splits() == task.build_splits()


def test_train_test_disjoint_and_unique(default_splits):
    _, splits = default_splits
    train = [r["query"] for r in splits.train]
    test = [r["query"] for r in splits.test]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    ids = [r["task_id"] for r in splits.train + splits.test]
    assert len(set(ids)) == len(ids) and all(i.startswith("fc-") for i in ids)


def test_parallel_fraction_and_candidate_tools(default_splits):
    _, splits = default_splits
    rows = splits.train + splits.test
    counts = Counter(len(r["answers"]) for r in rows)
    assert set(counts) == {1, 2} and 0.15 < counts[2] / len(rows) < 0.35
    assert all(1 <= len(r["tools"]) <= 4 and called_names(r) <= offered_names(r) for r in rows)
    assert any(len(r["tools"]) > len(called_names(r)) for r in rows)  # distractors occur
    repeated = [r for r in rows if len(r["answers"]) == 2 and len(called_names(r)) == 1]
    assert repeated and all(r["answers"][0] != r["answers"][1] for r in repeated)


def test_config_fractions_are_honoured():
    splits = make_task("function_calling", {**SMALL, "parallel_fraction": 0.0, "max_candidate_tools": 1}).build_splits()
    assert all(len(r["answers"]) == 1 and len(r["tools"]) == 1 for r in splits.train + splits.test)
    splits = make_task("function_calling", {**SMALL, "parallel_fraction": 1.0}).build_splits()
    assert all(len(r["answers"]) == 2 for r in splits.train + splits.test)


def test_holdout_tools_stay_out_of_train():
    task = make_task("function_calling", {"num_train": 1500, "num_test": 400, "holdout_tools": 6, "seed": 2})
    splits = task.build_splits()
    held = holdout_names(load_catalog(), 2, 6)
    assert len(held) == 6
    assert all(not offered_names(r) & held for r in splits.train)
    assert any(called_names(r) & held for r in splits.test)


def test_too_many_holdouts_or_rows_fail_cleanly():
    with pytest.raises(ValueError):
        make_task("function_calling", {"holdout_tools": 10_000}).build_splits()
    with pytest.raises(ValueError):
        make_task("function_calling", {"source": "data.jsonl", "holdout_tools": 2})


def test_rows_round_trip_through_xlam_format(default_splits):
    _, splits = default_splits
    rows = splits.train[:300] + splits.test
    raw = [{"id": r["id"], "query": r["query"], "tools": json.dumps(r["tools"]), "answers": json.dumps(r["answers"])}
           for r in rows]
    good, rejected = validate_xlam_rows(raw)
    assert rejected == [] and good == rows


# -- Task methods -----------------------------------------------------------------------------------------------

def test_reference_correct_and_corrupt_wrong_on_every_row(default_splits):
    task, splits = default_splits
    rng = random.Random(0)
    reasons = Counter()
    for row in splits.train + splits.test:
        assert task.verify(row, task.reference_response(row)).correct, row
        verdict = task.verify(row, task.corrupt_response(row, rng))
        assert not verdict.correct, row
        reasons[verdict.reason.split(":")[0]] += 1
    assert {"wrong_value", "missing_argument", "extra_argument", "wrong_function", "wrong_count"} <= set(reasons)


def test_prompt_messages_render_tools_and_query(default_splits):
    task, splits = default_splits
    row = splits.train[0]
    [message] = task.prompt_messages(row)
    assert message["role"] == "user" and row["query"] in message["content"]
    assert json.dumps(row["tools"], sort_keys=True, separators=(",", ":")) in message["content"]
    compact = make_task("function_calling", {"prompts_path": "assets/prompts/function_calling_compact.yaml"})
    [short] = compact.prompt_messages(row)
    assert len(short["content"]) < len(message["content"]) and row["query"] in short["content"]
    assert render_tools(row["tools"], "signature").count("\n") == len(row["tools"]) - 1


def test_reflection_and_retry_prompts():
    task = make_task("function_calling")
    assert task.reflection_prompt().startswith("You tried performing the task, but failed in generating the correct")
    assert "<tool_call>" in task.retry_prompt()


def test_teacher_reflection_names_the_problem_and_the_fix():
    row = {"query": "Weather in Paris?", "tools": [{"name": "get_weather", "parameters": {}},
                                                   {"name": "get_time", "parameters": {}}],
           "answers": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]}
    task = make_task("function_calling")
    cases = {
        '<tool_call>[{"name":"get_weather","arguments":{"city":"Rome","days":3}}]</tool_call>': "wrong value for city",
        '<tool_call>[{"name":"get_weather","arguments":{"city":"Paris"}}]</tool_call>': "left out the argument days",
        '<tool_call>[{"name":"get_time","arguments":{"city":"Paris","days":3}}]</tool_call>': "get_time instead of",
        "oops": "not a valid JSON list",
        "<tool_call>[]</tool_call>": "I made 0 calls, but the query needs 1.",
    }
    for wrong, expected in cases.items():
        text = task.teacher_reflection(row, wrong)
        assert expected in text and text.endswith("Call get_weather with city=Paris, days=3."), text
    assert hint([{"name": "f", "arguments": {}}, {"name": "g", "arguments": {"on": True}}]) == \
        "Call f with no arguments; then call g with on=true."
    # A follow conversation's reflection still names what was wrong, but proposes the given calls.
    proposal = '<tool_call>[{"name":"get_time","arguments":{"city":"Oslo"}}]</tool_call>'
    text = task.teacher_reflection(row, "<tool_call>[]</tool_call>", proposal)
    assert text == "I made 0 calls, but the query needs 1. Call get_time with city=Oslo."
    # reflection_hint 'calls' proposes the calls in the answer format, so a retry can copy them verbatim.
    calls = make_task("function_calling", {"reflection_hint": "calls"})
    text = calls.teacher_reflection(row, "<tool_call>[]</tool_call>")
    assert text.startswith("I made 0 calls, but the query needs 1. The right calls: <tool_call>")
    assert calls.verify(row, text.split("The right calls: ", 1)[1]).correct
    with pytest.raises(ValueError, match="reflection_hint"):
        make_task("function_calling", {"reflection_hint": "json"})


def test_check_reflections_go_through_each_call_against_the_query_before_the_fix():
    row = {"query": "Weather in Paris for 3 days?", "tools": [{"name": "get_weather", "parameters": {}},
                                                             {"name": "get_time", "parameters": {}}],
           "answers": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]}
    task = make_task("function_calling")
    cases = {
        '<tool_call>[{"name":"get_weather","arguments":{"city":"Rome","days":3}}]</tool_call>':
            "Check get_weather: city wrong: Paris, days ok.",
        '<tool_call>[{"name":"get_weather","arguments":{"days":3,"unit":"C"}}]</tool_call>':
            "Check get_weather: city missing: Paris, days ok, unit not asked.",
        '<tool_call>[{"name":"get_time","arguments":{}}]</tool_call>': "Check get_weather not called; get_time not asked.",
        "oops": "Check get_weather not called.",
    }
    for wrong, expected in cases.items():
        text = task.teacher_reflection(row, wrong, behaviour="check")
        assert text == f"{expected} Call get_weather with city=Paris, days=3.", text
    for behaviour in task.reflection_behaviours:
        text = task.teacher_reflection(row, "<tool_call>[]</tool_call>", behaviour=behaviour)
        assert task.reflection_behaviour(text) == behaviour, text
    assert task.teacher_reflection(row, "oops", behaviour="restate") == \
        "My answer was not a valid JSON list of calls inside <tool_call> tags. I will call the tools again."
    with pytest.raises(ValueError, match="unknown function-calling reflection behaviour 'search'"):
        task.teacher_reflection(row, "oops", behaviour="search")


def test_validate_row_for_verify_files(default_splits):
    task, splits = default_splits
    row = splits.test[0]
    assert task.validate_row(row) is None
    as_text = {"query": row["query"], "tools": json.dumps(row["tools"]), "answers": json.dumps(row["answers"])}
    assert task.validate_row(as_text) is None
    assert task.verify(as_text, task.reference_response(row)).correct
    assert task.validate_row({"query": "q", "tools": row["tools"]}) == "missing_field:answers"
    assert task.validate_row({**as_text, "answers": "{"}) == "bad_json:answers"
    assert task.validate_row([1]) == "not_an_object"
    assert task.verify({"answers": "{"}, "x").reason == "bad_row"  # verify stays total on a malformed row


def test_registry_and_config_checks():
    assert TASKS["function_calling"] == (FunctionCallingConfig, FunctionCallingTask)
    assert make_task("function_calling").name == "function_calling"
    for bad in ({"num_train": -1}, {"parallel_fraction": 1.5}, {"max_candidate_tools": 0}, {"seed": "x"},
                {"max_reject_rate": True}, {"native_tools": "yes"}, {"source": ""}):
        with pytest.raises(ValueError):
            make_task("function_calling", bad)
    with pytest.raises(ValueError):
        make_task("function_calling", {"no_such_key": 1})


def test_3000_rows_generate():  # their speed: `r3 bench tasks`
    train, test = generate_xlam_rows(2700, 300, SynthSettings(seed=9))
    assert len(train) + len(test) == 3000
    assert all(isinstance(parse_calls(f"<tool_call>{r['answers']}</tool_call>"), list) for r in train + test)


def test_verify_jsonl_scores_function_calling_rows(default_splits, tmp_path):
    from r3_pipeline.verify_file import verify_jsonl

    task, splits = default_splits
    row = splits.test[0]
    lines = [
        {**row, "response": task.reference_response(row)},
        {**row, "response": "no call"},
        {"query": row["query"], "tools": json.dumps(row["tools"]), "answers": json.dumps(row["answers"]),
         "response": task.reference_response(row)},
        {"query": row["query"], "tools": row["tools"], "response": "x"},
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(line) for line in lines))
    assert verify_jsonl(task, src, out).counts() == {"rows": 4, "correct": 2, "bad_rows": 1}
    reasons = [json.loads(line)["reason"] for line in out.read_text().splitlines()]
    assert reasons == ["correct", "unparseable", "correct", "bad_row:missing_field:answers"]


# -- optional parameters marked by a default only (BFCL-derived rows in the xLAM shape) --------------------------

BFCL_LIKE_ROW = {
    "task_id": "fc-bfcl-1", "query": "Weather in Paris for the next 3 days, in metric units?",
    "tools": [{"name": "get_weather", "description": "Forecast.", "parameters": {
        "city": {"type": "str", "description": "City."},
        "days": {"type": "int", "description": "Days ahead.", "default": 3},
        "units": {"type": "str", "description": "metric or imperial.", "default": "metric"}}}],
    "answers": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "units": "metric"}}],
}


def _calls(arguments: dict) -> str:
    return format_calls([{"name": "get_weather", "arguments": arguments}])


def test_default_marks_a_parameter_optional_in_what_the_model_sees():
    task = make_task("function_calling")
    [schema] = task.native_tool_schemas(BFCL_LIKE_ROW)
    assert schema["function"]["parameters"]["required"] == ["city"]
    assert render_tools(BFCL_LIKE_ROW["tools"], "signature") == (
        'get_weather(city: str, days: int = 3, units: str = "metric")')


@pytest.mark.parametrize("arguments, reason", [
    ({"city": "Paris"}, "correct"),
    ({"city": "Paris", "days": 3}, "correct"),
    ({"city": "Paris", "days": 3, "units": "metric"}, "correct"),
    ({"city": "Paris", "units": "imperial"}, "wrong_value:units"),
    ({"city": "Paris", "days": 3, "verbose": True}, "extra_argument:verbose"),
    ({"days": 3}, "missing_argument:city"),
])
def test_missing_optional_argument_is_not_an_error(arguments, reason):
    task = make_task("function_calling")
    verdict = task.verify(BFCL_LIKE_ROW, _calls(arguments))
    assert (verdict.correct, verdict.reason) == (reason == "correct", reason)
    as_text = {**BFCL_LIKE_ROW, "tools": json.dumps(BFCL_LIKE_ROW["tools"]),
               "answers": json.dumps(BFCL_LIKE_ROW["answers"])}
    assert task.verify(task.read_row(as_text), _calls(arguments)) == verdict


def test_gold_value_other_than_the_default_must_be_passed():
    task = make_task("function_calling")
    row = {**BFCL_LIKE_ROW, "answers": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 5}}]}
    assert task.verify(row, _calls({"city": "Paris"})).reason == "missing_argument:days"
    assert task.verify(row, _calls({"city": "Paris", "days": 5, "units": "metric"})).correct
