"""The shape of a hostile-output case and the fixtures the corpora share (split from hostile_corpus, which
assembles the cases; function-calling cases live in hostile_corpus_calls)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

COUNTDOWN = "countdown"
FUNCTION_CALLING = "function_calling"
JSONL_LINE = "jsonl_line"
# Injection cases try to create this file; tests assert it never appears.
DEFAULT_SENTINEL = os.path.join(tempfile.gettempdir(), "r3_hostile_pwned")

TEN_MB = 10_000_000
DEEP = 100_000
WIDE = 1_000_000

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
RATE = {"name": "get_rate", "arguments": {"base": "USD", "target": "EUR"}}
TOOLS = [
    {"name": "get_weather", "description": "Weather forecast.",
     "parameters": {"city": {"type": "str", "description": "City."}, "days": {"type": "int", "description": "Days."}}},
    {"name": "get_rate", "description": "Exchange rate.",
     "parameters": {"base": {"type": "str", "description": "From."}, "target": {"type": "str", "description": "To."}}},
]
# get_weather with optional parameters: days by a default only (as in BFCL-derived rows), units by the xLAM
# ", optional" suffix and a default, lang by the suffix only (no default: it cannot be left out for one).
OPTIONAL_TOOLS = [
    {"name": "get_weather", "description": "Weather forecast.",
     "parameters": {"city": {"type": "str", "description": "City."},
                    "days": {"type": "int", "description": "Days.", "default": 3},
                    "units": {"type": "str, optional", "description": "Units.", "default": "metric"},
                    "lang": {"type": "str, optional", "description": "Language."}}},
]
CORRECT_ANSWER = "(8 - 3) * 4"


@dataclass(frozen=True)
class Case:
    """One hostile input and the verdict a sound verifier gives it.

    `reason` pins the exact reason code where one is expected (None: any non-empty reason will do).
    """

    verifier: str
    category: str
    name: str
    input: Any = field(repr=False)
    row: dict | None = field(default=None, repr=False)
    correct: bool = False
    reason: str | None = None
    task: str = ""

    @property
    def id(self) -> str:
        return f"{self.verifier}/{self.category}/{self.name}"
