"""Reading the model's function calls: bounded strict JSON from <tool_call> blocks or bare JSON, never executed.

The model's answer is hostile input (the reward depends on it), so reading it must be total (never raises,
whatever the string) and cheap: every size is bounded before any parsing, and nesting depth is checked by a
linear, non-recursive bracket scan before `json.loads` sees the text, so a 100,000-deep input never recurses.
verify.py (exact match) and bfcl_verify.py (BFCL's rules) both read answers through this module.

Accepted answer formats:
  * one `<tool_call>[{"name": ..., "arguments": {...}}, ...]</tool_call>` block holding a JSON list of calls;
  * several `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, one call each (Qwen2.5's
    native format); a block may also hold a list, and all blocks are concatenated in order;
  * with no `<tool_call>` block at all, the whole text (optionally inside a ``` code fence) as a JSON list of
    calls or a single call object.
Text outside the blocks is ignored. A call is an object with a string `name` and an object `arguments`
(`arguments` may be left out for a call without arguments); any other key makes the answer unparseable.

Reasons when an answer cannot be read (`Verdict.reason`): too_long (response over MAX_RESPONSE_CHARS, or a JSON
block over MAX_BLOCK_CHARS), too_deep (nesting deeper than MAX_DEPTH), unparseable (no JSON found, invalid JSON,
NaN/Infinity/overflowing numbers, or wrong shape), unparseable:duplicate_key, internal_error:<Exception>.
"""

from __future__ import annotations

import json
from typing import Any

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.strict_json import MAX_CHARS as MAX_BLOCK_CHARS  # noqa: F401 - loads_strict's bounds, by default
from r3_pipeline.tasks.strict_json import MAX_DEPTH, JsonRejected, loads_strict, nesting_exceeds  # noqa: F401

MAX_RESPONSE_CHARS = 20_000

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
_CALL_KEYS = {"name", "arguments"}

Call = dict[str, Any]


def extract_blocks(response: str) -> list[str]:
    """The texts inside <tool_call>...</tool_call> pairs, in order (linear scan; unclosed tags are ignored).

    Each block runs from the last opening tag before a closing tag, so stray opening tags do not leak in.
    """
    blocks: list[str] = []
    pos = 0
    while True:
        start = response.find(OPEN_TAG, pos)
        if start < 0:
            return blocks
        end = response.find(CLOSE_TAG, start + len(OPEN_TAG))
        if end < 0:
            return blocks
        start = response.rfind(OPEN_TAG, start, end)
        blocks.append(response[start + len(OPEN_TAG) : end])
        pos = end + len(CLOSE_TAG)


def parse_calls(response: str) -> list[Call] | Verdict:
    """The calls in a response as [{"name": str, "arguments": dict}], or a failing Verdict saying why not."""
    try:
        return read_calls(response)
    except JsonRejected as reject:
        return Verdict(False, reject.reason)
    except Exception as exc:  # noqa: BLE001 - a verifier must be total; see module docstring
        return Verdict(False, f"internal_error:{type(exc).__name__}")


def read_calls(response: str) -> list[Call]:
    """The calls in a response, as parse_calls gives them; raises JsonRejected with the reason instead."""
    if not isinstance(response, str):
        raise JsonRejected("unparseable")
    if len(response) > MAX_RESPONSE_CHARS:
        raise JsonRejected("too_long")
    blocks = extract_blocks(response)
    if not blocks:
        return _as_calls(loads_strict(_strip_fence(response)), allow_object=True)
    try:
        return _calls_of(blocks)
    except JsonRejected:
        # A tag inside a JSON string (an argument value "<tool_call>") cuts the block short; read it again
        # with each block's extent taken from the JSON value after its opening tag.
        spanned = _json_blocks(response)
        if spanned is None:
            raise
        return _calls_of(spanned)


def _calls_of(blocks: list[str]) -> list[Call]:
    return [call for block in blocks for call in _as_calls(loads_strict(block), allow_object=True)]


def _json_blocks(response: str) -> list[str] | None:
    """The blocks when each opening tag is followed by one JSON value and then the closing tag (the value may
    contain either tag inside a string); None when the response is not of that form. The stdlib decoder only
    finds where each value ends; `loads_strict` still reads it."""
    decoder, blocks, pos = json.JSONDecoder(), [], 0
    try:
        while (start := response.find(OPEN_TAG, pos)) >= 0:
            begin = start + len(OPEN_TAG)
            value_start = len(response) - len(response[begin:].lstrip())
            _, end = decoder.raw_decode(response, value_start)
            close = response.find(CLOSE_TAG, end)
            if close < 0 or response[end:close].strip():
                return None
            blocks.append(response[begin:close])
            pos = close + len(CLOSE_TAG)
    except (ValueError, RecursionError):
        return None
    return blocks or None


def _strip_fence(text: str) -> str:
    """Drop a surrounding ```json ... ``` fence, which models often put around bare JSON."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        body = text[3:-3]
        newline = body.find("\n")
        first_line = body[:newline] if newline >= 0 else ""
        if first_line.strip().isalpha() or not first_line.strip():
            body = body[newline + 1 :] if newline >= 0 else body
        return body
    return text


def _as_calls(value: Any, allow_object: bool) -> list[Call]:
    if isinstance(value, dict) and allow_object:
        return [_as_call(value)]
    if not isinstance(value, list):
        raise JsonRejected("unparseable")
    return [_as_call(item) for item in value]


def _as_call(value: Any) -> Call:
    if not isinstance(value, dict) or not set(value) <= _CALL_KEYS or not isinstance(value.get("name"), str):
        raise JsonRejected("unparseable")
    arguments = value.get("arguments", {})
    if not isinstance(arguments, dict):
        raise JsonRejected("unparseable")
    return {"name": value["name"], "arguments": arguments}
