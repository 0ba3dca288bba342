"""Teacher reflections for function calling, used only to warm-start the embedded default on train rows.

They turn the verifier's reason code into a sentence and end with what to call, built from the gold calls (or
from a proposal the warm start drew itself). Three behaviours give the vanilla model a mixture for R3 to choose
from (docs/r3_results.md, section 7): `check` goes through each call against the schema and the query (tool
chosen, every argument present, values as the query gives them) before the fix; `guess` says what was wrong
and gives the fix; `restate` says what was wrong and nothing more. Model text never comes through this module
except through `reflection_behaviour`, which only looks at its form.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from r3_pipeline.tasks.function_calling.parse import parse_calls
from r3_pipeline.tasks.function_calling.verify import safe_name, verify_calls

BEHAVIOURS = ("check", "guess", "restate")


def teacher_reflection(gold: list[dict], wrong_response: str, behaviour: str = "guess",
                       proposed: list[dict] | None = None, fix: str | None = None) -> str:
    """A reflection on `wrong_response` in one of `BEHAVIOURS`; the fix names `proposed` (default: the gold
    calls), or is `fix` when given (e.g. the calls in the answer format)."""
    fix = fix or hint(proposed or gold)
    why = _why(verify_calls(gold, wrong_response).reason, gold, wrong_response)
    if behaviour == "check":
        return f"{_check(gold, wrong_response)} {fix}"
    if behaviour == "restate":
        return f"{why} I will call the tools again."
    if behaviour != "guess":
        raise ValueError(f"unknown function-calling reflection behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
    return f"{why} {fix}"


def reflection_behaviour(text: str) -> str:
    """Which of `BEHAVIOURS` a reflection shows, by its form alone."""
    if text.startswith("Check "):
        return "check"
    return "guess" if "Call " in text or "The right calls" in text else "restate"


def hint(gold: list[dict]) -> str:
    """E.g. "Call get_weather with city=Paris." or "Call a with x=1; then call b with no arguments."; for a
    query no tool fits (BFCL's irrelevance rows): "Call no tool; answer in words."."""
    if not gold:
        return "Call no tool; answer in words."
    parts = []
    for call in gold:
        args = ", ".join(f"{k}={_plain(v)}" for k, v in call["arguments"].items()) or "no arguments"
        parts.append(f"call {call['name']} with {args}")
    text = "; then ".join(parts)
    return f"{text[0].upper()}{text[1:]}."


def _check(gold: list[dict], wrong_response: str) -> str:
    """"Check get_weather: city missing: Paris, unit ok.": each gold call against the attempt's call of the same
    tool, argument by argument, then the attempt's calls the query did not ask for."""
    parsed = parse_calls(wrong_response)
    made = [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []
    lines = []
    for call in gold:
        mine = next((c for c in made if c.get("name") == call["name"]), None)
        if mine is None:
            lines.append(f"{call['name']} not called")
            continue
        made.remove(mine)
        args = mine.get("arguments") if isinstance(mine.get("arguments"), dict) else {}
        parts = []
        for key, value in call["arguments"].items():
            if key not in args:
                parts.append(f"{key} missing: {_plain(value)}")
            elif args[key] != value:
                parts.append(f"{key} wrong: {_plain(value)}")
            else:
                parts.append(f"{key} ok")
        parts += [f"{safe_name(str(key))} not asked" for key in args if key not in call["arguments"]]
        lines.append(f"{call['name']}: {', '.join(parts) or 'no arguments'}")
    lines += [f"{safe_name(str(c.get('name')))} not asked" for c in made]
    return "Check " + "; ".join(lines) + "."


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _why(reason: str, gold: list[dict], wrong_response: str) -> str:
    name = reason.split(":", 1)[1] if ":" in reason else ""
    if reason.startswith("missing_argument:"):
        return f"I left out the argument {name}."
    if reason.startswith("extra_argument:"):
        return f"I passed {name}, which the query did not ask for."
    if reason.startswith("wrong_value:"):
        return f"I gave the wrong value for {name}."
    if reason == "wrong_count":
        parsed = parse_calls(wrong_response)
        made = len(parsed) if isinstance(parsed, list) else 0
        return f"I made {made} call{'s' * (made != 1)}, but the query needs {len(gold)}."
    if reason == "wrong_function":
        return _wrong_tool(gold, wrong_response)
    if reason.startswith(("unparseable", "too_")):
        return "My answer was not a valid JSON list of calls inside <tool_call> tags."
    return "My tool call was wrong."


def _wrong_tool(gold: list[dict], wrong_response: str) -> str:
    parsed = parse_calls(wrong_response)
    called = Counter(c["name"] for c in parsed) if isinstance(parsed, list) else Counter()
    needed = Counter(c["name"] for c in gold)
    wrong, right = sorted(called - needed), sorted(needed - called)
    if wrong and right:
        return f"I called {safe_name(wrong[0])} instead of {right[0]}."
    return "I called the wrong tool."
