"""Task-independent row utilities: reading raw rows from a file or the hub, the seeded hash split, and the one
exception that carries a reject reason (`Rejected`: a row refused by a loader, a JSON text refused by
`strict_json.loads_strict`). Every task's data module builds on these, so a Countdown file and an xLAM file are
read, split and refused alike.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from r3_pipeline.tasks.base import Row

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")
LOAD_ERROR = "_load_error"  # private marker on rows the loader could not read (e.g. a bad JSONL line)


class Rejected(Exception):
    """Carries a reject reason (a short machine-readable code) out of a check."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RowRejected(Rejected):
    """A row refused by a task's row checks; `reason` is its reject reason."""


# -- loading ----------------------------------------------------------------------------------------------------

def load_rows(path_or_hub_id: str, split: str = "train", what: str = "data file") -> list[dict]:
    """Raw rows from a local .json (a JSON list, or JSON lines as BFCL ships them), .jsonl or .parquet file,
    or else from the hub.

    A path with one of those suffixes that does not exist raises FileNotFoundError (it is never sent to the
    hub); an existing file of another type raises ValueError; anything else (a hub id, or a local dataset
    folder) goes to `datasets.load_dataset`. Unreadable JSONL lines become rows marked with LOAD_ERROR, which
    the tasks' row checks reject as bad_json:row.
    """
    path = Path(path_or_hub_id)
    if path.suffix.lower() in LOCAL_SUFFIXES:
        if not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
        return _load_local(path)
    if path.is_file():
        raise ValueError(f"{path}: unsupported file type; use {', '.join(LOCAL_SUFFIXES)}")
    import datasets  # heavy import, only for hub ids and dataset folders

    return [dict(row) for row in datasets.load_dataset(path_or_hub_id, split=split)]


def _load_local(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".jsonl" or not _starts_with_list(path):
        return _load_jsonl(path)  # BFCL ships JSON lines under a .json name
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    return data


def _starts_with_list(path: Path) -> bool:
    with open(path, "rb") as src:
        return src.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _load_jsonl(path: Path) -> list[Any]:
    rows: list[Any] = []
    with open(path, "rb") as src:
        for line_no, raw in enumerate(src, start=1):
            if raw.strip():
                rows.append(_jsonl_row(raw, line_no))
    return rows


def _jsonl_row(raw: bytes, line_no: int) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        text = raw[:200].decode("utf-8", "replace")
        return {"line": line_no, "raw_line": text, LOAD_ERROR: "bad_json:row"}


# -- splitting --------------------------------------------------------------------------------------------------

def split_rows(rows: list[Row], test_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Deterministic (train, test) split by hashing each row's id with the seed; input order is kept.

    A row's side depends only on (seed, id), so adding or removing other rows never moves it.
    """
    train: list[Row] = []
    test: list[Row] = []
    for row in rows:
        (test if _unit_hash(seed, row["id"]) < test_fraction else train).append(row)
    return train, test


def _unit_hash(seed: int, row_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{row_id}".encode("utf-8", "backslashreplace")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
