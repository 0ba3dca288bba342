"""Reading BFCL (Berkeley Function Calling Leaderboard) rows into function-calling task rows.

Users compare function-calling models on BFCL, so its files are taken as they ship (bfcl-eval's data folder,
one JSON object per line even under a .json name; a JSON list works too):
  question file         {"id", "question": [[{"role", "content"}, ...]], "function": [JSON-schema docs]}
  possible_answer file  {"id", "ground_truth": [{function: {argument: [acceptable values...]}}, ...]}
joined by `id`. A question row may also carry its `ground_truth` itself (the shape `r3 verify` takes).
Categories come from the id as BFCL names them (`simple_python_3`, `live_parallel_2-1-0`, ...): simple,
multiple, parallel and parallel_multiple are AST rows (a non-empty ground_truth is required), irrelevance
rows expect no call (no ground_truth, or []); other BFCL categories are refused. An id that names no BFCL
category is an AST row, or an irrelevance row when its ground_truth is [].

A good row is a function-calling task row: `query` (the user message; a leading system message is put before
it, separated by a blank line), `tools` (the functions in xLAM form, for the prompt), `answers` (one reference
call per expected call: an argument with "" among its values left out unless required, any other at its
first acceptable value) and `bfcl` = {"category", "functions", "ground_truth"}, so verification applies
BFCL's rules (bfcl_verify), never the exact match of `answers`. A row whose reference answer would not verify is refused, so every kept row
can be answered correctly.

Reject reasons (the raw row plus `reject_reason`, never fatal): not_an_object, missing_field:<name>,
bad_shape:<id|question|function|ground_truth> (function: also an empty list, as some live_irrelevance rows
have, since a row must offer a tool to refuse; ground_truth: also an empty list of acceptable values, which
nothing could match), too_large (over MAX_CHARS or nested deeper than MAX_DEPTH), unsupported_category:<category>,
unsupported_question (more than one turn, or not [system?, user]), unknown_tool:<name> (the ground truth calls
a function that is not offered), conflicting_fields:ground_truth (in the row and in the answers file, not
equal), duplicate_answer (two answer rows for one id), duplicate_id:<id>, unsatisfiable:<reason> (the
reference call fails BFCL's own rules), bad_json:row; answer rows: bad_answer_row (no usable id) and
unmatched_answer (no question row has its id).

The same files straight from the bfcl-eval wheel: bfcl_package.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from r3_pipeline.tasks.base import Row
from r3_pipeline.tasks.function_calling.bfcl_tools import xlam_tools
from r3_pipeline.tasks.function_calling.bfcl_verify import OPTIONAL, verify_bfcl
from r3_pipeline.tasks.function_calling.data import (
    MAX_REASON_ID_CHARS,
    RowRejected,
    check_id,
    load_xlam,
    rejected_row,
    utf8_ok,
    validate_rows,
)
from r3_pipeline.tasks.function_calling.verify import safe_name
from r3_pipeline.tasks.strict_json import nesting_exceeds

MAX_CHARS = {"question": 16_000, "function": 40_000, "ground_truth": 8_000}
MAX_CALLS = 32
MAX_DEPTH = 32  # BFCL's deepest docs nest about 10 levels
AST_CATEGORIES = ("simple", "simple_python", "multiple", "parallel", "parallel_multiple")
IRRELEVANCE = "irrelevance"
_UNSUPPORTED = ("simple_java", "simple_javascript", "java", "javascript", "relevance", "multi_turn", "memory",
                "web_search", "format_sensitivity", "sql", "exec", "rest")  # each a category or a family_*
_BFCL_ID = re.compile(r"(?:live_)?([a-z_]+?)_\d[\w-]*")
_MISSING = object()


def is_bfcl_row(raw: Any) -> bool:
    """A BFCL question row (rather than an xLAM row): it has `question` and `function`."""
    return isinstance(raw, dict) and "question" in raw and "function" in raw


# -- answers files ----------------------------------------------------------------------------------------------

class Answers:
    """A possible_answer file indexed by id; remembers which ids were used, to report the rest."""

    def __init__(self, rows: Iterable[Any] = ()):
        self.by_id: dict[str, list[Any]] = {}
        self.rejected: list[Row] = []
        self.used: set[str] = set()
        for raw in rows:
            row_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(row_id, bool) or not isinstance(row_id, (str, int)) or "ground_truth" not in raw:
                self.rejected.append(rejected_row(raw, "bad_answer_row"))
            else:
                self.by_id.setdefault(str(row_id), []).append(raw["ground_truth"])

    @classmethod
    def load(cls, path: str | None) -> Answers:
        return cls(load_xlam(path) if path else ())

    def take(self, row_id: str) -> Any:
        """The ground truth for `row_id` (_MISSING when the file has none); raises on duplicate answers."""
        found = self.by_id.get(row_id)
        if found is None:
            return _MISSING
        self.used.add(row_id)
        if len(found) > 1:
            raise RowRejected("duplicate_answer")
        return found[0]

    def unmatched(self) -> list[Row]:
        """Answer rows no question took, and unreadable ones: reported, never dropped silently."""
        left = [{"id": row_id, "ground_truth": truth, "reject_reason": "unmatched_answer"}
                for row_id, truths in self.by_id.items() if row_id not in self.used for truth in truths]
        return self.rejected + left


# -- rows -------------------------------------------------------------------------------------------------------

def read_bfcl_row(raw: Any, answers: Answers | None = None) -> Row:
    """The task row for one BFCL question row (its ground truth inline or from `answers`); raises RowRejected."""
    if not isinstance(raw, dict):
        raise RowRejected("not_an_object")
    for name in ("id", "question", "function"):
        if raw.get(name) is None:
            raise RowRejected(f"missing_field:{name}")
    for name in MAX_CHARS:
        if name in raw:
            _check_size(raw[name], name)
    row_id = check_id(raw["id"])
    category = category_of(row_id)
    query = _query(raw["question"])
    functions = _functions(raw["function"])
    truth = _ground_truth(raw, row_id, answers, category)
    _check_truth(truth, functions)
    calls = [reference_call(entry, functions) for entry in truth]
    problem = verify_bfcl(functions, truth, json.dumps(calls)).reason if truth else "correct"
    if problem != "correct":
        raise RowRejected(f"unsatisfiable:{problem}")
    return {"task_id": f"fc-{row_id}", "id": row_id, "query": query, "tools": xlam_tools(functions),
            "answers": calls,
            "bfcl": {"category": category or (IRRELEVANCE if not truth else "ast"), "functions": functions,
                     "ground_truth": truth}}


def validate_bfcl_rows(raw_rows: Iterable[Any], answers: Answers | None = None,
                       seen_ids: set[str] | None = None) -> tuple[list[Row], list[Row]]:
    """Good task rows and rejected rows (raw row plus `reject_reason`); `seen_ids` as in validate_xlam_rows."""
    return validate_rows(raw_rows, lambda raw: read_bfcl_row(raw, answers), seen_ids)


def category_of(row_id: str) -> str | None:
    """The BFCL category an id names (live_ prefix dropped), None for an id of another kind; raises
    RowRejected for a BFCL category this checker does not cover."""
    match = _BFCL_ID.fullmatch(row_id)
    if not match:
        return None
    category = match.group(1)
    if category in AST_CATEGORIES or category == IRRELEVANCE:
        return category
    if any(category == name or category.startswith(f"{name}_") for name in _UNSUPPORTED):
        raise RowRejected(f"unsupported_category:{category[:MAX_REASON_ID_CHARS]}")
    return None


def _check_size(value: Any, name: str) -> None:
    """Refuse a field over its size bound or nested deeper than MAX_DEPTH (so later walks stay shallow)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        raise RowRejected(f"bad_shape:{name}") from None
    if len(text) > MAX_CHARS[name] or nesting_exceeds(text, MAX_DEPTH):
        raise RowRejected("too_large")


def _query(question: Any) -> str:
    """The user message of a one-turn question, after its system message when there is one."""
    if not isinstance(question, list) or not question or not all(isinstance(turn, list) for turn in question):
        raise RowRejected("bad_shape:question")
    for turn in question:
        for message in turn:
            if (not isinstance(message, dict) or not isinstance(message.get("role"), str)
                    or not isinstance(message.get("content"), str)):
                raise RowRejected("bad_shape:question")
    roles = [m["role"] for m in question[0]]
    if len(question) != 1 or roles not in (["user"], ["system", "user"]):
        raise RowRejected("unsupported_question")
    texts = [m["content"] for m in question[0]]
    if not texts[-1].strip() or not utf8_ok("".join(texts)):
        raise RowRejected("bad_shape:question")
    return "\n\n".join(texts)


def _functions(functions: Any) -> list[dict]:
    if isinstance(functions, dict):
        functions = [functions]  # BFCL's checker takes a lone function doc too
    if not isinstance(functions, list) or not functions or not all(_function_ok(f) for f in functions):
        raise RowRejected("bad_shape:function")
    names = [f["name"] for f in functions]
    if len(set(names)) != len(names):
        raise RowRejected("bad_shape:function")
    return functions


def _function_ok(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        return False
    if not isinstance(doc.get("description", ""), str):
        return False
    params = doc.get("parameters", {"properties": {}})
    if not isinstance(params, dict):
        return False
    properties = params.get("properties", {})
    required = params.get("required", [])
    return (isinstance(properties, dict)
            and all(isinstance(spec, dict) and isinstance(spec.get("type", ""), str) for spec in properties.values())
            and isinstance(required, list) and all(isinstance(p, str) and p in properties for p in required))


def _ground_truth(raw: dict, row_id: str, answers: Answers | None, category: str | None) -> list[dict]:
    inline = raw.get("ground_truth", _MISSING)
    from_file = answers.take(row_id) if answers else _MISSING
    if inline is not _MISSING and from_file is not _MISSING and inline != from_file:
        raise RowRejected("conflicting_fields:ground_truth")
    truth = inline if inline is not _MISSING else from_file
    if truth is not _MISSING:
        _check_size(truth, "ground_truth")
    if category == IRRELEVANCE:
        if truth is _MISSING or truth == []:
            return []
        raise RowRejected("bad_shape:ground_truth")
    if truth is _MISSING or truth is None:
        raise RowRejected("missing_field:ground_truth")
    if not isinstance(truth, list) or len(truth) > MAX_CALLS or (category is not None and not truth):
        raise RowRejected("bad_shape:ground_truth")
    return truth


def _check_truth(truth: list, functions: list[dict]) -> None:
    """Each entry is {offered function: {argument: non-empty list of acceptable values}}."""
    offered = {f["name"] for f in functions}
    for entry in truth:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise RowRejected("bad_shape:ground_truth")
        name, arguments = next(iter(entry.items()))
        if not isinstance(arguments, dict) or not all(isinstance(v, list) and v for v in arguments.values()):
            raise RowRejected("bad_shape:ground_truth")
        if name not in offered:
            raise RowRejected(f"unknown_tool:{safe_name(name)}")


def reference_call(entry: dict[str, dict[str, list]], functions: list[dict]) -> dict:
    """One call BFCL accepts: an argument whose acceptable values include "" is left out unless the function
    requires it; any other takes its first acceptable value (for a dict, each key its own first value)."""
    name, arguments = next(iter(entry.items()))
    params = next((f.get("parameters", {}) for f in functions if f["name"] == name), {})
    required = params.get("required", [])
    properties = params.get("properties", {})
    chosen = {}
    for param, allowed in arguments.items():
        if OPTIONAL in allowed and param not in required:
            continue
        value = next((a for a in allowed if a != OPTIONAL), OPTIONAL)
        if value != OPTIONAL:
            chosen[param] = _concrete(value, properties.get(param, {}))
    return {"name": name, "arguments": chosen}


def _concrete(value: Any, spec: dict) -> Any:
    """An acceptable dict (or list of dicts) holds lists of acceptable values per key: pick one per key."""
    items = spec.get("items")
    if spec.get("type") == "dict" and isinstance(value, dict):
        return {key: next(v for v in options if v != OPTIONAL) for key, options in value.items()
                if isinstance(options, list) and any(v != OPTIONAL for v in options)}
    if isinstance(items, dict) and items.get("type") == "dict" and isinstance(value, list):
        return [_concrete(v, items) for v in value]
    return value
