"""Strict, bounded JSON for text a model or a data file wrote: `loads_strict` checks size and nesting depth before
`json.loads` sees the text (with a linear, non-recursive bracket scan, so a 100,000-deep input never recurses),
and refuses NaN/Infinity, overflowing numbers and duplicate keys. Every task's verifier and row loader that reads
JSON uses it (function calls, Countdown's JSON rows); refusals are `JsonRejected` with a verdict code as reason.
"""

from __future__ import annotations

import json
import math
from typing import Any

from r3_pipeline.tasks.rows import Rejected

MAX_CHARS = 20_000  # the function-calling verifier's block bound (function_calling/parse.py, MAX_BLOCK_CHARS)
MAX_DEPTH = 20
_FOLD_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = ord("[")
_PEEL_PASSES = 4
_PREFIX_CHARS = 4096


class JsonRejected(Rejected):
    """A JSON text refused by `loads_strict`; `reason` is a verdict code (too_long, too_deep, unparseable...)."""


# -- strict, bounded JSON ---------------------------------------------------------------------------------------

def loads_strict(text: str, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` with bounds: size and depth checked first, no NaN/Infinity, no duplicate keys.

    Raises JsonRejected (never anything else for a str input) with reason too_long, too_deep, unparseable or
    unparseable:duplicate_key.
    """
    if len(text) > max_chars:
        raise JsonRejected("too_long")
    if nesting_exceeds(text, max_depth):
        raise JsonRejected("too_deep")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except JsonRejected:
        raise
    except (ValueError, RecursionError, MemoryError, OverflowError):  # JSONDecodeError is a ValueError
        raise JsonRejected("unparseable") from None


def nesting_exceeds(text: str, limit: int) -> bool:
    """True when JSON brackets outside string literals nest deeper than `limit`: linear, and never recursive.

    Most of the work is C-speed bytes operations (drop string literals, keep only brackets, peel innermost
    pairs layer by layer); only what does not peel away is walked byte by byte. Bracket kinds are not matched
    ("[}" counts as a pair: json.loads rejects it anyway), and a backslash outside a string (invalid JSON too)
    is read as an escape.
    """
    if text.count("[") + text.count("{") <= limit:  # the common shallow answer
        return False
    # A prefix's brackets are a prefix of the whole text's, so a deep start (the usual attack) is caught cheaply.
    if _max_depth(_bracket_skeleton(text[:_PREFIX_CHARS]), limit) > limit:
        return True
    skeleton = _bracket_skeleton(text)
    peeled, passes = _peel(skeleton, _PEEL_PASSES)
    if not peeled:
        return passes > limit  # balanced: the depth is exactly the number of layers peeled
    # Peeling removes only balanced runs, so every remaining bracket keeps its depth, and the peeled ones were
    # at most `passes` deeper than a remaining position: the true depth lies in [remaining, remaining + passes].
    remaining = _max_depth(peeled, limit)
    if remaining > limit or remaining + passes <= limit:
        return remaining > limit
    return _max_depth(skeleton, limit) > limit


def _bracket_skeleton(text: str) -> bytes:
    """The brackets outside string literals, as b"[" and b"]" only (lone surrogates pass through as bytes)."""
    data = text.encode("utf-8", "surrogatepass")
    # Escaped backslashes go first (pairs, left to right, as JSON reads them); then no remaining '"' is escaped.
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(data.split(b'"')[::2]).translate(_FOLD_BRACKETS, _NOT_BRACKETS)


def _peel(skeleton: bytes, max_passes: int) -> tuple[bytes, int]:
    """Remove adjacent "[]" pairs, one layer per pass (replace never rematches the pairs it just joined)."""
    passes = 0
    while skeleton and passes < max_passes:
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton, passes = shorter, passes + 1
    return skeleton, passes


def _max_depth(skeleton: bytes, cap: int) -> int:
    """Deepest running bracket count of a bracket-only string, stopping as soon as it exceeds `cap`."""
    depth = deepest = 0
    for byte in skeleton:
        if byte == _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > cap:
                    break
        else:
            depth -= 1
    return deepest


def _reject_constant(_name: str) -> Any:
    raise JsonRejected("unparseable")  # NaN, Infinity, -Infinity: not JSON, and NaN != NaN breaks matching


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise JsonRejected("unparseable")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JsonRejected("unparseable:duplicate_key")
    return result
