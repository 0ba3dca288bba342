"""The function-calling task: answer a user query with the right tool calls (the paper's APIGen / xLAM setting).

A row offers some tools (xLAM schemas) and a query; the model answers with JSON calls inside <tool_call> tags,
and the answer is correct when it matches the gold calls exactly as a multiset (function_calling_verify).
Rows come from real xLAM data (a local .json/.jsonl/.parquet file, a hub id, or user train/test files) or,
for the embedded default, from the seeded synthetic generator (function_calling_synth); both go through
function_calling_data.validate_xlam_rows, and invalid rows land in Splits.rejected with a reject_reason.
BFCL question files (with `answers_path` for their possible_answer file) are read by bfcl_data into the same
kind of row plus the acceptable values, which verify then scores by BFCL's rules (bfcl_verify).
With real data, a train row whose query text is also a test query is moved to rejected as test_overlap, so
train and test are disjoint by query as they are for synthetic data.

The teacher reflections used to warm-start the embedded default live in function_calling_teacher.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from typing import Any

from r3_pipeline.prompts import PromptTexts, load_prompts
from r3_pipeline.tasks.base import Message, Row, Splits, Verdict
from r3_pipeline.tasks.bfcl_data import Answers, bfcl_json_schema, is_bfcl_row, read_bfcl_row, validate_bfcl_rows
from r3_pipeline.tasks.bfcl_verify import verify_bfcl
from r3_pipeline.tasks.function_calling_data import (
    MAX_FIELD_CHARS,
    RowRejected,
    load_xlam,
    normalise_row,
    split_rows,
    validate_xlam_rows,
    xlam_to_json_schema,
)
from r3_pipeline.tasks.function_calling_synth import SynthSettings, generate_xlam_rows
from r3_pipeline.tasks.function_calling_teacher import BEHAVIOURS, reflection_behaviour, teacher_reflection
from r3_pipeline.tasks.function_calling_verify import loads_strict, parse_calls, verify_calls

SYNTHETIC = "synthetic"
NO_CALL_ANSWER = "None of the offered tools fits this request, so I call none."
_CORRUPT_TRIES = 20
_EXTRA_ARGUMENT = ("verbose", True)  # added when a tool has no unused parameter to pass by mistake


@dataclass
class FunctionCallingConfig:
    """Settings for building function-calling rows (synthetic or real xLAM data)."""

    seed: int = field(default=0, metadata={"help": "Random seed for generation and splitting; same seed, same splits."})
    source: str = field(default=SYNTHETIC, metadata={
        "help": "'synthetic' for generated rows, else a local .json/.jsonl/.parquet file or a hub dataset id "
                "(e.g. Salesforce/xlam-function-calling-60k) in the xLAM format, or a BFCL question file "
                "(e.g. BFCL_v4_simple_python.json, with answers_path)."})
    answers_path: str | None = field(default=None, metadata={
        "help": "BFCL possible_answer file (JSON lines) for BFCL question rows in source / train_path / test_path, "
                "joined by id; rows may instead carry their own ground_truth."})
    train_path: str | None = field(default=None, metadata={
        "help": "User-provided train split file (xLAM format); needs test_path too, and then replaces source."})
    test_path: str | None = field(default=None, metadata={"help": "User-provided test split file (xLAM format)."})
    split: str = field(default="train", metadata={"help": "Hub split to load when source is a hub id."})
    num_train: int = field(default=2000, metadata={
        "help": "Synthetic: number of train rows. Real data: at most this many train rows are kept."})
    num_test: int = field(default=300, metadata={
        "help": "Synthetic: number of test rows (disjoint queries). Real data: at most this many test rows."})
    test_fraction: float = field(default=0.1, metadata={
        "help": "Real data without split files: share of rows sent to test, by a seeded hash of the row id."})
    parallel_fraction: float = field(default=0.25, metadata={
        "help": "Synthetic: share of queries that need two parallel calls."})
    max_candidate_tools: int = field(default=4, metadata={
        "help": "Synthetic: most tools offered per query (called tools plus distractors; the called tools are "
                "always offered, even when there are more of them); at least 1."})
    holdout_tools: int = field(default=0, metadata={
        "help": "Synthetic: number of tools kept out of train entirely (they can appear in test)."})
    max_reject_rate: float = field(default=0.05, metadata={
        "help": "Largest acceptable share of rejected (invalid) rows; checked by the pipeline's asset check."})
    prompts_path: str | None = field(default=None, metadata={
        "help": "Prompt YAML to use instead of assets/prompts/function_calling.yaml "
                "(assets/prompts/function_calling_compact.yaml suits the tiny embedded model)."})
    native_tools: bool = field(default=True, metadata={
        "help": "When the tokenizer's chat template supports tools, pass the tools through it (see "
                "FunctionCallingTask.native_tool_schemas) instead of only in the prompt text."})

    reflection_hint: str = field(default="words", metadata={"help": (
        "Warm start of the embedded default only: how the teacher reflection proposes the right calls. 'words': "
        "\"Call get_weather with city=Paris.\"; 'calls': the calls in the answer format, which the retry can "
        "copy (see docs/r3_results.md).")})

    def __post_init__(self) -> None:
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"invalid FunctionCallingConfig: {problem}")


def _config_problem(cfg: FunctionCallingConfig) -> str | None:
    for name in ("seed", "num_train", "num_test", "max_candidate_tools", "holdout_tools"):
        if type(getattr(cfg, name)) is not int:
            return f"{name} must be an int, got {getattr(cfg, name)!r}"
    if cfg.num_train < 0 or cfg.num_test < 0 or cfg.holdout_tools < 0 or cfg.max_candidate_tools < 1:
        return "num_train, num_test and holdout_tools must be >= 0, max_candidate_tools >= 1"
    for name in ("test_fraction", "parallel_fraction", "max_reject_rate"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            return f"{name} must be a number in [0, 1], got {value!r}"
    if not isinstance(cfg.source, str) or not cfg.source:
        return "source must be 'synthetic' or a path / hub id"
    if (cfg.train_path is None) != (cfg.test_path is None):
        return "train_path and test_path must be given together"
    for name in ("train_path", "test_path", "prompts_path", "answers_path"):
        if getattr(cfg, name) is not None and not isinstance(getattr(cfg, name), str):
            return f"{name} must be a string or None"
    if cfg.reflection_hint not in ("words", "calls"):
        return f"reflection_hint must be 'words' or 'calls', got {cfg.reflection_hint!r}"
    if not isinstance(cfg.split, str) or not isinstance(cfg.native_tools, bool):
        return "split must be a string and native_tools a bool"
    if cfg.holdout_tools and (cfg.source != SYNTHETIC or cfg.train_path is not None):
        return "holdout_tools applies to synthetic data only"
    return None


class FunctionCallingTask(PromptTexts):
    """Function calling as a Task (see r3_pipeline.tasks.base.Task)."""

    name = "function_calling"

    def __init__(self, config: FunctionCallingConfig | None = None):
        self.config = config or FunctionCallingConfig()
        self.prompts = load_prompts("function_calling", self.config.prompts_path)

    # -- rows ---------------------------------------------------------------------------------------------------

    def build_splits(self) -> Splits:
        cfg = self.config
        if cfg.train_path is not None:
            return self._user_splits()
        if cfg.source == SYNTHETIC:
            return self._synthetic_splits()
        answers = Answers.load(cfg.answers_path)
        good, rejected = validate_rows(load_xlam(cfg.source, cfg.split), answers)
        train, test = split_rows(good, cfg.test_fraction, cfg.seed)
        return _finish(train, test, rejected + answers.unmatched(), cfg)

    def _synthetic_splits(self) -> Splits:
        cfg = self.config
        settings = SynthSettings(cfg.seed, cfg.parallel_fraction, cfg.max_candidate_tools, cfg.holdout_tools)
        train_raw, test_raw = generate_xlam_rows(cfg.num_train, cfg.num_test, settings)
        seen: set[str] = set()
        test, rejected_test = validate_xlam_rows(test_raw, seen)
        train, rejected_train = validate_xlam_rows(train_raw, seen)
        return Splits(train=train, test=test, rejected=rejected_test + rejected_train)

    def _user_splits(self) -> Splits:
        """Train file first, so a test row repeating a train id is the duplicate that gets rejected."""
        cfg = self.config
        seen: set[str] = set()
        answers = Answers.load(cfg.answers_path)
        train, rejected_train = validate_rows(load_xlam(cfg.train_path), answers, seen)
        test, rejected_test = validate_rows(load_xlam(cfg.test_path), answers, seen)
        return _finish(train, test, rejected_train + rejected_test + answers.unmatched(), cfg)

    def validate_row(self, row: object) -> str | None:
        """Why a row (e.g. from `r3 verify`) is unusable: it needs query, tools and answers (JSON text or lists)."""
        try:
            self.read_row(row)
        except RowRejected as reject:
            return reject.reason
        return None

    def read_row(self, row: object) -> Row:
        """A row from `r3 verify` under the loader's row rules (function_calling_data.normalise_row for xLAM
        rows, bfcl_data.read_bfcl_row for BFCL rows with their ground_truth), tools and answers parsed; an `id`
        is not required there. Raises RowRejected with the reason."""
        if not isinstance(row, dict):
            raise RowRejected("not_an_object")
        row = {**row, "id": row.get("id") or row.get("task_id") or "row"}
        return read_bfcl_row(row) if is_bfcl_row(row) else normalise_row(row)

    # -- prompts ------------------------------------------------------------------------------------------------

    def prompt_messages(self, row: Row) -> list[Message]:
        tools = render_tools(_field(row, "tools"), self.prompts.get("tools_format", "json"))
        return [{"role": "user", "content": self.prompts["attempt"].format(tools=tools, query=row["query"])}]

    def native_prompt_messages(self, row: Row) -> list[Message]:
        """The first turn when the chat template renders the tools itself (see `chat_tools`)."""
        template = self.prompts.get("attempt_native", self.prompts["attempt"])
        return [{"role": "user", "content": template.format(tools="", query=row["query"])}]

    def chat_tools(self, row: Row) -> list[dict] | None:
        """Tools to pass through a tool-aware chat template, or None when `native_tools` is off."""
        return self.native_tool_schemas(row) if self.config.native_tools else None

    def native_tool_schemas(self, row: Row) -> list[dict]:
        """The row's tools as OpenAI-style function schemas, for chat templates with tool support."""
        if "bfcl" in row:
            return bfcl_json_schema(row["bfcl"]["functions"])
        return xlam_to_json_schema(_field(row, "tools"))


    # -- answers ------------------------------------------------------------------------------------------------

    def verify(self, row: Row, response: str) -> Verdict:
        """The calls must match the gold calls; an argument left out counts as its declared default. BFCL rows:
        BFCL's acceptance rules against the acceptable values (bfcl_verify)."""
        try:
            if "bfcl" in row:
                return verify_bfcl(row["bfcl"]["functions"], row["bfcl"]["ground_truth"], response)
            gold = _field(row, "answers")
            tools = _field(row, "tools") if "tools" in row else None
        except Exception:  # noqa: BLE001 - verify must be total, even on a malformed row
            return Verdict(False, "bad_row")
        return verify_calls(gold, response, tools)

    def reference_response(self, row: Row) -> str:
        gold = _field(row, "answers")
        return format_calls(gold) if gold else NO_CALL_ANSWER

    def corrupt_response(self, row: Row, rng: random.Random) -> str:
        """A plausible wrong answer: a changed value, a dropped or extra argument, a distractor tool, or a
        missing call; re-drawn until it verifies wrong, with a duplicated call as the always-wrong fallback."""
        gold = _field(row, "answers")
        tools = _field(row, "tools")
        if not gold:  # a row that wants no call: any call is wrong
            return format_calls([{"name": tools[0]["name"], "arguments": {}}])
        for _ in range(_CORRUPT_TRIES):
            response = format_calls(_corrupt(gold, tools, rng))
            if not self.verify(row, response).correct:
                return response
        return format_calls(gold + gold[:1])

    reflection_behaviours = BEHAVIOURS

    def teacher_reflection(self, row: Row, wrong_response: str, proposal: str | None = None,
                           behaviour: str = "guess", rng: random.Random | None = None) -> str:
        gold = _field(row, "answers")
        proposed = parse_calls(proposal) if proposal else None  # `proposal` is our own format_calls text
        fix = f"The right calls: {format_calls(proposed or gold)}" if self.config.reflection_hint == "calls" else None
        return teacher_reflection(gold, wrong_response, behaviour, proposed, fix)

    def reflection_behaviour(self, reflection: str) -> str:
        return reflection_behaviour(reflection)


def validate_rows(raw_rows: list, answers: Answers, seen: set[str] | None = None) -> tuple[list[Row], list[Row]]:
    """Good and rejected rows, in input order, of a source holding xLAM rows, BFCL question rows (bfcl_data,
    ground truth inline or from `answers`), or both; `seen` as in validate_xlam_rows."""
    seen = set() if seen is None else seen
    good: list[Row] = []
    rejected: list[Row] = []
    for raw in raw_rows:
        if is_bfcl_row(raw):
            kept, refused = validate_bfcl_rows([raw], answers, seen)
        else:
            kept, refused = validate_xlam_rows([raw], seen)
        good += kept
        rejected += refused
    return good, rejected


def _finish(train: list[Row], test: list[Row], rejected: list[Row], cfg: FunctionCallingConfig) -> Splits:
    """Real data: cap the sizes and move train rows whose query text is also a test query to rejected."""
    read = len(train) + len(test) + len(rejected)
    test = test[: cfg.num_test]
    test_queries = {row["query"].strip() for row in test}
    kept: list[Row] = []
    for row in train:
        if row["query"].strip() in test_queries:
            rejected.append({**row, "reject_reason": "test_overlap"})
        else:
            kept.append(row)
    # The rejection rate is over every row read, not only the rows the caps kept.
    return Splits(train=kept[: cfg.num_train], test=test, rejected=rejected, rows_read=read)


def _field(row: Row, name: str) -> Any:
    """A row's tools or answers as a list: rows from `r3 verify` files may hold them as JSON text."""
    value = row[name]
    if isinstance(value, str):
        value = loads_strict(value, max_chars=MAX_FIELD_CHARS[name])
    return value


# -- rendering --------------------------------------------------------------------------------------------------

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


# -- corruption -------------------------------------------------------------------------------------------------

def _corrupt(gold: list[dict], tools: list[dict], rng: random.Random) -> list[dict]:
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
