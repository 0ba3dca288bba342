"""Verify a JSONL file of task rows with model responses, so any response set can be re-scored offline.

Bad input lines are reported in the output and counted, never fatal: one corrupt line in a large response
dump should not hide the scores of all the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r3_pipeline.tasks.base import Task


def verify_jsonl(task: Task, in_path: str | Path, out_path: str | Path) -> dict[str, int]:
    """Write one {"task_id", "correct", "reason", "line"} JSON line per non-blank input line.

    Each input line is a task row plus a string `response`. Lines that are not JSON objects, lack a string
    response, or fail the task's `validate_row` (when it has one) get correct=false and reason "bad_row:<why>".
    Returns counts {"rows", "correct", "bad_rows"}.
    """
    counts = {"rows": 0, "correct": 0, "bad_rows": 0}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(in_path, "rb") as src, open(out_path, "w", encoding="utf-8") as dst:
        for line_no, raw in enumerate(src, start=1):
            if not raw.strip():
                continue
            result = _verify_line(task, raw)
            counts["rows"] += 1
            counts["correct"] += result["correct"]
            counts["bad_rows"] += result["reason"].startswith("bad_row:")
            dst.write(json.dumps({**result, "line": line_no}) + "\n")
    return counts


def _verify_line(task: Task, raw: bytes) -> dict[str, Any]:
    row, problem = _parse_line(raw)
    task_id = row.get("task_id") if isinstance(row, dict) else None
    if not isinstance(task_id, str):
        task_id = None
    if problem is None:
        problem = _row_problem(task, row)
    if problem is not None:
        return {"task_id": task_id, "correct": False, "reason": f"bad_row:{problem}"}
    verdict = task.verify(row, row["response"])
    return {"task_id": task_id, "correct": verdict.correct, "reason": verdict.reason}


def _parse_line(raw: bytes) -> tuple[Any, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8"
    try:
        return json.loads(text), None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is an over-long int literal
        return None, "not_json"


def _row_problem(task: Task, row: Any) -> str | None:
    if not isinstance(row, dict):
        return "not_an_object"
    if "response" not in row:
        return "missing_response"
    if not isinstance(row["response"], str):
        return "response_not_a_string"
    validate = getattr(task, "validate_row", None)
    return validate(row) if validate is not None else None
