"""Function calling as text: the offered tools as the prompt shows them, and calls in the answer format.

The prompt, the reference answer, the corrupted answers and the teacher's proposed fix all write calls the same
way (one <tool_call> block holding a compact JSON list), which the verifier's parser reads back.
"""

from __future__ import annotations

import json


def format_calls(calls: list[dict]) -> str:
    """Calls as the answer format: one <tool_call> block holding a compact JSON list."""
    return f"<tool_call>{json.dumps(calls, ensure_ascii=False, separators=(',', ':'))}</tool_call>"


def render_tools(tools: list[dict], style: str = "json") -> str:
    """The offered tools for the prompt: compact sorted-key JSON, or one signature line per tool."""
    if style == "signature":
        return "\n".join(_signature(tool) for tool in tools)
    return json.dumps(tools, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _signature(tool: dict) -> str:
    """`get_weather(city: str, days: int = 3)`: an optional parameter with a default shows it, as in Python."""
    params = []
    for name, spec in tool.get("parameters", {}).items():
        type_text = str(spec.get("type", "")).split(", optional")[0]
        text = f"{name}: {type_text}" if type_text else name
        if "default" in spec:
            text += f" = {json.dumps(spec['default'], ensure_ascii=False)}"
        params.append(text)
    return f"{tool['name']}({', '.join(params)})"
