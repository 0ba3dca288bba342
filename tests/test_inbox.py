"""The failure inbox without Dagster: which files count as complete, how rows are checked (the task's row rules,
held-out tasks refused, bad rows set aside with reasons), and what the store records, queried with SQL as
`r3 sql` does (production_rows, rejected_rows, production_fates). The sensor and the runs it starts are in
tests/test_inbox_dagster.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from r3_pipeline import inbox, stages
from r3_pipeline.layout import Layout
from r3_pipeline.store import TrajectoryStore


def _jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


GOOD = [{"numbers": [8, 3, 4], "target": 20, "response": "<answer>(8 - 3) * 4</answer>"},
        {"nums": [9, 4, 6], "target": 30.0},  # TinyZero's names, no response
        {"id": 7, "numbers": [2, 5, 7], "target": 24, "response": "<answer>(7 - 5) * 2</answer>"}]
BAD = ["{not json", {"numbers": [1, 2], "response": "x"}, {"numbers": [1, 2, 3], "target": 6, "response": 5},
       [1, 2, 3]]


def test_only_complete_files_are_read(tmp_path):
    for name in ("a.jsonl", "b.parquet", ".c.jsonl", "d.jsonl.part", "e.jsonl.tmp", "f.txt", "G.JSONL"):
        (tmp_path / name).write_text("")
    (tmp_path / "h.jsonl").mkdir()
    assert inbox.complete_files(tmp_path) == ["G.JSONL", "a.jsonl", "b.parquet"]
    assert inbox.complete_files(tmp_path / "missing") == []


def test_a_file_is_recorded_with_its_bad_rows_set_aside(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    stages.prepare_tasks(micro_spec, layout)
    held_out = stages.load_split(micro_spec, layout, "test")[0]
    folder = inbox.inbox_dir(micro_spec, layout)
    assert folder == layout.home / "inbox" / "micro"
    _jsonl(folder / "monday.jsonl", [*GOOD, *BAD, {"numbers": held_out["numbers"], "target": held_out["target"]},
                                     GOOD[0]])
    result = stages.record_inbox_file(micro_spec, layout, "monday.jsonl", "run-1")
    assert (result["rows"], result["accepted"], result["rejected"], result["distinct_accepted"]) == (9, 4, 5, 3)
    assert result["reasons"] == {"bad_row:not_json": 1, "bad_row:missing_field:target": 1,
                                 "bad_row:response_not_a_string": 1, "bad_row:not_an_object": 1,
                                 "bad_row:held_out_task": 1}
    assert result["responses_correct"] == 1 + 1  # line 1 and its copy on line 9; line 3 answers 4, not 24

    store = TrajectoryStore(layout.store_root)
    accepted = store.sql("SELECT line, label, task_id FROM production_rows WHERE status = 'accepted' ORDER BY line")[1]
    assert [(line, label) for line, label, _ in accepted] == [(1, "line:1"), (2, "line:2"), (3, "7"), (9, "line:9")]
    assert accepted[0][2] == accepted[3][2] and len({t for _, _, t in accepted}) == 3  # a copy: same content id
    rejected = store.sql("SELECT line, reason, source FROM rejected_rows ORDER BY line")[1]
    assert [(line, reason) for line, reason, _ in rejected] == [
        (4, "not_json"), (5, "missing_field:target"), (6, "response_not_a_string"), (7, "not_an_object"),
        (8, "held_out_task")]
    assert {source for _, _, source in rejected} == {"inbox:monday.jsonl"}
    fates = store.sql("SELECT line, fate FROM production_fates ORDER BY line")[1]
    assert fates == [(1, "recorded"), (2, "recorded"), (3, "recorded"), (4, "rejected"), (5, "rejected"),
                     (6, "rejected"), (7, "rejected"), (8, "rejected"), (9, "recorded")]

    # Recorded again (a rerun after an interruption): replaced, not doubled.
    stages.record_inbox_file(micro_spec, layout, "monday.jsonl", "run-1-retry")
    assert store.sql("SELECT count(*) FROM production_rows")[1] == [(9,)]
    # The round's rows, as mining takes them: one per distinct problem, in the task's form.
    rows = stages.round_rows(micro_spec, layout, "monday.jsonl")
    assert [(r["numbers"], r["target"]) for r in rows] == [([8, 3, 4], 20), ([9, 4, 6], 30), ([2, 5, 7], 24)]
    assert all("response" not in r and r["task_id"].startswith("prod-") for r in rows)

    # The same requests under another name, as Parquet: recorded with the same ids; earlier rounds' rows exclude them.
    pq.write_table(pa.Table.from_pylist([GOOD[0], {"numbers": [3, 3, 9], "target": 18}]), folder / "tuesday.parquet")
    assert stages.record_inbox_file(micro_spec, layout, "tuesday.parquet", "run-2")["accepted"] == 2
    tuesday = stages.round_rows(micro_spec, layout, "tuesday.parquet")
    assert tuesday[0]["task_id"] == rows[0]["task_id"]
    assert [r["task_id"] for r in stages.earlier_rows(micro_spec, layout, "tuesday.parquet", 10)] == \
        [rows[1]["task_id"], rows[2]["task_id"]]
    assert stages.earlier_rows(micro_spec, layout, "tuesday.parquet", 1) == [rows[1]]


def test_an_unreadable_parquet_file_is_one_rejected_row(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    stages.prepare_tasks(micro_spec, layout)
    folder = inbox.inbox_dir(micro_spec, layout)
    folder.mkdir(parents=True)
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    result = stages.record_inbox_file(micro_spec, layout, "broken.parquet", "run-1")
    assert (result["rows"], result["rejected"], result["reasons"]) == (1, 1, {"bad_row:not_parquet": 1})


def test_the_production_views_exist_before_any_file(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    assert store.sql("SELECT count(*) FROM production_fates")[1] == [(0,)]
    assert store.sql("SELECT count(*) FROM registered_versions")[1] == [(0,)]
