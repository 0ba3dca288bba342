"""BFCL natively: rows written here in BFCL's own format (question and possible_answer files, one JSON object per
line) are read into function-calling rows, scored by BFCL's AST acceptance rules, mined as a task source and
verified by `r3 verify`; malformed rows are rejected with reasons, never fatal."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from r3_pipeline import cli, verify_cli
from r3_pipeline.tasks.function_calling.bfcl_data import Answers, read_bfcl_row, validate_bfcl_rows
from r3_pipeline.tasks.function_calling.bfcl_package import bfcl_data_dir
from r3_pipeline.tasks.function_calling.bfcl_verify import verify_bfcl
from r3_pipeline.tasks.function_calling import FunctionCallingConfig, FunctionCallingTask
from r3_pipeline.tasks.function_calling.data import RowRejected

AREA = {"name": "calc_area", "description": "Area of a triangle.", "parameters": {
    "type": "dict", "required": ["base", "height"],
    "properties": {"base": {"type": "integer", "description": "Base."}, "height": {"type": "float"},
                   "unit": {"type": "string", "description": "Unit (default 'units')."}}}}
WEATHER = {"name": "weather.get", "description": "Weather in a city.", "parameters": {
    "type": "dict", "required": ["city"],
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"},
                   "hours": {"type": "array", "items": {"type": "integer"}},
                   "filters": {"type": "dict", "properties": {"rain": {"type": "boolean"}}}}}}
PLAY = {"name": "spotify.play", "description": "Play an artist.", "parameters": {
    "type": "dict", "required": ["artist", "duration"],
    "properties": {"artist": {"type": "string"}, "duration": {"type": "integer"}}}}


def question(text: str, system: str | None = None) -> list[list[dict]]:
    turn = [{"role": "system", "content": system}] if system else []
    return [turn + [{"role": "user", "content": text}]]


QUESTIONS = [
    {"id": "simple_0", "question": question("Area of a triangle with base 10 and height 5?"), "function": [AREA]},
    {"id": "multiple_0", "question": question("Weather in New York for 3 days?"), "function": [AREA, WEATHER]},
    {"id": "parallel_0", "question": question("Play Taylor Swift for 20 minutes and Maroon 5 for 15."),
     "function": [PLAY]},
    {"id": "parallel_multiple_0", "question": question("Play Adele for 5 minutes, and the weather in Paris?",
                                                       system="You are a helpful assistant."),
     "function": [PLAY, WEATHER]},
    {"id": "irrelevance_0", "question": question("Who wrote Hamlet?"), "function": [AREA]},
]
ANSWERS = [
    {"id": "simple_0", "ground_truth": [{"calc_area": {"base": [10], "height": [5.0], "unit": ["units", ""]}}]},
    {"id": "multiple_0", "ground_truth": [{"weather.get": {"city": ["New York", "NYC"], "days": [3],
                                                          "metric": ["", True], "hours": ["", [9, 12]],
                                                          "filters": ["", {"rain": [True]}]}}]},
    {"id": "parallel_0", "ground_truth": [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
                                          {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]},
    {"id": "parallel_multiple_0", "ground_truth": [{"spotify.play": {"artist": ["Adele"], "duration": [5]}},
                                                   {"weather.get": {"city": ["Paris"]}}]},
]
TRUTH = {row["id"]: row["ground_truth"] for row in ANSWERS}


def answer(*calls: tuple[str, dict]) -> str:
    return "<tool_call>" + json.dumps([{"name": n, "arguments": a} for n, a in calls]) + "</tool_call>"


def verdict(row_id: str, response: str) -> str:
    doc = next(q for q in QUESTIONS if q["id"] == row_id)
    return verify_bfcl(doc["function"], TRUTH.get(row_id, []), response).reason


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# -- the checker: BFCL's acceptance rules -----------------------------------------------------------------------

@pytest.mark.parametrize("arguments", [
    {"base": 10, "height": 5.0},                     # "" among unit's values: unit may be left out
    {"base": 10, "height": 5},                       # an integer is accepted for a float
    {"base": 10, "height": 5.0, "unit": "units"},
    {"base": 10, "height": 5.0, "unit": " Units"},   # BFCL's standardisation: case and spaces
])
def test_simple_accepts_each_acceptable_form(arguments):
    assert verdict("simple_0", answer(("calc_area", arguments))) == "correct"


def test_a_value_of_the_acceptable_values_own_type_is_compared_as_written():
    # BFCL's "variable" rule: a documented integer whose acceptable value is a string (a variable name)
    truth = [{"calc_area": {"base": ["b"], "height": [1.0]}}]
    assert verify_bfcl([AREA], truth, answer(("calc_area", {"base": "b", "height": 1}))).reason == "correct"
    assert verify_bfcl([AREA], truth, answer(("calc_area", {"base": "B", "height": 1}))).reason == \
        "wrong_value:base"
    # Exactly as written, as BFCL's == compares: outer whitespace is not stripped here.
    assert verify_bfcl([AREA], truth, answer(("calc_area", {"base": " b", "height": 1}))).reason == \
        "wrong_value:base"


@pytest.mark.parametrize("city", ["New York", "NYC", "new york", "New-York", "new_york.", "NEW YORK"])
def test_each_alternative_string_value_is_accepted_after_standardisation(city):
    assert verdict("multiple_0", answer(("weather.get", {"city": city, "days": 3}))) == "correct"


@pytest.mark.parametrize("extra", [{"metric": True}, {"hours": [9, 12]}, {"filters": {"rain": True}}, {}])
def test_optional_values_given_or_left_out(extra):
    assert verdict("multiple_0", answer(("weather.get", {"city": "NYC", "days": 3, **extra}))) == "correct"


@pytest.mark.parametrize("arguments, reason", [
    ({"base": 10, "height": 6.0}, "wrong_value:height"),
    ({"base": 10.0, "height": 5.0}, "wrong_type:base"),              # a float is not an integer
    ({"base": True, "height": 5.0}, "wrong_type:base"),              # a boolean is never a number
    ({"base": "10", "height": 5.0}, "wrong_type:base"),
    ({"base": 10, "height": 5.0, "unit": "meters"}, "wrong_value:unit"),
    ({"base": 10, "height": 5.0, "unit": ""}, "wrong_value:unit"),   # "" only allows leaving out
    ({"base": 10, "height": 5.0, "color": "red"}, "extra_argument:color"),
    ({"height": 5.0}, "missing_argument:base"),                       # required by the function doc
])
def test_simple_refuses(arguments, reason):
    assert verdict("simple_0", answer(("calc_area", arguments))) == reason


def test_an_expected_argument_without_the_empty_marker_must_be_given():
    # days is not in the doc's `required`, but the possible answer has no "" for it
    assert verdict("multiple_0", answer(("weather.get", {"city": "NYC"}))) == "missing_argument:days"


@pytest.mark.parametrize("extra, reason", [
    ({"metric": 1}, "wrong_type:metric"),
    ({"hours": [12, 9]}, "wrong_value:hours"),         # list order matters
    ({"hours": []}, "wrong_value:hours"),              # an empty list is not the "" marker
    ({"filters": {"rain": False}}, "wrong_value:filters"),
    ({"filters": {"snow": True}}, "wrong_value:filters"),
])
def test_multiple_refuses_wrong_values(extra, reason):
    assert verdict("multiple_0", answer(("weather.get", {"city": "NYC", "days": 3, **extra}))) == reason


def test_multiple_wrong_function_and_count():
    assert verdict("multiple_0", answer(("calc_area", {"base": 1, "height": 2}))) == "wrong_function"
    assert verdict("multiple_0", answer(("weather.get", {"city": "NYC", "days": 3}),
                                        ("weather.get", {"city": "NYC", "days": 3}))) == "wrong_count"


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_parallel_calls_in_either_order(order):
    calls = [("spotify.play", {"artist": "Taylor Swift", "duration": 20}),
             ("spotify.play", {"artist": "maroon 5", "duration": 15})]
    assert verdict("parallel_0", answer(*(calls[i] for i in order))) == "correct"
    mixed = [("weather.get", {"city": "paris"}), ("spotify.play", {"artist": "Adele", "duration": 5})]
    assert verdict("parallel_multiple_0", answer(*(mixed[i] for i in order))) == "correct"


def test_parallel_matching_is_one_to_one():
    same_twice = answer(("spotify.play", {"artist": "Taylor Swift", "duration": 20}),
                        ("spotify.play", {"artist": "Taylor Swift", "duration": 20}))
    assert verdict("parallel_0", same_twice) == "wrong_value:artist"
    swapped = answer(("spotify.play", {"artist": "Taylor Swift", "duration": 15}),
                     ("spotify.play", {"artist": "Maroon 5", "duration": 20}))
    assert verdict("parallel_0", swapped) == "wrong_value:duration"


def test_parallel_pairs_overlapping_acceptable_sets_where_greedy_would_not():
    functions = [PLAY]
    truth = [{"spotify.play": {"artist": ["Adele", "Bach"], "duration": [5]}},
             {"spotify.play": {"artist": ["Adele"], "duration": [5]}}]
    response = answer(("spotify.play", {"artist": "Adele", "duration": 5}),
                      ("spotify.play", {"artist": "Bach", "duration": 5}))
    assert verify_bfcl(functions, truth, response).reason == "correct"


@pytest.mark.parametrize("response, reason", [
    ("Hamlet was written by William Shakespeare.", "correct"),
    ("<tool_call>[]</tool_call>", "correct"),
    ('{"author": "Shakespeare"}', "correct"),                      # JSON, but not calls
    (answer(("calc_area", {"base": 1, "height": 2})), "unexpected_call"),
    ('{"name": "calc_area", "arguments": {}}', "unexpected_call"),
    ("<tool_call>[{\"name\": </tool_call>", "unparseable"),         # an attempted call, badly written
    ("x" * 30_000, "too_long"),
])
def test_irrelevance_is_correct_only_without_a_call(response, reason):
    assert verdict("irrelevance_0", response) == reason


@pytest.mark.parametrize("response, simple, multiple, parallel, irrelevance", [
    (None, "unparseable", "unparseable", "unparseable", "unparseable"),
    (42, "unparseable", "unparseable", "unparseable", "unparseable"),
    ("", "unparseable", "unparseable", "unparseable", "correct"),  # plain text ("" included) is a right "no call"
    ("[" * 100_000, "too_long", "too_long", "too_long", "too_long"),
    ("<tool_call>" * 5_000, "too_long", "too_long", "too_long", "too_long"),
    ("\ud800", "unparseable", "unparseable", "unparseable", "correct"),
    (answer(("calc_area", {"base": {"a": [1] * 3}, "height": None})), "wrong_type:base", "wrong_function", "wrong_count",
     "unexpected_call"),
])
def test_checker_gives_hostile_output_its_own_reason(response, simple, multiple, parallel, irrelevance):
    """Each hostile output gets the reason that says what is wrong with it. The checker turns any exception into
    `internal_error:<type>` (it must be total), so "it did not raise" alone would pass with a crashing checker."""
    got = [verdict(row_id, response) for row_id in ("simple_0", "multiple_0", "parallel_0", "irrelevance_0")]
    assert got == [simple, multiple, parallel, irrelevance]


# -- the reader -------------------------------------------------------------------------------------------------

def test_reader_joins_questions_and_answers_into_task_rows():
    good, rejected = validate_bfcl_rows(QUESTIONS, Answers(ANSWERS))
    assert rejected == []
    rows = {row["id"]: row for row in good}
    assert set(rows) == {q["id"] for q in QUESTIONS}
    simple = rows["simple_0"]
    assert simple["task_id"] == "fc-simple_0"
    assert simple["query"] == "Area of a triangle with base 10 and height 5?"
    assert simple["answers"] == [{"name": "calc_area", "arguments": {"base": 10, "height": 5.0}}]
    assert simple["tools"][0]["parameters"]["unit"]["type"] == "str, optional"
    assert simple["tools"][0]["parameters"]["base"]["type"] == "int"
    assert simple["bfcl"]["ground_truth"] == TRUTH["simple_0"]
    assert rows["multiple_0"]["answers"] == [{"name": "weather.get", "arguments": {"city": "New York", "days": 3}}]
    assert rows["parallel_multiple_0"]["query"].startswith("You are a helpful assistant.\n\nPlay Adele")
    assert rows["irrelevance_0"]["answers"] == [] and rows["irrelevance_0"]["bfcl"]["category"] == "irrelevance"


def test_reference_call_of_a_dict_argument_is_a_concrete_dict():
    truth = [{"weather.get": {"city": ["Oslo"], "filters": [{"rain": [True, False]}]}}]
    row = read_bfcl_row({"id": "simple_9", "question": question("Rain in Oslo?"), "function": [WEATHER],
                         "ground_truth": truth})
    assert row["answers"] == [{"name": "weather.get", "arguments": {"city": "Oslo", "filters": {"rain": True}}}]


BAD_ROWS = [
    ("not a row", "not_an_object"),
    ({"question": question("q"), "function": [AREA], "ground_truth": TRUTH["simple_0"]}, "missing_field:id"),
    ({"id": True, "question": question("q"), "function": [AREA]}, "bad_shape:id"),
    ({"id": "simple_1", "question": "q", "function": [AREA]}, "bad_shape:question"),
    ({"id": "simple_1", "question": [[{"role": "user"}]], "function": [AREA]}, "bad_shape:question"),
    ({"id": "simple_1", "question": question("q") * 2, "function": [AREA]}, "unsupported_question"),
    ({"id": "simple_1", "question": [[{"role": "assistant", "content": "q"}]], "function": [AREA]},
     "unsupported_question"),
    ({"id": "simple_1", "question": question("q"), "function": [{"description": "no name"}]}, "bad_shape:function"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA, AREA]}, "bad_shape:function"),
    ({"id": "simple_1", "question": question("q"), "function": [{**AREA, "parameters": {
        "type": "dict", "properties": {}, "required": ["base"]}}]}, "bad_shape:function"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA]}, "missing_field:ground_truth"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA], "ground_truth": []}, "bad_shape:ground_truth"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"calc_area": {"base": []}}]}, "bad_shape:ground_truth"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"calc_area": {"base": [1]}, "other": {}}]}, "bad_shape:ground_truth"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"nope": {"base": [1]}}]}, "unknown_tool:nope"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"calc_area": {"height": [1.0]}}]}, "unsatisfiable:missing_argument:base"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"calc_area": {"base": [1], "height": [1.0], "color": ["red"]}}]},
     "unsatisfiable:extra_argument:color"),                     # an argument the function does not have
    ({"id": "irrelevance_1", "question": question("q"), "function": [AREA],
      "ground_truth": TRUTH["simple_0"]}, "bad_shape:ground_truth"),
    ({"id": "simple_java_1", "question": question("q"), "function": [AREA]}, "unsupported_category:simple_java"),
    ({"id": "multi_turn_base_1", "question": question("q"), "function": [AREA]},
     "unsupported_category:multi_turn_base"),
    ({"id": "simple_1", "question": question("q" * 20_000), "function": [AREA]}, "too_large"),
    ({"id": "simple_1", "question": question("q"), "function": [AREA],
      "ground_truth": [{"calc_area": {"base": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}]},
     "too_large"),
]


@pytest.mark.parametrize("raw, reason", BAD_ROWS)
def test_reader_rejects_malformed_rows_with_a_reason(raw, reason):
    with pytest.raises(RowRejected) as rejected:
        read_bfcl_row(raw)
    assert rejected.value.reason == reason


def test_answers_file_problems_are_reported_not_dropped():
    answers = Answers([*ANSWERS, {"id": "simple_0", "ground_truth": TRUTH["simple_0"]},
                       {"id": "parallel_9", "ground_truth": []}, {"ground_truth": []}, "junk"])
    good, rejected = validate_bfcl_rows(QUESTIONS, answers)
    assert [r["reject_reason"] for r in rejected] == ["duplicate_answer"]
    assert sorted(r["reject_reason"] for r in answers.unmatched()) == \
        ["bad_answer_row", "bad_answer_row", "unmatched_answer"]
    conflicting = {**QUESTIONS[0], "ground_truth": TRUTH["parallel_0"]}
    assert validate_bfcl_rows([conflicting], Answers(ANSWERS))[1][0]["reject_reason"] == \
        "conflicting_fields:ground_truth"


# -- the task source, end to end --------------------------------------------------------------------------------

def test_task_source_reads_bfcl_files_end_to_end(tmp_path):
    bad = {"id": "simple_7", "question": question("q"), "function": [AREA]}  # no answer anywhere
    questions = write_jsonl(tmp_path / "BFCL_v4_mixed.json", [*QUESTIONS, bad, "{not json"])
    answers = write_jsonl(tmp_path / "possible_answer.json", ANSWERS)
    task = FunctionCallingTask(FunctionCallingConfig(source=str(questions), answers_path=str(answers),
                                                     test_fraction=0.5, seed=3))
    splits = task.build_splits()
    rows = splits.train + splits.test
    assert sorted(row["id"] for row in rows) == sorted(q["id"] for q in QUESTIONS)
    assert sorted(r["reject_reason"] for r in splits.rejected) == ["bad_json:row", "missing_field:ground_truth"]
    for row in json.loads(json.dumps(rows)):  # as the pipeline stores them (JSONL)
        assert task.verify(row, task.reference_response(row)).reason == "correct", row["id"]
        assert not task.verify(row, task.corrupt_response(row, random.Random(0))).correct, row["id"]
        schemas = task.native_tool_schemas(row)
        assert {s["function"]["parameters"]["type"] for s in schemas} == {"object"}
        assert row["query"] in task.prompt_messages(row)[0]["content"]
    multiple = next(row for row in rows if row["id"] == "multiple_0")
    assert task.verify(multiple, answer(("weather.get", {"city": "nyc", "days": 3}))).correct


def test_task_config_checks_answers_path():
    with pytest.raises(ValueError, match="answers_path"):
        FunctionCallingConfig(source="q.json", answers_path=3)


# -- r3 verify --------------------------------------------------------------------------------------------------

def test_r3_verify_scores_a_bfcl_file(tmp_path, capsys):
    joined = {q["id"]: {**q, **({"ground_truth": TRUTH[q["id"]]} if q["id"] in TRUTH else {})} for q in QUESTIONS}
    lines = [
        {**joined["simple_0"], "response": answer(("calc_area", {"base": 10, "height": 5}))},
        {**joined["multiple_0"], "response": answer(("weather.get", {"city": "Boston", "days": 3}))},
        {**joined["parallel_0"], "response": answer(("spotify.play", {"artist": "Maroon 5", "duration": 15}),
                                                    ("spotify.play", {"artist": "Taylor Swift", "duration": 20}))},
        {**joined["irrelevance_0"], "response": "Shakespeare."},
        {**joined["parallel_multiple_0"], "ground_truth": [], "id": "parallel_multiple_0",
         "response": "no call"},  # a parallel row cannot lose its answers
    ]
    src = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    status = cli.main(["verify", "function_calling", str(src), str(out), "--max-bad", "0.5"])
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["task_id"], r["reason"]) for r in results] == [
        ("simple_0", "correct"), ("multiple_0", "wrong_value:city"), ("parallel_0", "correct"),
        ("irrelevance_0", "correct"), ("parallel_multiple_0", "bad_row:bad_shape:ground_truth")]
    assert status == 0
    assert "bad_row:bad_shape:ground_truth" in capsys.readouterr().err


def test_help_shows_bfcl_example_rows():
    help_text = verify_cli.verify_help()
    bfcl = [row for row in verify_cli.VERIFY_EXAMPLES["function_calling"] if "question" in row]
    assert {row["id"].split("_")[0] for row in bfcl} == {"simple", "irrelevance"}
    for row in bfcl:
        assert json.dumps(row) in help_text
    assert "BFCL" in help_text


def test_only_bfcl_category_names_are_refused_not_ids_that_merely_start_alike():
    truth = [{"calc_area": {"base": [1], "height": [1.0]}}]
    for row_id in ("restaurant_search_1", "memoryless_2", "q7"):
        row = read_bfcl_row({"id": row_id, "question": question("q"), "function": [AREA], "ground_truth": truth})
        assert row["bfcl"]["category"] == "ast"
    for row_id, category in (("live_relevance_3-1-0", "relevance"), ("web_search_base_0", "web_search_base")):
        with pytest.raises(RowRejected, match=f"unsupported_category:{category}"):
            read_bfcl_row({"id": row_id, "question": question("q"), "function": [AREA]})


# -- the bfcl-eval wheel's own files (make install puts the wheel in the venv, --no-deps) --------------------------

PACKAGE_MIX = "bfcl:simple_python,parallel,live_simple,irrelevance"


def package_file_rows(category: str, answers: bool = False) -> list[dict]:
    folder = bfcl_data_dir() / "possible_answer" if answers else bfcl_data_dir()
    path = folder / f"BFCL_v4_{category}.json"  # the Makefile pins a v4 release of the wheel
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_bfcl_source_reads_the_named_categories_from_the_installed_wheel_with_their_answers():
    cfg = FunctionCallingConfig(source=PACKAGE_MIX, num_train=10_000, num_test=10_000, test_fraction=0.4)
    splits = FunctionCallingTask(cfg).build_splits()
    rows = splits.train + splits.test
    expected_ids = {r["id"] for c in ("simple_python", "parallel", "live_simple", "irrelevance")
                    for r in package_file_rows(c)}
    # every question row of the four files is kept or set aside with a reason, none lost or added
    assert {r["id"] for r in rows} | {r["id"] for r in splits.rejected} == expected_ids
    assert len(rows) + len(splits.rejected) == len(expected_ids)
    assert {r["reject_reason"].split(":")[0] for r in splits.rejected} <= {"test_overlap", "bad_shape", "unsatisfiable"}
    by_id = {r["id"]: r for r in rows}
    truth = {r["id"]: r["ground_truth"] for r in package_file_rows("parallel", answers=True)}
    some_parallel = next(i for i in by_id if i.startswith("parallel_"))
    assert by_id[some_parallel]["bfcl"]["ground_truth"] == truth[some_parallel]  # joined from possible_answer
    irrelevant = [r for r in rows if r["id"].startswith("irrelevance_")]
    assert irrelevant and all(r["bfcl"]["category"] == "irrelevance" and r["answers"] == [] for r in irrelevant)
    assert all(r["id"].startswith(("simple_python_", "parallel_", "live_simple_", "irrelevance_")) for r in rows)
    # the files come category by category; the splits mix them (adaptation takes a prefix of train)
    assert len({r["id"].split("_")[0] for r in splits.train[:100]}) >= 3
    again = FunctionCallingTask(cfg).build_splits()
    assert [r["id"] for r in again.train] == [r["id"] for r in splits.train]  # same seed, same order
    other = FunctionCallingTask(FunctionCallingConfig(source=PACKAGE_MIX, seed=1, num_train=10_000,
                                                      num_test=10_000, test_fraction=0.4)).build_splits()
    assert [r["id"] for r in other.train] != [r["id"] for r in splits.train]


def test_a_bfcl_source_verifies_a_package_row_by_bfcl_rules():
    task = FunctionCallingTask(FunctionCallingConfig(source="bfcl:simple_python", num_train=50, num_test=50))
    row = task.build_splits().train[0]
    assert task.verify(row, task.reference_response(row)).correct
    assert not task.verify(row, "I would rather not.").correct


@pytest.mark.parametrize("source, error", [
    ("bfcl:simple_python,simple_java", "name BFCL categories once each"),
    ("bfcl:simple_python,simple_python", "name BFCL categories once each"),
    ("bfcl:", "name BFCL categories once each"),
])
def test_a_bfcl_source_naming_an_unknown_or_repeated_category_is_refused(source, error):
    with pytest.raises(ValueError, match=error):
        FunctionCallingTask(FunctionCallingConfig(source=source)).build_splits()


def test_a_bfcl_source_refuses_an_answers_file_and_says_how_to_install_the_wheel(monkeypatch):
    with pytest.raises(ValueError, match="brings its own answers"):
        FunctionCallingConfig(source="bfcl:simple_python", answers_path="answers.json")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bfcl_eval" else real_find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps bfcl-eval"):
        FunctionCallingTask(FunctionCallingConfig(source="bfcl:simple_python")).build_splits()
