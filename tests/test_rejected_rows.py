"""Bad rows in a user's xLAM file are set aside with reasons, queryable with SQL, and the rejection-rate check
fails once they pass the configured share; good rows still make it through."""

import json
from dataclasses import replace

from r3_pipeline import stages
from r3_pipeline.layout import Layout
from r3_pipeline.spec import parse_spec
from r3_pipeline.store import TrajectoryStore
from tests.support import MICRO_FC_SPEC

TOOLS = [{"name": "get_weather", "description": "Weather", "parameters": {"city": {"type": "str", "description": "City"}}}]


def _row(i, **over):
    row = {"id": i, "query": f"Weather in city {i}?", "tools": json.dumps(TOOLS),
           "answers": json.dumps([{"name": "get_weather", "arguments": {"city": f"c{i}"}}])}
    return {**row, **over}


def test_bad_rows_are_set_aside_counted_and_checked(tmp_path):
    rows = [_row(i) for i in range(40)] + [
        _row(100, tools="{not json"),
        _row(101, answers=json.dumps([{"name": "book_hotel", "arguments": {}}])),
        {"id": 102, "query": "no tools or answers"},
        _row(3),  # duplicate id
    ]
    data = tmp_path / "xlam.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec({**MICRO_FC_SPEC, "task": {"name": "function_calling", "config": {
        "source": str(data), "test_fraction": 0.25, "max_reject_rate": 0.05}}})
    layout = Layout(tmp_path / "home")
    counts = stages.prepare_tasks(spec, layout)
    assert counts["rejected"] == 4 and counts["train"] + counts["test"] == 40

    reasons = dict(TrajectoryStore(layout.store_root).sql(
        "SELECT reason, count(*) FROM rejected_rows WHERE spec = 'micro_fc' GROUP BY 1")[1])
    assert reasons == {"bad_json:tools": 1, "unknown_tool:book_hotel": 1, "missing_field:tools": 1,
                       "duplicate_id:3": 1}
    check = stages.rejection_rate(spec, layout)
    assert not check["ok"] and check["rate"] == 4 / 44

    lenient = replace(spec, task=replace(spec.task, config={**spec.task.config, "max_reject_rate": 0.1}))
    assert stages.rejection_rate(lenient, layout)["ok"]


def test_rejection_rate_counts_every_row_read_not_only_the_rows_kept(tmp_path):
    rows = [_row(i) for i in range(200)] + [_row(300 + i, tools="{not json") for i in range(4)]
    data = tmp_path / "xlam.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec({**MICRO_FC_SPEC, "task": {"name": "function_calling", "config": {
        "source": str(data), "test_fraction": 0.25, "num_train": 10, "num_test": 5, "max_reject_rate": 0.05}}})
    layout = Layout(tmp_path / "home")
    counts = stages.prepare_tasks(spec, layout)
    assert (counts["train"], counts["test"], counts["rejected"], counts["rows_read"]) == (10, 5, 4, 204)
    check = stages.rejection_rate(spec, layout)
    assert check["rate"] == 4 / 204 and check["ok"]  # 4 / 19 if only kept rows counted
