"""Reading and checking Countdown problems from a user's dataset (the task's `source` when it is not generated).

A user's file is untrusted: one bad row must cost one rejected row, never the run. So this module reads a
source row by row, keeps each row's original text, and turns every row into either a (numbers, target) problem
or a reject reason. problems.py then dedupes, solves, splits and caps the problems.

Accepted row shape: TinyZero's Jiayi-Pan/Countdown-Tasks-3to4, `{"target": int, "nums": [int, ...]}`, or the
same with `numbers` for `nums` (this pipeline's own rows); other fields are ignored. An integral float (24.0,
as pandas or Parquet often store integers) is read as that integer. These row rules (`problem_of`) are also
the ones `r3 verify` applies to a Countdown row (task.read_row), so a file that loads also verifies and
the reasons match. Sources: a .jsonl file
(read line by line here), a .json file holding a list of rows or a .parquet file (read whole), or a local
dataset folder / hub id loaded with `datasets`.

Reject reasons:
  invalid_json:line N          a JSONL line that does not parse (truncated, NaN, a repeated key, ...)
  invalid_utf8:line N          a JSONL line that is not UTF-8
  too_large                    a row over MAX_ROW_CHARS characters of text (no Countdown row is near that)
  not_an_object                a row that is not a JSON object
  missing_field:<name>         target, or nums when neither nums nor numbers is given (null counts as missing)
  conflicting_fields:nums,numbers  both given, with different values
  bool_as_int                  true/false where an int belongs (Python would treat it as 1/0)
  bad_type:<name>              target not a number, or the numbers not a list of numbers
  not_integral:<name>          a float that is not a whole number (24.5, NaN, Infinity) as target or a number
  empty_numbers                an empty list of numbers
  too_many_numbers             more numbers than the task's MAX_COUNT: past that the exact solver is too costly
                               to prove a row solvable, so such rows are refused rather than kept unchecked
  negative_number              a number below 0 (Countdown numbers are non-negative)
  magnitude                    target or a number of magnitude >= MAX_MAGNITUDE (the verifier's bound)
and, from the task: duplicate_problem (the same numbers and target as an earlier row) and unsolvable (the
exact solver proves there is no solution). A rejected row is the row's position (`line` in a JSONL file, else
1-based `row`), its original text as `raw_row` and its `reject_reason`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r3_pipeline.tasks.base import Row
from r3_pipeline.tasks.countdown.verify import MAX_MAGNITUDE
from r3_pipeline.tasks.rows import LOCAL_SUFFIXES, RowRejected, load_rows, split_rows
from r3_pipeline.tasks.strict_json import JsonRejected, loads_strict

GENERATED = "generated"
NUMBER_FIELDS = ("nums", "numbers")  # TinyZero's name first, then this pipeline's
MAX_ROW_CHARS = 100_000
MAX_JSON_DEPTH = 20
_CLIP_CHARS = 200  # how much of a too-large row's text is kept


@dataclass(frozen=True)
class SourceRow:
    """One row as read: where it was, its original text, and its parsed value or the reason it is unreadable."""

    where: dict[str, int]
    text: str
    value: Any = None
    error: str | None = None

    def rejected(self, reason: str) -> Row:
        return {**self.where, "raw_row": self.text, "reject_reason": reason}


# -- reading ----------------------------------------------------------------------------------------------------

def read_source(source: str, split: str = "train") -> Iterator[SourceRow]:
    """The rows of `source`, lazily for JSONL. A source that cannot be read at all raises ValueError naming it."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in LOCAL_SUFFIXES and not path.is_file():
        raise ValueError(f"countdown source {source!r}: no such file")
    if suffix == ".jsonl":
        return _jsonl_rows(path)
    return (_table_row(value, index) for index, value in enumerate(_load_whole(source, split), start=1))


def _load_whole(source: str, split: str) -> list[Any]:
    try:
        return load_rows(source, split)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the user must fix `source`
        hint = ""
        if source.lower().endswith(".json"):
            hint = "; a .json file must parse as a whole, use .jsonl to have bad lines set aside one by one"
        problem = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"countdown source {source!r} could not be loaded ({problem}){hint}") from exc


def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    with open(path, "rb") as src:  # bytes, so one non-UTF-8 line is one rejected row, not a crash
        for line_no, raw in enumerate(src, start=1):
            if raw.strip():
                yield _jsonl_row(raw.rstrip(b"\r\n"), line_no)


def _jsonl_row(raw: bytes, line_no: int) -> SourceRow:
    where = {"line": line_no}
    if len(raw) > MAX_ROW_CHARS:
        return SourceRow(where, _clip(raw.decode("utf-8", "backslashreplace")), error="too_large")
    try:
        text = raw.decode("utf-8-sig")  # -sig: a BOM that Windows tools put before line 1 is not a bad row
    except UnicodeDecodeError:
        return SourceRow(where, raw.decode("utf-8", "backslashreplace"), error=f"invalid_utf8:line {line_no}")
    try:
        value = loads_strict(text, max_chars=MAX_ROW_CHARS, max_depth=MAX_JSON_DEPTH)
    except JsonRejected:
        return SourceRow(where, text, error=f"invalid_json:line {line_no}")
    return SourceRow(where, text, value)


def _table_row(value: Any, index: int) -> SourceRow:
    text = json.dumps(value, default=str)  # ASCII-escaped, so even lone surrogates store safely
    if len(text) > MAX_ROW_CHARS:
        return SourceRow({"row": index}, _clip(text), error="too_large")
    return SourceRow({"row": index}, text, value)


def _clip(text: str) -> str:
    return f"{text[:_CLIP_CHARS]}... ({len(text)} chars)"


# -- checking ---------------------------------------------------------------------------------------------------

def check_problem(row: SourceRow, max_count: int) -> tuple[list[int], int]:
    """The row's (numbers, target); raises RowRejected with the reason when it is not a usable problem."""
    if row.error:
        raise RowRejected(row.error)
    return problem_of(row.value, max_count)


def problem_of(value: Any, max_count: int) -> tuple[list[int], int]:
    """(numbers, target) of one parsed row under the module's row rules; raises RowRejected with the reason."""
    if not isinstance(value, dict):
        raise RowRejected("not_an_object")
    name = _numbers_field(value)
    target = _check_target(value.get("target"))
    return _check_numbers(value[name], name, max_count), target


def _numbers_field(value: dict) -> str:
    given = [name for name in NUMBER_FIELDS if value.get(name) is not None]
    if not given:
        raise RowRejected(f"missing_field:{NUMBER_FIELDS[0]}")
    if len(given) > 1 and value[given[0]] != value[given[1]]:
        raise RowRejected(f"conflicting_fields:{','.join(NUMBER_FIELDS)}")
    return given[0]


def _check_target(target: Any) -> int:
    if target is None:
        raise RowRejected("missing_field:target")
    if isinstance(target, bool):
        raise RowRejected("bool_as_int")
    target = _integer(target, "target")
    if abs(target) >= MAX_MAGNITUDE:
        raise RowRejected("magnitude")
    return target


def _check_numbers(numbers: Any, name: str, max_count: int) -> list[int]:
    if not isinstance(numbers, list):
        raise RowRejected(f"bad_type:{name}")
    if not numbers:
        raise RowRejected("empty_numbers")
    if len(numbers) > max_count:
        raise RowRejected("too_many_numbers")
    if any(isinstance(n, bool) for n in numbers):
        raise RowRejected("bool_as_int")
    numbers = [_integer(n, name) for n in numbers]
    if any(n < 0 for n in numbers):
        raise RowRejected("negative_number")
    if any(n >= MAX_MAGNITUDE for n in numbers):
        raise RowRejected("magnitude")
    return numbers


def _integer(value: Any, name: str) -> int:
    """An int, or a float holding a whole number (24.0) as that int; bools are refused before this is called."""
    if type(value) is int:
        return value
    if type(value) is not float:
        raise RowRejected(f"bad_type:{name}")
    if not math.isfinite(value) or not value.is_integer():
        raise RowRejected(f"not_integral:{name}")
    return int(value)


# -- splitting --------------------------------------------------------------------------------------------------

def goes_to_test(task_id: str, test_fraction: float, seed: int) -> bool:
    """The function-calling task's seeded hash split (split_rows), decided one row at a time.

    A row's side depends only on (seed, task_id), and equal problems share a task_id, so the same problem can
    never land on both sides.
    """
    _, test = split_rows([{"id": task_id}], test_fraction, seed)
    return bool(test)
