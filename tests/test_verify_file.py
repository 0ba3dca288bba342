"""verify_jsonl re-scores a response file: good, wrong and malformed lines, none of them fatal."""

from __future__ import annotations

import json

from r3_pipeline.tasks.countdown import CountdownTask
from r3_pipeline.verify_file import verify_jsonl


def test_verify_jsonl_mixed(tmp_path):
    row = {"task_id": "countdown-a", "numbers": [8, 3, 4], "target": 20}
    lines = [
        json.dumps({**row, "response": "<answer>(8 - 3) * 4</answer>"}).encode(),
        json.dumps({**row, "task_id": "countdown-b", "response": "<answer>8 + 3 + 4</answer>"}).encode(),
        b"",  # blank: skipped, not a row
        b"{not json",
        json.dumps({**row, "task_id": "countdown-c"}).encode(),
        json.dumps({**row, "task_id": "countdown-d", "response": 42}).encode(),
        json.dumps({"task_id": "countdown-e", "numbers": "8,3,4", "target": 20, "response": "x"}).encode(),
        json.dumps([1, 2, 3]).encode(),
        b'{"task_id": "countdown-f", "response": "\xff"}',
        json.dumps({**row, "task_id": "countdown-g", "response": "no tags"}).encode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "sub" / "out.jsonl"

    counts = verify_jsonl(CountdownTask(), src, out)

    results = [json.loads(line) for line in out.read_text().splitlines()]
    got = [(r["task_id"], r["correct"], r["reason"]) for r in results]
    assert got == [
        ("countdown-a", True, "correct"),
        ("countdown-b", False, "wrong_value"),
        (None, False, "bad_row:not_json"),
        ("countdown-c", False, "bad_row:missing_response"),
        ("countdown-d", False, "bad_row:response_not_a_string"),
        ("countdown-e", False, "bad_row:bad_field:numbers"),
        (None, False, "bad_row:not_an_object"),
        (None, False, "bad_row:not_utf8"),
        ("countdown-g", False, "no_answer"),
    ]
    assert [r["line"] for r in results] == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert counts == {"rows": 9, "correct": 1, "bad_rows": 6}


def test_verify_jsonl_empty_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("")
    out = tmp_path / "out.jsonl"
    assert verify_jsonl(CountdownTask(), src, out) == {"rows": 0, "correct": 0, "bad_rows": 0}
    assert out.read_text() == ""
