"""Loading real xLAM data: JSON, JSONL and Parquet files with good and malformed rows, splits, user split files."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.function_calling.data import (
    load_xlam,
    row_problem,
    split_rows,
    validate_xlam_rows,
    xlam_to_json_schema,
)

GIVEAWAY_TOOLS = [{
    "name": "live_giveaways_by_type",
    "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
    "parameters": {"type": {"description": "The type of giveaways to retrieve (e.g., game, loot, beta).",
                            "type": "str", "default": "game"}},
}]
GIVEAWAY_ANSWERS = [{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
                    {"name": "live_giveaways_by_type", "arguments": {"type": "game"}}]
WEATHER_TOOLS = [
    {"name": "get_weather", "description": "Weather.",
     "parameters": {"city": {"type": "str", "description": "City."},
                    "units": {"type": "str, optional", "description": "Units.", "default": "metric"}}},
    {"name": "get_time", "description": "Time.", "parameters": {"city": {"type": "str", "description": "City."}}},
]


def raw(row_id, query, tools, answers):
    return {"id": row_id, "query": query, "tools": json.dumps(tools), "answers": json.dumps(answers)}


GOOD = [
    raw(1, "Where can I find live giveaways for beta access and games?", GIVEAWAY_TOOLS, GIVEAWAY_ANSWERS),
    raw(2, "Weather in Paris?", WEATHER_TOOLS, [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
    raw(3, "Time in Rome?", WEATHER_TOOLS, [{"name": "get_time", "arguments": {"city": "Rome"}}]),
]
BAD = [  # (row, expected reject_reason)
    ({"id": 10, "tools": GOOD[1]["tools"], "answers": GOOD[1]["answers"]}, "missing_field:query"),
    ({"id": 11, "query": "q", "tools": None, "answers": GOOD[1]["answers"]}, "missing_field:tools"),
    ({"query": "q", "tools": GOOD[1]["tools"], "answers": GOOD[1]["answers"]}, "missing_field:id"),
    ({**GOOD[1], "id": 12, "tools": '[{"name": "get_weather",'}, "bad_json:tools"),
    ({**GOOD[1], "id": 13, "answers": "not json"}, "bad_json:answers"),
    ({**GOOD[1], "id": 14, "tools": '[{"name": "get_weather", "parameters": {"x": {"default": NaN}}}]'},
     "bad_json:tools"),
    ({**GOOD[1], "id": 15, "tools": '[{"name": "a", "name": "b"}]'}, "bad_json:tools"),
    ({**GOOD[1], "id": 16, "tools": '{"name": "get_weather"}'}, "bad_shape:tools"),
    ({**GOOD[1], "id": 17, "tools": "[]"}, "bad_shape:tools"),
    ({**GOOD[1], "id": 18, "tools": '[{"name": "get_weather", "parameters": [1]}]'}, "bad_shape:tools"),
    ({**GOOD[1], "id": 19, "answers": '["get_weather"]'}, "bad_shape:answers"),
    ({**GOOD[1], "id": 20, "answers": '[{"name": "get_weather", "arguments": [1]}]'}, "bad_shape:answers"),
    ({**GOOD[1], "id": 21, "answers": '[{"name": "get_stock", "arguments": {}}]'}, "unknown_tool:get_stock"),
    ({**GOOD[2], "id": 1}, "duplicate_id:1"),
    ({**GOOD[1], "id": 22, "query": "x" * 5000}, "too_large"),
    ({**GOOD[1], "id": 23, "tools": json.dumps(WEATHER_TOOLS * 400)}, "too_large"),
    ({**GOOD[1], "id": 24, "answers": "[" * 100 + "]" * 100}, "bad_json:answers"),
    ({**GOOD[1], "id": 25, "query": "   "}, "bad_shape:query"),
]
EXPECTED_REASONS = sorted(reason for _, reason in BAD)


def all_raw_rows():
    return GOOD + [row for row, _ in BAD]


def check_result(good, rejected, extra_reasons=()):
    assert [g["task_id"] for g in good] == ["fc-1", "fc-2", "fc-3"]
    assert sorted(r["reject_reason"] for r in rejected) == sorted(EXPECTED_REASONS + list(extra_reasons))
    assert good[0]["answers"] == GIVEAWAY_ANSWERS and good[0]["tools"] == GIVEAWAY_TOOLS
    assert good[0]["id"] == "1" and set(good[0]) == {"task_id", "id", "query", "tools", "answers"}


# -- validation -------------------------------------------------------------------------------------------------

def test_validate_every_reason():
    good, rejected = validate_xlam_rows(all_raw_rows())
    check_result(good, rejected)
    for (row, reason), got in zip(BAD, [r for r in rejected]):
        assert got["reject_reason"] == reason
        assert {k: v for k, v in got.items() if k != "reject_reason"} == row  # the raw row is kept


def test_lists_instead_of_json_strings_are_accepted():
    row = {"id": "a", "query": "Weather in Paris?", "tools": WEATHER_TOOLS,
           "answers": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    good, rejected = validate_xlam_rows([row])
    assert rejected == [] and good[0]["tools"] == WEATHER_TOOLS


def test_strange_rows_never_raise():
    rows = [None, 5, "text", [1, 2], {"id": True, "query": "q", "tools": "[]", "answers": "[]"},
            {"id": 1, "query": "q", "tools": {"a": 1}, "answers": "[]"},
            {"id": 2, "query": "q\ud800", "tools": GOOD[1]["tools"], "answers": GOOD[1]["answers"]},
            {**GOOD[1], "id": 3, "answers": '[{"name": "get_weather", "arguments": {"city": "\\ud800"}}]'}]
    good, rejected = validate_xlam_rows(rows)
    assert good == []
    assert [r["reject_reason"] for r in rejected] == [
        "not_an_object", "not_an_object", "not_an_object", "not_an_object", "bad_shape:id", "bad_shape:tools",
        "bad_shape:query", "bad_json:answers"]
    json.dumps(rejected)  # rejected rows stay writable


def test_row_problem_matches_validation():
    assert row_problem(GOOD[0]) is None
    for row, reason in BAD:
        if not reason.startswith("duplicate_id"):
            assert row_problem(row) == reason


# -- loading ----------------------------------------------------------------------------------------------------

def test_load_json_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(all_raw_rows()))
    check_result(*validate_xlam_rows(load_xlam(str(path))))


def test_load_jsonl_file_with_unreadable_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(r) for r in all_raw_rows()]
    lines[1:1] = ['{"id": 99, "query": "broken', "", "[1, 2]"]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe not utf-8\n")
    rows = load_xlam(str(path))
    assert len(rows) == len(all_raw_rows()) + 3  # blank lines are skipped
    good, rejected = validate_xlam_rows(rows)
    check_result(good, rejected, extra_reasons=["bad_json:row", "not_an_object", "bad_json:row"])
    broken = [r for r in rejected if r["reject_reason"] == "bad_json:row"]
    assert broken[0]["line"] == 2 and broken[0]["raw_line"].startswith('{"id": 99')
    json.dumps(rejected)


def test_load_parquet_file(tmp_path):
    path = tmp_path / "data.parquet"
    columns = ("id", "query", "tools", "answers")
    rows = [{c: r.get(c) for c in columns} for r in all_raw_rows()]
    pq.write_table(pa.Table.from_pylist(rows), path)
    good, rejected = validate_xlam_rows(load_xlam(str(path)))
    assert [g["task_id"] for g in good] == ["fc-1", "fc-2", "fc-3"]
    assert sorted(r["reject_reason"] for r in rejected) == EXPECTED_REASONS
    assert len(good) + len(rejected) == len(rows)


def test_missing_local_file_and_bad_json_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_xlam(str(tmp_path / "absent.jsonl"))
    path = tmp_path / "obj.json"
    path.write_text('{"rows": []}')  # not a list: JSON lines (as BFCL ships .json), so one row, and a bad one
    assert [r["reject_reason"] for r in validate_xlam_rows(load_xlam(str(path)))[1]] == ["missing_field:id"]
    path.write_text('[{"rows": []}')
    with pytest.raises(ValueError):
        load_xlam(str(path))
    other = tmp_path / "rows.csv"
    other.write_text("id,query\n")
    with pytest.raises(ValueError):
        load_xlam(str(other))


# -- splitting --------------------------------------------------------------------------------------------------

def test_split_is_deterministic_and_stable():
    rows = [{"id": str(i)} for i in range(2000)]
    train, test = split_rows(rows, 0.2, seed=7)
    assert (train, test) == split_rows(rows, 0.2, seed=7)
    assert len(train) + len(test) == 2000 and 300 < len(test) < 500
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    assert split_rows(rows, 0.2, seed=8)[1] != test
    # a row's side depends only on (seed, id): dropping other rows never moves it
    test_ids = {r["id"] for r in test}
    _, test_half = split_rows(rows[::2], 0.2, seed=7)
    assert {r["id"] for r in test_half} == {r["id"] for r in rows[::2]} & test_ids
    assert split_rows(rows, 0.0, 1)[1] == [] and split_rows(rows, 1.0, 1)[0] == []


def test_task_on_real_file_splits_and_caps(tmp_path):
    path = tmp_path / "xlam.jsonl"
    rows = [raw(i, f"Weather in city {i}?", WEATHER_TOOLS,
                [{"name": "get_weather", "arguments": {"city": f"c{i}"}}]) for i in range(200)]
    rows += [row for row, _ in BAD]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = make_task("function_calling", {"source": str(path), "test_fraction": 0.25, "num_train": 100,
                                          "num_test": 1000, "seed": 3})
    splits = task.build_splits()
    assert len(splits.train) == 100 and 25 < len(splits.test) < 75
    assert sorted(r["reject_reason"] for r in splits.rejected) == EXPECTED_REASONS
    assert splits == task.build_splits()
    assert not {r["id"] for r in splits.train} & {r["id"] for r in splits.test}


def test_user_split_files(tmp_path):
    train_rows = [raw(i, f"Weather in town {i}?", WEATHER_TOOLS,
                      [{"name": "get_weather", "arguments": {"city": f"t{i}"}}]) for i in range(10)]
    test_rows = [raw(100 + i, f"Time in town {i}?", WEATHER_TOOLS,
                     [{"name": "get_time", "arguments": {"city": f"t{i}"}}]) for i in range(4)]
    test_rows.append({**train_rows[0]})  # same id as a train row: rejected as a duplicate
    test_rows.append({**train_rows[1], "id": 500})  # same query as a train row: that train row moves out
    train_path, test_path = tmp_path / "train.json", tmp_path / "test.parquet"
    train_path.write_text(json.dumps(train_rows))
    pq.write_table(pa.Table.from_pylist(test_rows), test_path)
    task = make_task("function_calling", {"train_path": str(train_path), "test_path": str(test_path)})
    splits = task.build_splits()
    assert [r["id"] for r in splits.test] == ["100", "101", "102", "103", "500"]
    assert len(splits.train) == 9 and "1" not in {r["id"] for r in splits.train}
    assert sorted(r["reject_reason"] for r in splits.rejected) == ["duplicate_id:0", "test_overlap"]


def test_user_split_files_need_both_paths():
    with pytest.raises(ValueError):
        make_task("function_calling", {"train_path": "a.json"})


# -- native tool schemas ----------------------------------------------------------------------------------------

def test_xlam_to_json_schema():
    schema = xlam_to_json_schema(WEATHER_TOOLS + GIVEAWAY_TOOLS)
    weather = schema[0]["function"]
    assert schema[0]["type"] == "function" and weather["name"] == "get_weather"
    assert weather["parameters"]["required"] == ["city"]
    assert weather["parameters"]["properties"]["units"] == {"type": "string", "description": "Units.",
                                                             "default": "metric"}
    assert schema[2]["function"]["parameters"]["required"] == []  # a default marks a parameter optional
    types = xlam_to_json_schema([{"name": "f", "parameters": {
        "a": {"type": "int"}, "b": {"type": "float, optional"}, "c": {"type": "List[int]"}, "d": {"type": "bool"}}}])
    props = types[0]["function"]["parameters"]["properties"]
    assert [props[k]["type"] for k in "abcd"] == ["integer", "number", "array", "boolean"]


@pytest.mark.parametrize("spec, optional", [
    ({"type": "str"}, False),
    ({"type": "str, optional"}, True),
    ({"type": "str, optional", "default": "metric"}, True),
    ({"type": "int", "default": 3}, True),  # BFCL-derived rows mark optional parameters by a default only
    ({"type": "int", "default": None}, True),
    ({"type": "List[int], Optional"}, True),
])
def test_optional_parameters_in_the_native_schema(spec, optional):
    [schema] = xlam_to_json_schema([{"name": "f", "parameters": {"a": spec, "b": {"type": "str"}}}])
    parameters = schema["function"]["parameters"]
    assert parameters["required"] == (["b"] if optional else ["a", "b"])
    if "default" in spec:
        assert parameters["properties"]["a"]["default"] == spec["default"]
