"""Hostile model output (docs/reliability.md, section 1): every verifier gives a reasoned verdict, never raises, runs nothing.

The adversarial corpus lives in benchmarks.hostile_corpus (benchmarks.hostile times it); here
every case's verdict is checked, and hypothesis throws arbitrary text, bytes, JSON-ish structures, grammar-built arithmetic (checked
against an exact Fraction oracle computed here) and mutated correct answers at the verifiers. No test here is
timed: speed is the benchmark's job. Bounded work is checked instead by tripwires that fail if an over-long
input is read, or a too-deep one is parsed.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r3_pipeline import verify_file
from benchmarks import hostile, hostile_corpus
from r3_pipeline.tasks import strict_json
from r3_pipeline.tasks.countdown import verify as countdown_verify
from r3_pipeline.tasks.function_calling import parse as function_calling_parse
from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.countdown.verify import MAX_ANSWER_CHARS, MAX_DEPTH, MAX_MAGNITUDE, verify_countdown
from r3_pipeline.tasks.function_calling.parse import nesting_exceeds
from r3_pipeline.tasks.function_calling.verify import verify_calls
from r3_pipeline.verify_file import MAX_LINE_BYTES, verify_jsonl, verify_line

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])
FEW = settings(PROPERTY, max_examples=60)

TASKS = hostile.make_tasks()
CASES = hostile_corpus.all_cases()
WEATHER = hostile_corpus.WEATHER
COUNTDOWN_ROW = {"task_id": "countdown-p", "numbers": [8, 3, 4], "target": 20}
ANY_CHAR = st.characters(exclude_categories=())  # all of Unicode, lone surrogates included

COUNTDOWN_REASON = re.compile(
    r"correct|no_answer|too_long|syntax|too_deep|too_large|wrong_numbers|division_by_zero|wrong_value"
    r"|wrong_stated_value|bad_stated_value|multiple_equals"
    r"|disallowed:(?:[A-Za-z]+|Constant:[A-Za-z]+|literal_format|non_ascii|comment)")
FC_REASON = re.compile(
    r"correct|too_long|too_deep|unparseable|unparseable:duplicate_key|wrong_count|wrong_function|wrong_value"
    r"|unexpected_call|(?:missing_argument|extra_argument|wrong_value|wrong_type):[\x20-\x7e]{1,64}")
BAD_ROW = re.compile(r"bad_row:[a-z0-9_]+(?::[\x20-\x7e]{1,64})?")


def assert_countdown_verdict(verdict: object) -> None:
    assert isinstance(verdict, Verdict) and isinstance(verdict.correct, bool)
    assert COUNTDOWN_REASON.fullmatch(verdict.reason), verdict.reason
    assert verdict.correct == (verdict.reason == "correct")


def assert_fc_verdict(verdict: object) -> None:
    assert isinstance(verdict, Verdict) and isinstance(verdict.correct, bool)
    assert FC_REASON.fullmatch(verdict.reason), verdict.reason
    assert verdict.correct == (verdict.reason == "correct")


def assert_line_result(result: dict, task: str) -> None:
    reason = result["reason"]
    known = {"countdown": COUNTDOWN_REASON, "function_calling": FC_REASON}[task]
    assert BAD_ROW.fullmatch(reason) or known.fullmatch(reason), reason
    assert result["correct"] == (reason == "correct")
    assert isinstance(result["task_id"], str) and result["task_id"]
    assert result["task_id_source"] in ("task_id", "id", "line")
    json.dumps(result).encode("ascii")  # always writable to the output file


# -- (a) the corpus ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_corpus_case_gets_its_verdict(case):
    verdict = hostile.run_case(case, TASKS)
    assert isinstance(verdict, Verdict)
    assert isinstance(verdict.reason, str) and verdict.reason
    assert not verdict.reason.startswith("internal_error")
    assert verdict.correct is case.correct
    if case.reason is not None:
        assert verdict.reason == case.reason


def test_corpus_covers_the_hardening_list():
    by_verifier = hostile_corpus.corpus()
    assert {c.category for c in by_verifier["countdown"]} >= {
        "injection", "operators", "literals", "huge", "division_by_zero", "nesting", "unicode", "size",
        "equations"}
    assert {c.category for c in by_verifier["function_calling"]} >= {
        "nesting", "width", "duplicate_keys", "numbers", "encoding", "garbage", "size", "optional_arguments", "bfcl"}
    texts = [c.input for c in CASES if isinstance(c.input, (str, bytes))]
    assert max(map(len, texts)) >= 10_000_000
    assert any(t.count("(") >= 100_000 for t in texts if isinstance(t, str))
    assert any(t.count("{") >= 100_000 for t in texts if isinstance(t, str))
    assert any(c.correct for c in CASES) and sum(not c.correct for c in CASES) > 250


def test_benchmark_figures_shape():
    figures = hostile.hostile_figures(repeats=1)
    assert set(figures["verifiers"]) == {"countdown", "function_calling", "jsonl_line"}
    for fig in figures["verifiers"].values():
        assert fig["unexpected"] == []
        assert fig["cases"] == sum(cat["cases"] for cat in fig["categories"].values())
        assert fig["p99_ms"] <= fig["max_ms"]
    assert "p99 ms" in hostile.format_table(figures)


# -- (b) properties: arbitrary input ----------------------------------------------------------------------------

def _wrappings(text: str, open_tag: str, close_tag: str) -> list[str]:
    return [text, f"{open_tag}{text}{close_tag}", f"x{open_tag}{text}", f"{text}{close_tag}{open_tag}{text}{close_tag}"]


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300))
def test_countdown_arbitrary_text(text):
    for response in _wrappings(text, "<answer>", "</answer>"):
        assert_countdown_verdict(verify_countdown([8, 3, 4], 20, response))


@PROPERTY
@given(st.text(ANY_CHAR, max_size=300))
def test_function_calling_arbitrary_text(text):
    for response in _wrappings(text, "<tool_call>", "</tool_call>"):
        assert_fc_verdict(verify_calls([WEATHER], response))


@PROPERTY
@given(st.binary(max_size=400), st.sampled_from(["surrogateescape", "replace", "ignore"]))
def test_arbitrary_bytes_decoded(raw, errors):
    text = raw.decode("utf-8", errors)
    for response in (text, text.encode("latin-1", "replace").decode("latin-1")):
        assert_countdown_verdict(TASKS["countdown"].verify(COUNTDOWN_ROW, f"<answer>{response}</answer>"))
        fc_response = f"<tool_call>{response}</tool_call>"
        assert_fc_verdict(TASKS["function_calling"].verify({"answers": [WEATHER]}, fc_response))


JSON_LEAVES = (st.none() | st.booleans() | st.integers(-10**40, 10**40)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(ANY_CHAR, max_size=12))
JSONISH = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(ANY_CHAR, max_size=6), inner, max_size=4),
    max_leaves=25,
)


def _depth(value: object) -> int:
    """Bracket depth of a JSON value's serialisation, computed from the structure (the oracle)."""
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _json_equal(gold: object, pred: object) -> bool:
    """The module docstring's value rules, written independently of the verifier."""
    if type(gold) is bool or type(pred) is bool:
        return type(gold) is type(pred) and gold == pred
    if type(gold) in (int, float) and type(pred) in (int, float):
        return gold == pred
    if type(gold) is str and type(pred) is str:
        return gold.strip() == pred.strip()
    if type(gold) is dict and type(pred) is dict:
        return gold.keys() == pred.keys() and all(_json_equal(gold[k], pred[k]) for k in gold)
    if type(gold) is list and type(pred) is list:
        return len(gold) == len(pred) and all(map(_json_equal, gold, pred))
    return gold is None and pred is None


CALL_LIKE = st.fixed_dictionaries(
    {"name": st.sampled_from(["get_weather", "get_rate", "f"])},
    optional={"arguments": st.dictionaries(st.sampled_from(["city", "days", "base", " city"]),
                                           st.sampled_from(["Paris", " Paris ", 3, 3.0, True, None]) | JSON_LEAVES,
                                           max_size=3)},
)
CALL_LISTS = st.lists(CALL_LIKE, max_size=3) | CALL_LIKE


@PROPERTY
@given(JSONISH | CALL_LISTS, st.booleans(), st.sampled_from(["block", "bare", "fence"]))
def test_function_calling_arbitrary_json(value, ascii_only, wrapping):
    text = json.dumps(value, ensure_ascii=ascii_only)  # NaN and Infinity tokens included
    response = {"block": f"<tool_call>{text}</tool_call>", "bare": text, "fence": f"```json\n{text}\n```"}[wrapping]
    verdict = verify_calls([WEATHER], response)
    assert_fc_verdict(verdict)
    if verdict.correct:
        calls = value if isinstance(value, list) else [value]
        assert len(calls) == 1 and calls[0]["name"] == "get_weather"
        assert _json_equal(WEATHER["arguments"], calls[0].get("arguments", {}))


@PROPERTY
@given(JSONISH, st.sampled_from([0, 1, 2, 3, 5, 20]))
def test_nesting_check_agrees_with_structure_depth(value, limit):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert nesting_exceeds(text, limit) == (_depth(value) > limit)


@PROPERTY
@given(st.dictionaries(st.text(ANY_CHAR, max_size=8), JSONISH, max_size=6), st.booleans())
def test_call_with_arbitrary_arguments_matches_itself_and_not_a_mutation(arguments, ascii_only):
    call = {"name": "f", "arguments": arguments}
    try:
        text = json.dumps([call], ensure_ascii=ascii_only, allow_nan=False)
    except ValueError:
        refused = True  # NaN or Infinity somewhere: not JSON, so the verifier must refuse it
        text = json.dumps([call], ensure_ascii=ascii_only)
    else:
        refused = False
    verdict = verify_calls([call], f"<tool_call>{text}</tool_call>")
    assert_fc_verdict(verdict)
    if len(text) > function_calling_parse.MAX_BLOCK_CHARS:
        assert verdict.reason == "too_long"
    elif _depth([call]) > function_calling_parse.MAX_DEPTH:
        assert verdict.reason == "too_deep"
    else:
        assert verdict.reason == ("unparseable" if refused else "correct")
    mutated = {"name": "f", "arguments": {**arguments, "\x00extra": 1}}
    verdict = verify_calls([call], f"<tool_call>{json.dumps([mutated])}</tool_call>")
    assert_fc_verdict(verdict)  # the control character in the name comes back escaped
    assert not verdict.correct


# -- (b) properties: grammar-built arithmetic against an exact oracle --------------------------------------------

LEAF = st.integers(0, 10**6)
TREES = st.recursive(LEAF, lambda inner: st.tuples(st.sampled_from("+-*/"), inner, inner), max_leaves=12)


class _Rejected(Exception):
    pass


def _oracle(tree) -> Fraction:
    """Exact value, failing like the verifier's documented rules: left then right, zero divisors, magnitudes."""
    if isinstance(tree, int):
        return Fraction(tree)
    op, left_tree, right_tree = tree
    left, right = _oracle(left_tree), _oracle(right_tree)
    if op == "/" and right == 0:
        raise _Rejected("division_by_zero")
    value = {"+": left + right, "-": left - right, "*": left * right}[op] if op != "/" else left / right
    if abs(value.numerator) >= MAX_MAGNITUDE or value.denominator >= MAX_MAGNITUDE:
        raise _Rejected("too_large")
    return value


def _leaves(tree) -> list[int]:
    return [tree] if isinstance(tree, int) else _leaves(tree[1]) + _leaves(tree[2])


def _height(tree) -> int:
    return 1 if isinstance(tree, int) else 1 + max(_height(tree[1]), _height(tree[2]))


def _render(tree, rnd, depth: int = 0) -> tuple[str, int]:
    """Source text for the tree and the deepest bracket nesting written. Operand operations are always
    bracketed, so the text parses back to exactly this tree; plain numbers sometimes get redundant brackets."""
    if isinstance(tree, int):
        return str(tree), depth
    op, left, right = tree
    texts, deepest = [], depth
    for child in (left, right):
        bracket = not isinstance(child, int) or rnd.random() < 0.1
        child_text, child_deepest = _render(child, rnd, depth + bracket)
        texts.append(f"({child_text})" if bracket else child_text)
        deepest = max(deepest, child_deepest)
    space = rnd.choice(["", " ", "  "])
    return f"{texts[0]}{space}{op}{space}{texts[1]}", deepest


def _expected(tree, answer_text: str, brackets: int, numbers: list[int], target: int, stated: int | None) -> str:
    """The reason the documented rules give, in the verifier's documented order of checks."""
    if len(answer_text) > MAX_ANSWER_CHARS:
        return "too_long"
    if brackets > MAX_DEPTH or _height(tree) > MAX_DEPTH:
        return "too_deep"
    if sorted(numbers) != sorted(_leaves(tree)):
        return "wrong_numbers"
    try:
        value = _oracle(tree)
    except _Rejected as reject:
        return str(reject)
    if value != target:
        return "wrong_value"
    return "correct" if stated is None or stated == target else "wrong_stated_value"


@settings(PROPERTY, max_examples=400)
@given(TREES, st.randoms(use_true_random=False), st.sampled_from(["exact", "off_by_one", "extra_number"]),
       st.sampled_from([None, 0, 0, 1, -1, 10]))
def test_arithmetic_grammar_against_fraction_oracle(tree, rnd, variant, stated_offset):
    """`stated_offset`: None for a bare expression, else the answer is "expression = target + offset"."""
    answer, brackets = _render(tree, rnd)
    numbers = _leaves(tree)
    rnd.shuffle(numbers)
    try:
        value = _oracle(tree)
        target = math.floor(value)
    except _Rejected:
        target = 24
    if variant == "off_by_one":
        target += 1
    elif variant == "extra_number":
        numbers.append(7)
    stated = None if stated_offset is None else target + stated_offset
    text = answer if stated is None else f"{answer} = {stated}"
    verdict = verify_countdown(numbers, target, f"Thinking... <answer>{text}</answer>")
    assert_countdown_verdict(verdict)
    assert verdict.reason == _expected(tree, text, brackets, numbers, target, stated)


# -- (b) properties: mutated correct answers --------------------------------------------------------------------

HOSTILE_CHARS = list("0123456789+-*/()[]{}<>=.,#_'\"\\ \n\tjxeE:;@%^&|~!") + [
    "\u2212", "\u00d7", "\u00f7", "\u2215", "\uff18", "\u0663", "\u200f", "\u202e", "\ufeff", "\x00", "\ud800",
    "<answer>", "</answer>", "<tool_call>", "</tool_call>", "**", "NaN", "Infinity", "1e309", "__import__",
]
MUTATION = st.tuples(st.sampled_from(["insert", "delete", "replace", "duplicate"]), st.integers(0, 10**6),
                     st.sampled_from(HOSTILE_CHARS))


def _mutate(text: str, mutations) -> str:
    for kind, where, piece in mutations:
        i = where % (len(text) + 1)
        if kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + 1 :]
        elif kind == "replace":
            text = text[:i] + piece + text[i + 1 :]
        else:
            text = text[:i] + text[i : i + 8] + text[i:]
    return text


@settings(PROPERTY, max_examples=300)
@given(st.lists(MUTATION, min_size=1, max_size=6), st.booleans())
def test_mutated_countdown_answers(mutations, inside_only):
    if inside_only:
        response = f"I get <answer>{_mutate('(8 - 3) * 4', mutations)}</answer>"
    else:
        response = _mutate("I get <answer>(8 - 3) * 4</answer>", mutations)
    verdict = verify_countdown([8, 3, 4], 20, response)
    assert_countdown_verdict(verdict)
    if verdict.correct:  # whatever the mutation, a correct verdict only comes from plain arithmetic
        answer = response[response.rfind("<answer>", 0, response.rfind("</answer>")) + 8 : response.rfind("</answer>")]
        assert re.fullmatch(r"[0-9+\-*/() =]*", " ".join(answer.split())), answer


@settings(PROPERTY, max_examples=300)
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_function_calling_answers(mutations):
    gold = [WEATHER, hostile_corpus.RATE]
    response = _mutate(f"<tool_call>{json.dumps(gold)}</tool_call>", mutations)
    verdict = verify_calls(gold, response)
    assert_fc_verdict(verdict)


# -- (b) properties: JSONL lines ---------------------------------------------------------------------------------

@PROPERTY
@given(st.binary(max_size=300), st.sampled_from(["countdown", "function_calling"]))
def test_arbitrary_jsonl_bytes(raw, task):
    assert_line_result(verify_line(TASKS[task], raw), task)


@PROPERTY
@given(st.dictionaries(st.sampled_from(["task_id", "numbers", "target", "response", "query", "tools", "answers",
                                        "x"]), JSONISH, max_size=7),
       st.sampled_from(["countdown", "function_calling"]))
def test_arbitrary_jsonl_rows(row, task):
    raw = json.dumps(row).encode()  # NaN and Infinity tokens included
    assert_line_result(verify_line(TASKS[task], raw), task)


@FEW
@given(st.lists(st.binary(max_size=80) | st.sampled_from([c.input for c in CASES if c.verifier == "jsonl_line"
                                                          and len(c.input) < 10_000]), max_size=12))
def test_verify_jsonl_file_counts_every_line(lines):
    content = b"\n".join(line.rstrip(b"\n") for line in lines)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "in.jsonl"), Path(tmp, "out.jsonl")
        src.write_bytes(content)
        counts = verify_jsonl(TASKS["countdown"], src, out).counts()
        results = [json.loads(line) for line in out.read_text(encoding="ascii").splitlines()]
    assert counts["rows"] == len(results) == sum(1 for line in content.split(b"\n") if line.strip())
    assert counts["correct"] == sum(r["correct"] for r in results)
    assert counts["bad_rows"] == sum(r["reason"].startswith("bad_row:") for r in results)
    for result in results:
        assert_line_result(result, "countdown")
    assert [r["line"] for r in results] == sorted({r["line"] for r in results})


def test_verify_jsonl_skips_an_oversized_line_and_goes_on(tmp_path):
    good = json.dumps({"task_id": "t", "numbers": [8, 3, 4], "target": 20,
                       "response": "<answer>(8 - 3) * 4</answer>"}).encode()
    huge = b'{"response": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}'
    exact = b" " * (MAX_LINE_BYTES - len(good)) + good  # at the bound: still scored
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([good, huge, b"\xff\xfe", exact, b"", good, huge]))
    counts = verify_jsonl(TASKS["countdown"], src, tmp_path / "out.jsonl").counts()
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in results] == [
        (1, "correct"), (2, "bad_row:too_long"), (3, "bad_row:not_utf8"), (4, "correct"), (6, "correct"),
        (7, "bad_row:too_long")]
    assert counts == {"rows": 6, "correct": 3, "bad_rows": 3}


# -- (c) nothing outside the verifier is touched -----------------------------------------------------------------

_AUDIT = {"recording": False, "events": []}
_AUDIT_HOOK_INSTALLED = []
ALLOWED_EVENTS = {"compile"}  # ast.parse goes through compile(..., PyCF_ONLY_AST); it builds a tree, runs nothing


def _audit_hook(event: str, _args: tuple) -> None:
    if _AUDIT["recording"]:
        _AUDIT["events"].append(event)


def _recorded(run) -> list[str]:
    """Audit events raised while `run()` runs (the hook is installed once: audit hooks cannot be removed)."""
    if not _AUDIT_HOOK_INSTALLED:
        sys.addaudithook(_audit_hook)
        _AUDIT_HOOK_INSTALLED.append(True)
    _AUDIT["events"] = []
    _AUDIT["recording"] = True
    try:
        run()
    finally:
        _AUDIT["recording"] = False
    return list(_AUDIT["events"])


def test_injection_cases_execute_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    cases = hostile_corpus.injection_cases(str(sentinel))
    assert any("system" in str(c.input) for c in cases)
    baseline = [c for c in CASES if c.category == "baseline" and c.verifier != "jsonl_line"]
    for case in baseline:  # warm-up on benign input, so lazy imports cannot hide among the recorded events
        hostile.run_case(case, TASKS)
    verdicts = []
    events = _recorded(lambda: verdicts.extend(hostile.run_case(case, TASKS) for case in cases))
    assert set(events) <= ALLOWED_EVENTS, sorted(set(events))
    assert "compile" in events  # the hook really was recording
    assert all(not v.correct and v.reason for v in verdicts)
    assert not sentinel.exists()


def test_whole_corpus_raises_no_audit_event_but_compile():
    events = _recorded(lambda: [hostile.run_case(case, TASKS) for case in CASES])
    assert set(events) <= ALLOWED_EVENTS, sorted(set(events))


# -- (d) bounded work, without timing ---------------------------------------------------------------------------

class _Tripwire(str):
    """A string that fails on any method call: only len() (a type slot, not an attribute) may look at it."""

    def __getattribute__(self, name):
        raise AssertionError(f"over-long input was read: .{name}")


class _TripwireBytes(bytes):
    def __getattribute__(self, name):
        raise AssertionError(f"over-long line was read: .{name}")


def test_over_long_input_is_rejected_by_its_length_alone():
    huge = "<answer>" + "9" * 10_000_000 + "</answer>"
    assert verify_countdown([8, 3, 4], 20, _Tripwire(huge)) == Verdict(False, "too_long")
    assert verify_calls([WEATHER], _Tripwire("[" * 10_000_000)) == Verdict(False, "too_long")
    result = verify_line(TASKS["countdown"], _TripwireBytes(b"[" * 10_000_000))
    assert result["reason"] == "bad_row:too_long"


class _NoParse:
    """Stands in for the ast / json modules: any parse call fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"parser reached: {name}")


def test_deep_input_is_rejected_before_any_parser_runs(monkeypatch):
    monkeypatch.setattr(countdown_verify, "ast", _NoParse())
    assert verify_countdown([8], 8, "<answer>" + "(" * 50 + "8" + ")" * 50 + "</answer>") == Verdict(False, "too_deep")
    monkeypatch.setattr(strict_json, "json", _NoParse())  # the JSON parser of the function-calling verifier
    assert verify_calls([WEATHER], "[" * 15_000) == Verdict(False, "too_deep")
    assert verify_calls([WEATHER], '{"a": ' * 2500 + "1" + "}" * 2500) == Verdict(False, "too_deep")
    monkeypatch.setattr(verify_file, "json", _NoParse())
    assert verify_line(TASKS["countdown"], b"[" * 500_000)["reason"] == "bad_row:too_deep"


def test_oversized_line_is_never_read_whole():
    class Recorder(io.BytesIO):
        largest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            Recorder.largest = max(Recorder.largest, len(line))
            return line

    lines = list(verify_file._bounded_lines(Recorder(b"x" * (3 * MAX_LINE_BYTES) + b"\nok\n")))
    assert lines == [None, b"ok\n"]
    assert Recorder.largest <= MAX_LINE_BYTES + 1
