"""Verify a JSONL file of task rows with model responses, so any response set can be re-scored offline.

Bad input lines are reported in the output and counted, never fatal: one corrupt line in a large response
dump should not hide the scores of all the others. A response file is model output, so it is read as hostile
input (DESIGN.md section 7): every line is bounded in size before it is decoded and in nesting depth before it
is parsed, and a line over the size bound is skipped without ever being held in memory whole.

Bad-row reasons (`bad_row:<why>`): too_long (over MAX_LINE_BYTES), not_utf8, too_deep (JSON nesting over
MAX_LINE_DEPTH), not_json, duplicate_key (the same key twice in one object: which response would count?),
not_an_object, missing_response, response_not_a_string, and the task's own `validate_row` reasons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Iterator

from r3_pipeline.tasks.base import Task
from r3_pipeline.tasks.function_calling_verify import nesting_exceeds

MAX_LINE_BYTES = 1 << 20  # a row holds at most a 20k-char response plus tools and answers: far below this
MAX_LINE_DEPTH = 64
_SKIP_CHUNK = 1 << 16


class _DuplicateKey(ValueError):
    """Raised by the object hook; a ValueError so it never escapes as anything unexpected."""


def verify_jsonl(task: Task, in_path: str | Path, out_path: str | Path) -> dict[str, int]:
    """Write one {"task_id", "correct", "reason", "line"} JSON line per non-blank input line.

    Each input line is a task row plus a string `response`. Lines that are over-long, not UTF-8, not JSON
    objects, lack a string response, or fail the task's `validate_row` (when it has one) get correct=false and
    reason "bad_row:<why>". Returns counts {"rows", "correct", "bad_rows"}.
    """
    counts = {"rows": 0, "correct": 0, "bad_rows": 0}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(in_path, "rb") as src, open(out_path, "w", encoding="utf-8") as dst:
        for line_no, raw in enumerate(_bounded_lines(src), start=1):
            if raw is not None and not raw.strip():
                continue
            result = _bad(None, "too_long") if raw is None else verify_line(task, raw)
            counts["rows"] += 1
            counts["correct"] += result["correct"]
            counts["bad_rows"] += result["reason"].startswith("bad_row:")
            dst.write(json.dumps({**result, "line": line_no}) + "\n")
    return counts


def _bounded_lines(src: IO[bytes]) -> Iterator[bytes | None]:
    """The file's lines; None stands for a line over MAX_LINE_BYTES, whose rest is read and dropped in chunks."""
    while True:
        line = src.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if line.endswith(b"\n") or len(line) <= MAX_LINE_BYTES:
            yield line
            continue
        while (chunk := src.readline(_SKIP_CHUNK)) and not chunk.endswith(b"\n"):
            pass
        yield None


def verify_line(task: Task, raw: bytes) -> dict[str, Any]:
    """{"task_id", "correct", "reason"} for one raw JSONL line (bytes, newline optional); never raises."""
    row, problem = _parse_line(raw)
    task_id = row.get("task_id") if isinstance(row, dict) else None
    if not isinstance(task_id, str):
        task_id = None
    try:
        if problem is None:
            problem = _row_problem(task, row)
        if problem is not None:
            return _bad(task_id, problem)
        verdict = task.verify(row, row["response"])
    except Exception as exc:  # noqa: BLE001 - one row breaking a task must not stop the whole file
        return {"task_id": task_id, "correct": False, "reason": f"internal_error:{type(exc).__name__}"}
    return {"task_id": task_id, "correct": verdict.correct, "reason": verdict.reason}


def _bad(task_id: str | None, problem: str) -> dict[str, Any]:
    return {"task_id": task_id, "correct": False, "reason": f"bad_row:{problem}"}


def _parse_line(raw: bytes) -> tuple[Any, str | None]:
    if len(raw) > MAX_LINE_BYTES + 1 or len(raw) - raw.endswith(b"\n") > MAX_LINE_BYTES:
        return None, "too_long"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8"
    if nesting_exceeds(text, MAX_LINE_DEPTH):
        return None, "too_deep"
    try:
        return json.loads(text, object_pairs_hook=_unique_keys), None
    except _DuplicateKey:
        return None, "duplicate_key"
    except (ValueError, RecursionError, MemoryError):  # JSONDecodeError is a ValueError; so is an over-long int
        return None, "not_json"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey()
    return result


def _row_problem(task: Task, row: Any) -> str | None:
    if not isinstance(row, dict):
        return "not_an_object"
    if "response" not in row:
        return "missing_response"
    if not isinstance(row["response"], str):
        return "response_not_a_string"
    validate = getattr(task, "validate_row", None)
    return validate(row) if validate is not None else None
