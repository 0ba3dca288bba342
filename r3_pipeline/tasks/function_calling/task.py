"""The function-calling task: answer a user query with the right tool calls (the paper's APIGen / xLAM setting).

A row offers some tools (xLAM schemas) and a query; the model answers with JSON calls inside <tool_call> tags,
and the answer is correct when it matches the gold calls exactly as a multiset (verify.py).
Rows come from real xLAM data (a local .json/.jsonl/.parquet file, a hub id, or user train/test files) or,
for the embedded default, from the seeded synthetic generator (synth.py); both go through
data.validate_xlam_rows, and invalid rows land in Splits.rejected with a reject_reason.
BFCL question files (with `answers_path` for their possible_answer file) are read by bfcl_data into the same
kind of row plus the acceptable values, which verify then scores by BFCL's rules (bfcl_verify).
With real data, a train row whose query text is also a test query is moved to rejected as test_overlap, so
train and test are disjoint by query as they are for synthetic data.

The teacher reflections used to warm-start the embedded default live in teacher.py; how tools and calls are
written as text, in render.py; the wrong answers of the verifier sanity check, in corrupt.py.
"""

from __future__ import annotations

import random
from typing import Any

from r3_pipeline.prompts import PromptTexts, load_prompts
from r3_pipeline.tasks.base import Message, Row, Splits, Verdict
from r3_pipeline.tasks.function_calling.bfcl_data import Answers, is_bfcl_row, read_bfcl_row, validate_bfcl_rows
from r3_pipeline.tasks.function_calling.bfcl_package import load_bfcl_package
from r3_pipeline.tasks.function_calling.bfcl_tools import bfcl_json_schema
from r3_pipeline.tasks.function_calling.bfcl_verify import verify_bfcl
from r3_pipeline.tasks.function_calling.config import BFCL_SOURCE, SYNTHETIC, FunctionCallingConfig
from r3_pipeline.tasks.function_calling.corrupt import corrupt_calls
from r3_pipeline.tasks.function_calling.data import (
    MAX_FIELD_CHARS,
    RowRejected,
    load_xlam,
    normalise_row,
    split_rows,
    validate_xlam_rows,
    xlam_to_json_schema,
)
from r3_pipeline.tasks.function_calling.parse import loads_strict, parse_calls
from r3_pipeline.tasks.function_calling.render import format_calls, render_tools
from r3_pipeline.tasks.function_calling.synth import SynthSettings, generate_xlam_rows
from r3_pipeline.tasks.function_calling.teacher import BEHAVIOURS, reflection_behaviour, teacher_reflection
from r3_pipeline.tasks.function_calling.verify import verify_calls

NO_CALL_ANSWER = "None of the offered tools fits this request, so I call none."
_CORRUPT_TRIES = 20


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
        if cfg.source.startswith(BFCL_SOURCE):
            raw_rows, answers = load_bfcl_package(cfg.source)
            # The files come one category after another: shuffled, so that the rows a model is adapted on, the
            # rows mined after them and a capped test split each mix every category.
            random.Random(cfg.seed).shuffle(raw_rows)
        else:
            raw_rows, answers = load_xlam(cfg.source, cfg.split), Answers.load(cfg.answers_path)
        good, rejected = validate_rows(raw_rows, answers)
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
        """A row from `r3 verify` under the loader's row rules (data.normalise_row for xLAM
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
            response = format_calls(corrupt_calls(gold, tools, rng))
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
