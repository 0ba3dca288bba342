"""The failure inbox: where a team drops the requests its deployed model got wrong, and how one file is read.

What a team running R3 in production has is a stream of real requests the model failed, not fresh synthetic
tasks. They drop them in the spec's inbox folder (`inbox.path`, default <R3_HOME>/inbox/<spec>) as JSONL or
Parquet files of task rows in any format `r3 verify` accepts, each optionally with the deployed model's
`response`. A file counts once it is complete: write it under a name that starts with "." or ends in
.part/.tmp, then rename it to its final *.jsonl or *.parquet name (a rename within one folder is atomic), so a
half-written file is never read. A file name is consumed once; a new batch needs a new name.

Rows are checked by the task's own row rules, as `r3 verify` checks them (verify_file.check_row); a bad row is
set aside with its reason, never fatal. So is a row that is one of the spec's held-out tasks (training on it would
make the held-out evaluation meaningless). Each accepted row gets a task id from its content, `prod-<hash>`, so
the same request dropped again under another file name is recognised: recorded again, never trained on twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from r3_pipeline.layout import Layout
from r3_pipeline.spec import Spec
from r3_pipeline.tasks.base import Row, Task
from r3_pipeline.verify_file import check_row, decoded_lines

SUFFIXES = (".jsonl", ".parquet")
INCOMPLETE_SUFFIXES = (".part", ".tmp")
PRODUCTION_PREFIX = "prod-"
NOT_PROBLEM_FIELDS = frozenset({"task_id", "id", "solution", "response"})
MAX_PARQUET_BYTES = 256 << 20  # a file of failed requests, not a dataset: far above any real batch


def inbox_dir(spec: Spec, layout: Layout) -> Path:
    return Path(spec.inbox.path).expanduser().resolve() if spec.inbox.path else layout.home / "inbox" / spec.name


def complete_files(folder: Path) -> list[str]:
    """Names of the complete files in `folder`, sorted: *.jsonl and *.parquet, not hidden, not being written."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not p.name.startswith(".") and not p.name.endswith(INCOMPLETE_SUFFIXES))


@dataclass
class InboxRow:
    """One input row: accepted (`row` set, `task_id` its content id) or rejected (`reason` says why)."""

    line: int
    label: str
    row: Row | None
    task_id: str | None
    reason: str
    response_correct: bool | None
    raw: Any


def problem_key(row: dict, fields: frozenset[str]) -> str:
    """What makes two rows the same problem: the task's problem fields (those its split rows have, `fields`),
    canonically serialised; all fields but ids, solution and response when the row has none of them."""
    chosen = {k: row[k] for k in fields if k in row} or {k: v for k, v in row.items() if k not in NOT_PROBLEM_FIELDS}
    return json.dumps(chosen, sort_keys=True, default=str)


def production_task_id(key: str) -> str:
    return PRODUCTION_PREFIX + hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def read_inbox_file(task: Task, path: Path, held_out: list[Row]) -> list[InboxRow]:
    """Every row of one inbox file, accepted or rejected with a reason. The fields of `held_out` (the spec's test
    rows) say what makes a problem, and so a row's content id; a row that is one of those tasks is set aside."""
    fields = frozenset(k for r in held_out[:50] for k in r) - NOT_PROBLEM_FIELDS
    held_out_ids = {production_task_id(problem_key(r, fields)) for r in held_out}
    rows = [_read(task, line, value, problem, fields) for line, value, problem in _decoded(path)]
    for r in rows:
        if r.task_id in held_out_ids:
            r.row, r.task_id, r.reason = None, None, "bad_row:held_out_task"
    return rows


def _read(task: Task, line: int, value: Any, problem: str | None, fields: frozenset[str]) -> InboxRow:
    if problem is not None:
        return InboxRow(line, f"line:{line}", None, None, f"bad_row:{problem}", None, value)
    try:
        label, checked, problem = check_row(task, value, line, response_required=False)
    except Exception as exc:  # noqa: BLE001 - one row breaking a task's rules must not stop the file
        label, checked, problem = {"task_id": f"line:{line}"}, None, f"internal_error:{type(exc).__name__}"
    if problem is not None:
        return InboxRow(line, label["task_id"], None, None, f"bad_row:{problem}", None, value)
    row = {k: v for k, v in checked.items() if k != "response"}
    row["task_id"] = production_task_id(problem_key(row, fields))
    correct = None
    if isinstance(value.get("response"), str):
        try:
            correct = bool(task.verify(row, value["response"]).correct)
        except Exception:  # noqa: BLE001 - an unscorable response is recorded as not correct
            correct = False
    return InboxRow(line, label["task_id"], row, row["task_id"], "accepted", correct, value)


def _decoded(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    if path.suffix.lower() == ".jsonl":
        yield from decoded_lines(path)
        return
    if path.stat().st_size > MAX_PARQUET_BYTES:
        yield 0, None, "file_too_large"
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError):
        yield 0, None, "not_parquet"
        return
    for line, row in enumerate(rows, start=1):  # a null in a Parquet column is a field the row does not have
        yield line, {k: v for k, v in row.items() if v is not None}, None
