"""Plausible wrong answers to a function-calling row, for the verifier sanity check.

Every reference answer must verify and every corrupted one must fail, so the corruption makes the mistakes a
model makes (a changed value, a dropped or extra argument, a distractor tool, a missing call) rather than noise.
"""

from __future__ import annotations

import copy
import random
from typing import Any

_EXTRA_ARGUMENT = ("verbose", True)  # added when a tool has no unused parameter to pass by mistake


def corrupt_calls(gold: list[dict], tools: list[dict], rng: random.Random) -> list[dict]:
    calls = copy.deepcopy(gold)
    index = rng.randrange(len(calls))
    call = calls[index]
    offered = {tool["name"]: tool for tool in tools}
    moves = ["extra"]
    if call["arguments"]:
        moves += ["value", "value", "drop"]
    if len(offered) > 1:
        moves.append("tool")
    if len(calls) > 1:
        moves.append("missing_call")
    move = rng.choice(moves)
    if move == "missing_call":
        del calls[index]
    elif move == "tool":
        call["name"] = rng.choice(sorted(n for n in offered if n != call["name"]))
    elif move == "drop":
        del call["arguments"][rng.choice(sorted(call["arguments"]))]
    elif move == "value":
        key = rng.choice(sorted(call["arguments"]))
        call["arguments"][key] = _changed(call["arguments"][key], rng)
    else:
        _add_argument(call, offered.get(call["name"], {}), rng)
    return calls


def _add_argument(call: dict, tool: dict, rng: random.Random) -> None:
    """Pass a parameter the gold call leaves out, at a value other than its default (passing the default is
    the same call as leaving it out, so it would not be a mistake)."""
    unused = [(k, spec) for k, spec in tool.get("parameters", {}).items() if k not in call["arguments"]]
    if unused:
        name, spec = unused[0]
        call["arguments"][name] = _changed(spec["default"], rng) if "default" in spec else 1
    else:
        call["arguments"][_EXTRA_ARGUMENT[0]] = _EXTRA_ARGUMENT[1]


def _changed(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + rng.choice([1, 2, 10, -1])
    if isinstance(value, str):
        variants = [v for v in (value.lower(), value.upper(), value.strip() + "s") if v.strip() != value.strip()]
        return rng.choice(variants)
    if isinstance(value, list):
        return value[:-1] if value else [1]
    if isinstance(value, dict):
        return {} if value else {"value": 1}
    return 0
