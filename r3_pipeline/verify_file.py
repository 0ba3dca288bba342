"""Verify a JSONL file of task rows with model responses, so any response set can be re-scored offline.

Bad input lines are reported in the output and counted, never fatal: one corrupt line in a large response
dump should not hide the scores of all the others. A response file is model output, so it is read as hostile
input (docs/reliability.md, section 1): every line is bounded in size before it is decoded and in nesting depth before it
is parsed, and a line over the size bound is skipped without ever being held in memory whole.

Rows are taken as people have them: the task's own row rules (`read_row`, the same rules as its loaders)
decide what a row needs, and a `task_id` is optional. Each output line says which label it carries:
`task_id_source` is "task_id" (the row's own), "id" (the row's `id`, when it has no task_id) or "line" (neither:
`task_id` is then "line:<n>"). A task_id or id that is given must be a non-empty string or an integer.

Bad-row reasons (`bad_row:<why>`): too_long (over MAX_LINE_BYTES), not_utf8, too_deep (JSON nesting over
MAX_LINE_DEPTH), not_json, duplicate_key (the same key twice in one object: which response would count?),
not_an_object, bad_type:task_id, bad_type:id, missing_response, response_not_a_string, and the task's own row
reasons (tasks/countdown/data.py and tasks/function_calling/data.py list them).

The file's outcome is a VerifySummary: counts by reason, the first few bad rows with their line numbers, and an
exit status that is 1 when the file cannot be trusted: no rows at all, every row bad, or a bad-row share over
`max_bad` (`r3 verify --max-bad`, whose default is in verify_cli.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from r3_pipeline.tasks.base import Task
from r3_pipeline.tasks.function_calling.verify import safe_name
from r3_pipeline.tasks.rows import RowRejected
from r3_pipeline.tasks.strict_json import nesting_exceeds

MAX_LINE_BYTES = 1 << 20  # a row holds at most a 20k-char response plus tools and answers: far below this
MAX_LINE_DEPTH = 64
FIRST_BAD_ROWS_SHOWN = 5
_SKIP_CHUNK = 1 << 16


class _DuplicateKey(ValueError):
    """Raised by the object hook; a ValueError so it never escapes as anything unexpected."""


def verify_jsonl(task: Task, in_path: str | Path, out_path: str | Path) -> VerifySummary:
    """Write one {"task_id", "task_id_source", "correct", "reason", "line"} JSON line per non-blank input line.

    Each input line is a task row plus a string `response`. Lines that are over-long, not UTF-8, not JSON
    objects, lack a string response, or fail the task's row rules get correct=false and reason
    "bad_row:<why>". Returns the file's VerifySummary.
    """
    summary = VerifySummary()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(in_path, "rb") as src, open(out_path, "w", encoding="utf-8") as dst:
        for line_no, raw in enumerate(_bounded_lines(src), start=1):
            if raw is not None and not raw.strip():
                continue
            result = _bad(_line_label(line_no), "too_long") if raw is None else verify_line(task, raw, line_no)
            result["line"] = line_no
            summary.add(result)
            dst.write(json.dumps(result) + "\n")
    return summary


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


def verify_line(task: Task, raw: bytes, line_no: int = 0) -> dict[str, Any]:
    """{"task_id", "task_id_source", "correct", "reason"} for one raw JSONL line (bytes, newline optional) that
    is line `line_no` of its file; never raises."""
    row, problem = _parse_line(raw)
    label = _line_label(line_no)
    try:
        if problem is None:
            label, checked, problem = check_row(task, row, line_no)
        if problem is not None:
            return _bad(label, problem)
        verdict = task.verify(checked, row["response"])
    except Exception as exc:  # noqa: BLE001 - one row breaking a task must not stop the whole file
        return {**label, "correct": False, "reason": f"internal_error:{type(exc).__name__}"}
    return {**label, "correct": verdict.correct, "reason": verdict.reason}


def decoded_lines(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, decoded JSON value, None) or (line number, None, bad-row reason) for each non-blank line of a
    JSONL file, under the same bounds as `verify_jsonl` (the failure inbox reads its files with this)."""
    with open(path, "rb") as src:
        for line_no, raw in enumerate(_bounded_lines(src), start=1):
            if raw is None:
                yield line_no, None, "too_long"
            elif raw.strip():
                yield line_no, *_parse_line(raw)


def check_row(task: Task, row: Any, line_no: int,
              response_required: bool = True) -> tuple[dict[str, str], Any, str | None]:
    """(label, the row as the task verifies it, None) or (label, None, bad-row reason) for one decoded row; with
    `response_required` false a row without `response` is fine, but one given must be a string."""
    label, problem = _row_label(row, line_no)
    if problem is None:
        checked, problem = _checked_row(task, row, response_required)
        if problem is None:
            return label, checked, None
    return label, None, problem


def _bad(label: dict[str, str], problem: str) -> dict[str, Any]:
    return {**label, "correct": False, "reason": f"bad_row:{problem}"}


def _line_label(line_no: int) -> dict[str, str]:
    return {"task_id": f"line:{line_no}", "task_id_source": "line"}


def _row_label(row: Any, line_no: int) -> tuple[dict[str, str], str | None]:
    """The row's label (its task_id, else its id, else its line) and a bad-row reason for an ill-typed one."""
    if not isinstance(row, dict):
        return _line_label(line_no), "not_an_object"
    for key in ("task_id", "id"):
        value = row.get(key)
        if value is None:
            continue
        if (isinstance(value, str) and value) or type(value) is int:
            return {"task_id": str(value), "task_id_source": key}, None
        return _line_label(line_no), f"bad_type:{key}"
    return _line_label(line_no), None


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


def _checked_row(task: Task, row: dict, response_required: bool = True) -> tuple[Any, str | None]:
    """(the row as the task verifies it, None), or (None, the bad-row reason)."""
    if "response" not in row and response_required:
        return None, "missing_response"
    if "response" in row and not isinstance(row["response"], str):
        return None, "response_not_a_string"
    read_row = getattr(task, "read_row", None)
    if read_row is None:
        return row, None
    try:
        return read_row(row), None
    except RowRejected as reject:
        return None, reject.reason


# -- the file's outcome -----------------------------------------------------------------------------------------

@dataclass
class VerifySummary:
    """Counts by reason over a verified file, and its first few bad rows (line, task_id, reason)."""

    rows: int = 0
    correct: int = 0
    bad_rows: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first_bad_rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: dict[str, Any]) -> None:
        self.rows += 1
        self.correct += result["correct"]
        self.reasons[result["reason"]] += 1
        if result["reason"].startswith("bad_row:"):
            self.bad_rows += 1
            if len(self.first_bad_rows) < FIRST_BAD_ROWS_SHOWN:
                self.first_bad_rows.append({k: result[k] for k in ("line", "task_id", "reason")})

    @property
    def bad_share(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "correct": self.correct, "bad_rows": self.bad_rows}

    def exit_status(self, max_bad: float) -> tuple[int, str]:
        """(0 or 1, why): 1 when there are no rows, every row is bad, or the bad-row share is over `max_bad`."""
        if not self.rows:
            return 1, "no rows to verify"
        if self.bad_rows == self.rows:
            return 1, "every row is a bad row"
        if self.bad_share > max_bad:
            return 1, f"bad-row share {self.bad_share:.1%} is over --max-bad {max_bad:.1%}"
        return 0, f"bad-row share {self.bad_share:.1%} is within --max-bad {max_bad:.1%}"

    def as_dict(self, max_bad: float) -> dict[str, Any]:
        status, why = self.exit_status(max_bad)
        return {**self.counts(), "wrong": self.rows - self.correct - self.bad_rows, "bad_share": self.bad_share,
                "max_bad": max_bad, "reasons": dict(_ordered(self.reasons)),
                "first_bad_rows": self.first_bad_rows, "exit_status": status, "status_reason": why}

    def table(self, max_bad: float) -> str:
        """The summary for people: verdicts by reason (correct, failures, bad rows), the first bad rows, status."""
        width = max([len("reason"), *map(len, self.reasons)]) + 2
        lines = [f"{'reason':<{width}}{'rows':>8}{'share':>9}"]
        for reason, n in _ordered(self.reasons):
            lines.append(f"{reason:<{width}}{n:>8}{n / self.rows:>9.1%}")
        lines.append(f"{'total':<{width}}{self.rows:>8}")
        if self.first_bad_rows:
            lines.append(f"first bad rows ({len(self.first_bad_rows)} of {self.bad_rows}):")
            # A task_id comes from the file: escaped, so it cannot send control sequences to the terminal.
            lines += [f"  line {r['line']} ({safe_name(r['task_id'])}): {r['reason']}" for r in self.first_bad_rows]
        status, why = self.exit_status(max_bad)
        lines.append(f"exit status {status}: {why}")
        return "\n".join(lines)


def _ordered(reasons: Counter[str]) -> list[tuple[str, int]]:
    """correct first, then failure reasons, then bad-row reasons; most frequent first within each group."""
    def key(item: tuple[str, int]) -> tuple[int, int, str]:
        reason, n = item
        group = 0 if reason == "correct" else 2 if reason.startswith("bad_row:") else 1
        return group, -n, reason

    return sorted(reasons.items(), key=key)
