"""Seeded synthetic function-calling problems for the embedded default, written as raw xLAM rows.

The embedded default cannot download xlam-function-calling-60k, so it draws problems from a catalog of tool
schemas (assets/tools/catalog.yaml: over 60 tools across weather, finance, math, travel, calendar, shopping,
messaging, units, sports, food and media). The output is deliberately in the SAME format as the real data
(`id`, `query`, and `tools` / `answers` as JSON strings), so synthetic rows go through the same
`validate_xlam_rows` path as real rows and nothing downstream can tell them apart.

A row offers 1 to max_candidate_tools tools (the called ones plus distractors, shuffled) and asks for one
call, or two parallel calls with probability parallel_fraction (sometimes to the same tool twice). Values are
short (small ints, short city names) so a tiny model can copy them from the query. Query texts are unique
across train and test, so the splits are disjoint by query; with holdout_tools = k, k tools chosen from the
seed never appear in train rows (neither called nor offered) and can appear in test rows.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from r3_pipeline.prompts import ASSETS_DIR

CATALOG_PATH = ASSETS_DIR / "tools" / "catalog.yaml"
OPTIONAL_RATE = 0.35  # chance that a query also sets an optional parameter
REPEAT_TOOL_RATE = 0.25  # chance that a parallel query calls the same tool twice
_REDRAWS = 10  # tries to make a repeated-tool parallel call differ from the first call
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when built, else the safe one
_DRAWS_PER_ROW = 50  # a config asking for more rows than the catalog has distinct queries stops, not loops


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    description: str
    choices: tuple  # the values a required parameter (or list element) is drawn from
    optional: bool
    default: Any
    phrase: str
    count: tuple[int, int] | None  # list length bounds for List[...] types


@dataclass(frozen=True)
class ToolSpec:
    name: str
    domain: str
    description: str
    params: tuple[ParamSpec, ...]
    templates: tuple[str, ...]

    def schema(self) -> dict:
        """The tool in xLAM form: {"name", "description", "parameters": {name: {"type", "description", ...}}}."""
        params = {}
        for p in self.params:
            spec = {"type": f"{p.type}, optional" if p.optional else p.type, "description": p.description}
            if p.optional:
                spec["default"] = p.default
            params[p.name] = spec
        return {"name": self.name, "description": self.description, "parameters": params}


# -- catalog ----------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def load_catalog(path: str | None = None) -> tuple[ToolSpec, ...]:
    """The tool catalog (assets/tools/catalog.yaml unless another path is given), checked for consistency."""
    data = yaml.load(Path(path or CATALOG_PATH).read_text(), Loader=_YAML_LOADER)
    pools = data["pools"]
    tools = tuple(_tool_spec(entry, pools) for entry in data["tools"])
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ValueError("tool catalog has duplicate tool names")
    return tools


def _tool_spec(entry: dict, pools: dict) -> ToolSpec:
    params = tuple(_param_spec(name, spec, pools) for name, spec in entry["params"].items())
    templates = tuple(entry["templates"])
    required = {p.name for p in params if not p.optional}
    for template in templates:
        placeholders = {part.split("}")[0] for part in template.split("{")[1:]}
        if placeholders != required:
            raise ValueError(f"tool {entry['name']}: template {template!r} must name exactly {sorted(required)}")
    if len(templates) < 2:
        raise ValueError(f"tool {entry['name']}: needs at least two templates")
    return ToolSpec(entry["name"], entry["domain"], entry["description"], params, templates)


def _param_spec(name: str, spec: dict, pools: dict) -> ParamSpec:
    if "pool" in spec:
        choices = tuple(pools[spec["pool"]])
    elif "range" in spec:
        low, high = spec["range"]
        choices = tuple(range(low, high + 1))
    elif spec.get("type") == "bool":
        choices = (not spec.get("default", False),)
    else:
        choices = tuple(spec["values"])
    optional = "default" in spec
    if optional and spec["default"] in choices and spec.get("type") != "bool":
        raise ValueError(f"parameter {name}: an optional value must differ from its default")
    count = tuple(spec["count"]) if "count" in spec else None
    return ParamSpec(name, spec["type"], spec["description"], choices, optional, spec.get("default"),
                     spec.get("phrase", ""), count)


# -- drawing one call -------------------------------------------------------------------------------------------

def draw_call(tool: ToolSpec, rng: random.Random) -> tuple[str, dict]:
    """One query sentence for `tool` and the gold call it asks for."""
    arguments: dict[str, Any] = {}
    used: set = set()
    rendered = {}
    for p in tool.params:
        if not p.optional:
            arguments[p.name] = _draw_value(p, rng, used)
            rendered[p.name] = render_value(arguments[p.name])
    text = rng.choice(tool.templates).format(**rendered)
    phrases = []
    for p in tool.params:
        if p.optional and rng.random() < OPTIONAL_RATE:
            arguments[p.name] = _draw_value(p, rng, used)
            phrases.append(p.phrase.replace("{}", render_value(arguments[p.name])))
    return _attach(text, phrases), {"name": tool.name, "arguments": arguments}


def _draw_value(p: ParamSpec, rng: random.Random, used: set) -> Any:
    """A value for `p`, avoiding values already used in this call (from_unit != to_unit, a != b, ...)."""
    fresh = [c for c in p.choices if (type(c), c) not in used] or list(p.choices)
    if p.count is None:
        value = rng.choice(fresh)
        used.add((type(value), value))
        return value
    size = min(rng.randint(*p.count), len(fresh))
    return rng.sample(fresh, size)


def render_value(value: Any) -> str:
    """How a value reads in a query: lists as "a, b and c", everything else as its plain text."""
    if isinstance(value, list):
        items = [render_value(v) for v in value]
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
    return str(value)


def _attach(text: str, phrases: list[str]) -> str:
    if not phrases:
        return text
    end = text[-1] if text[-1] in ".?!" else ""
    return f"{text[:-1] if end else text} {' '.join(phrases)}{end}"


# -- drawing rows -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthSettings:
    seed: int = 0
    parallel_fraction: float = 0.25
    max_candidate_tools: int = 4
    holdout_tools: int = 0


def holdout_names(tools: tuple[ToolSpec, ...], seed: int, count: int) -> set[str]:
    """The tools kept out of train: a seeded sample of `count` names."""
    names = sorted(t.name for t in tools)
    return set(random.Random(f"holdout-{seed}").sample(names, count))


def generate_xlam_rows(num_train: int, num_test: int, settings: SynthSettings,
                       catalog: tuple[ToolSpec, ...] | None = None) -> tuple[list[dict], list[dict]]:
    """(train, test) raw xLAM rows: unique query texts, test drawn first from all tools, train without holdouts."""
    tools = catalog or load_catalog()
    if not 0 <= settings.holdout_tools <= len(tools) - 2:
        raise ValueError(f"holdout_tools must be between 0 and {len(tools) - 2}")
    held = holdout_names(tools, settings.seed, settings.holdout_tools)
    rng = random.Random(settings.seed)
    seen: set[str] = set()
    test = _draw_rows(num_test, list(tools), settings, rng, seen)
    train = _draw_rows(num_train, [t for t in tools if t.name not in held], settings, rng, seen)
    return train, test


def _draw_rows(wanted: int, tools: list[ToolSpec], settings: SynthSettings, rng: random.Random,
               seen: set[str]) -> list[dict]:
    rows: list[dict] = []
    for _ in range(wanted * _DRAWS_PER_ROW):
        if len(rows) == wanted:
            return rows
        row = draw_row(tools, settings, rng)
        if row["query"] not in seen:
            seen.add(row["query"])
            rows.append(row)
    if len(rows) < wanted:
        raise ValueError(f"only {len(rows)} distinct queries in {wanted * _DRAWS_PER_ROW} draws; wanted {wanted}")
    return rows


def draw_row(tools: list[ToolSpec], settings: SynthSettings, rng: random.Random) -> dict:
    """One raw xLAM row: query, offered tools (called ones plus distractors) and gold answers, JSON-encoded."""
    called = _pick_called(tools, settings, rng)
    drawn = [draw_call(tool, rng) for tool in called]
    if len(drawn) == 2 and drawn[0][1] == drawn[1][1]:
        called[1], drawn[1] = _different_call(tools, called[0], drawn[0][1], rng)
    query = " ".join(sentence for sentence, _ in drawn)
    answers = [call for _, call in drawn]
    offered = _pick_offered(tools, called, settings.max_candidate_tools, rng)
    return {
        "id": hashlib.sha256(query.encode()).hexdigest()[:16],
        "query": query,
        "tools": json.dumps([t.schema() for t in offered]),
        "answers": json.dumps(answers),
    }


def _different_call(tools: list[ToolSpec], tool: ToolSpec, first: dict, rng: random.Random):
    """A second call that differs from `first`: the same tool re-drawn, else another tool (e.g. for a tool
    whose only parameters are optional, two calls can easily come out identical)."""
    for _ in range(_REDRAWS):
        sentence, call = draw_call(tool, rng)
        if call != first:
            return tool, (sentence, call)
    other = rng.choice([t for t in tools if t.name != tool.name])
    return other, draw_call(other, rng)


def _pick_called(tools: list[ToolSpec], settings: SynthSettings, rng: random.Random) -> list[ToolSpec]:
    if rng.random() >= settings.parallel_fraction:
        return [rng.choice(tools)]
    if rng.random() < REPEAT_TOOL_RATE:
        return [rng.choice(tools)] * 2
    return rng.sample(tools, 2)


def _pick_offered(tools: list[ToolSpec], called: list[ToolSpec], max_tools: int, rng: random.Random) -> list[ToolSpec]:
    distinct = list({t.name: t for t in called}.values())
    names = {t.name for t in distinct}
    others = [t for t in tools if t.name not in names]
    total = rng.randint(len(distinct), max(len(distinct), max_tools))
    offered = distinct + rng.sample(others, min(total - len(distinct), len(others)))
    rng.shuffle(offered)
    return offered
