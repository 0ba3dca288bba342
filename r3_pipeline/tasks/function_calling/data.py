"""Loading and validating xLAM / APIGen function-calling rows (Salesforce/xlam-function-calling-60k format).

Real data and the embedded synthetic generator share this one path: both produce raw xLAM rows
(`id`, `query`, `tools`, `answers`, with tools and answers usually JSON strings) and both go through
`validate_xlam_rows`, so a bad row is rejected with the same reason codes whatever its source. Loading never
raises on a bad row: one corrupt line in a 60k-row file becomes a rejected row with a `reject_reason`, and the
pipeline's asset check decides whether the reject rate is acceptable.

Raw row format (as on the hub):
  id       int or str, unique
  query    the user request
  tools    JSON list of {"name", "description", "parameters"}, parameters a flat map
           name -> {"type": "str" | "int" | "float" | "bool" | "List[int]" | "str, optional" ..., "description",
           "default"?}; a parameter is optional when its type ends in ", optional" (xLAM) or it has a
           `default` (as in BFCL-derived data), in the schema shown to the model and in the verifier alike
  answers  JSON list of {"name", "arguments"}
Normalised good row: {"task_id": "fc-<id>", "id": str, "query", "tools": list, "answers": list}.

Reject reasons: missing_field:<name>, bad_json:tools, bad_json:answers, bad_shape:tools, bad_shape:answers,
bad_shape:id, bad_shape:query, unknown_tool:<name> (an answer calls a tool that is not offered),
duplicate_id:<id> (second and later valid rows with an id already kept), too_large (a field over
MAX_FIELD_CHARS), not_an_object (a row that is not a JSON object) and bad_json:row (a JSONL line that does not
parse). Rejected rows keep the raw row's fields plus `reject_reason`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Iterable

from r3_pipeline.tasks.base import Row
from r3_pipeline.tasks.function_calling.verify import safe_name
from r3_pipeline.tasks.rows import LOAD_ERROR as _LOAD_ERROR
from r3_pipeline.tasks.rows import LOCAL_SUFFIXES, RowRejected, load_rows, split_rows  # noqa: F401 (re-exported)
from r3_pipeline.tasks.strict_json import JsonRejected, loads_strict

REQUIRED_FIELDS = ("id", "query", "tools", "answers")
MAX_FIELD_CHARS = {"id": 200, "query": 4_000, "tools": 40_000, "answers": 8_000}
MAX_JSON_DEPTH = 20
MAX_REASON_ID_CHARS = 64
_XLAM_TO_SCHEMA = {"int": "integer", "float": "number", "str": "string", "bool": "boolean", "dict": "object"}


# -- loading ----------------------------------------------------------------------------------------------------

def load_xlam(path_or_hub_id: str, split: str = "train") -> list[dict]:
    """Raw xLAM rows, read as `r3_pipeline.tasks.rows.load_rows` reads any task's rows."""
    return load_rows(path_or_hub_id, split, "xLAM data file")


# -- validation -------------------------------------------------------------------------------------------------

def validate_xlam_rows(raw_rows: Iterable[Any], seen_ids: set[str] | None = None) -> tuple[list[Row], list[Row]]:
    """Split raw rows into normalised good rows and rejected rows (raw fields plus `reject_reason`).

    `seen_ids` (updated in place) lets several files share one id space, e.g. user train and test files: a row
    whose id was already kept is rejected as duplicate_id. Never raises on a bad row.
    """
    return validate_rows(raw_rows, normalise_row, seen_ids)


def validate_rows(raw_rows: Iterable[Any], read_row: Callable[[Any], Row],
                  seen_ids: set[str] | None = None) -> tuple[list[Row], list[Row]]:
    """Good rows (each `read_row(raw)`, which raises RowRejected on a bad one) and rejected rows; a row whose
    id is already in `seen_ids` (updated in place) is rejected as duplicate_id."""
    seen = set() if seen_ids is None else seen_ids
    good: list[Row] = []
    rejected: list[Row] = []
    for raw in raw_rows:
        try:
            row = read_row(raw)
            if row["id"] in seen:
                raise RowRejected(f"duplicate_id:{safe_name(row['id'])[:MAX_REASON_ID_CHARS]}")
        except RowRejected as reject:
            rejected.append(rejected_row(raw, reject.reason))
            continue
        seen.add(row["id"])
        good.append(row)
    return good, rejected


def rejected_row(raw: Any, reason: str) -> Row:
    """A rejected row: the raw row's fields (or its clipped repr) plus `reject_reason`."""
    if not isinstance(raw, dict):
        return {"raw_row": repr(raw)[:200], "reject_reason": reason}
    kept = {k: v for k, v in raw.items() if k != _LOAD_ERROR}
    return {**kept, "reject_reason": reason}


def row_problem(raw: Any) -> str | None:
    """Why `raw` is not a usable xLAM row, or None (the same checks as `validate_xlam_rows`, one row)."""
    try:
        normalise_row(raw)
    except RowRejected as reject:
        return reject.reason
    return None


def normalise_row(raw: Any) -> Row:
    """The normalised good row for one raw row; raises RowRejected with the reason when it is not usable."""
    if not isinstance(raw, dict):
        raise RowRejected("not_an_object")
    if _LOAD_ERROR in raw:
        raise RowRejected(str(raw[_LOAD_ERROR]))
    for name in REQUIRED_FIELDS:
        if raw.get(name) is None:
            raise RowRejected(f"missing_field:{name}")
    for name in REQUIRED_FIELDS:
        if _size(raw[name]) > MAX_FIELD_CHARS[name]:
            raise RowRejected("too_large")
    row_id = check_id(raw["id"])
    query = _check_query(raw["query"])
    tools = _check_tools(_parse_field(raw["tools"], "tools"))
    answers = _check_answers(_parse_field(raw["answers"], "answers"), tools)
    return {"task_id": f"fc-{row_id}", "id": row_id, "query": query, "tools": tools, "answers": answers}


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return 0  # not JSON-serialisable: the shape checks reject it


def check_id(value: Any) -> str:
    """A row id as a string: a non-empty string or an integer (never a bool); else bad_shape:id."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise RowRejected("bad_shape:id")
    return str(value)


def _check_query(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not utf8_ok(value):
        raise RowRejected("bad_shape:query")
    return value


def _parse_field(value: Any, name: str) -> Any:
    """A JSON-string field parsed strictly (bounded, no NaN, no duplicate keys); lists pass through."""
    if isinstance(value, str):
        try:
            value = loads_strict(value, max_chars=MAX_FIELD_CHARS[name], max_depth=MAX_JSON_DEPTH)
        except JsonRejected as reject:
            raise RowRejected("too_large" if reject.reason == "too_long" else f"bad_json:{name}") from None
    elif not isinstance(value, list):
        raise RowRejected(f"bad_shape:{name}")
    if not _json_clean(value):
        raise RowRejected(f"bad_json:{name}")
    return value


def _json_clean(value: Any) -> bool:
    """Serialisable as UTF-8 JSON (no lone surrogates, no NaN, only JSON types) and not too deep."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    return True


def utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tools(tools: Any) -> list[dict]:
    if not isinstance(tools, list) or not tools:
        raise RowRejected("bad_shape:tools")
    names = [_check_tool(tool) for tool in tools]
    if len(set(names)) != len(names):
        raise RowRejected("bad_shape:tools")
    return tools


def _check_tool(tool: Any) -> str:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
        raise RowRejected("bad_shape:tools")
    params = tool.get("parameters", {})
    if not isinstance(params, dict) or not all(isinstance(spec, dict) for spec in params.values()):
        raise RowRejected("bad_shape:tools")
    if not isinstance(tool.get("description", ""), str):
        raise RowRejected("bad_shape:tools")
    return tool["name"]


def _check_answers(answers: Any, tools: list[dict]) -> list[dict]:
    if not isinstance(answers, list) or not answers:
        raise RowRejected("bad_shape:answers")
    offered = {tool["name"] for tool in tools}
    calls = []
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("name"), str):
            raise RowRejected("bad_shape:answers")
        if not isinstance(answer.get("arguments", {}), dict):
            raise RowRejected("bad_shape:answers")
        if answer["name"] not in offered:
            raise RowRejected(f"unknown_tool:{safe_name(answer['name'])}")
        calls.append({"name": answer["name"], "arguments": answer.get("arguments", {})})
    return calls


# -- optional parameters ----------------------------------------------------------------------------------------

def is_optional(spec: dict) -> bool:
    """An xLAM parameter is optional when its type says so (", optional") or it declares a `default` (the
    verifier's verify.declared_defaults reads the same key)."""
    return "optional" in str(spec.get("type", "")).lower() or "default" in spec


# -- native tool schemas ----------------------------------------------------------------------------------------

def xlam_to_json_schema(tools: list[dict]) -> list[dict]:
    """xLAM tools as OpenAI-style function schemas, the form chat templates with tool support expect."""
    return [_tool_schema(tool) for tool in tools]


def _tool_schema(tool: dict) -> dict:
    properties: dict[str, dict] = {}
    required: list[str] = []
    for name, spec in tool.get("parameters", {}).items():
        prop = {"type": _schema_type(str(spec.get("type", "str"))), "description": str(spec.get("description", ""))}
        if "default" in spec:
            prop["default"] = spec["default"]
        properties[name] = prop
        if not is_optional(spec):
            required.append(name)
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function",
            "function": {"name": tool["name"], "description": tool.get("description", ""), "parameters": parameters}}


def _schema_type(type_text: str) -> str:
    base = type_text.split(",")[0].strip()
    if base.lower().startswith(("list", "tuple", "set")):
        return "array"
    return _XLAM_TO_SCHEMA.get(base.lower(), "string")
