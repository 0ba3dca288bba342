"""BFCL's function docs (JSON schema, BFCL's type names) as the prompt and the chat template take them.

BFCL rows must reach the model the way xLAM rows do, so the prompt shows their functions in xLAM form (flat
parameters, ", optional" when not required), and a tool-aware chat template gets them as OpenAI-style schemas
with BFCL's own type names (dict, float, tuple, any) renamed to JSON schema's.
"""

from __future__ import annotations

from typing import Any

_XLAM_TYPES = {"string": "str", "integer": "int", "float": "float", "boolean": "bool", "dict": "dict", "any": "Any"}
_LITERAL_KEYS = ("default", "enum", "description")  # values, not schemas: never renamed


def xlam_tools(functions: list[dict]) -> list[dict]:
    """BFCL's JSON-schema docs in xLAM form (flat parameters; not required: ", optional"), for the prompt."""
    return [{"name": f["name"], "description": f.get("description", ""),
             "parameters": {p: _xlam_param(spec, p in f.get("parameters", {}).get("required", []))
                            for p, spec in f.get("parameters", {}).get("properties", {}).items()}}
            for f in functions]


def _xlam_param(spec: dict, required: bool) -> dict:
    param = {"type": _xlam_type(spec) + ("" if required else ", optional"),
             "description": str(spec.get("description", ""))}
    for key in ("default", "enum"):
        if key in spec:
            param[key] = spec[key]
    return param


def _xlam_type(spec: dict) -> str:
    kind = spec.get("type", "any")
    if kind in ("array", "tuple"):
        items = spec.get("items")
        inner = _XLAM_TYPES.get(items.get("type"), "Any") if isinstance(items, dict) else "Any"
        return f"{'List' if kind == 'array' else 'Tuple'}[{inner}]"
    return _XLAM_TYPES.get(kind, "Any")


def bfcl_json_schema(functions: list[dict]) -> list[dict]:
    """The functions as OpenAI-style tool schemas (BFCL's dict/float/tuple/any as object/number/array/string)."""
    return [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                              "parameters": _schema(f.get("parameters", {}))}}
            for f in functions]


def _schema(spec: Any) -> Any:
    """Types renamed recursively (depth is bounded by the loaders' JSON depth checks)."""
    if isinstance(spec, list):
        return [_schema(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    renamed = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
    out = {key: value if key in _LITERAL_KEYS else _schema(value) for key, value in spec.items()}
    if isinstance(out.get("type"), str):
        out["type"] = renamed.get(out["type"], out["type"])
    return out
