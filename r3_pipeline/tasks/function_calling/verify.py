"""Safe verifier for function-calling answers: the model's tool calls are parsed as strict JSON, never executed.

This is the reward signal of R3 on the function-calling task (the paper's APIGen / xLAM setting), so it must be
exact, total (never raises, whatever the string) and cheap on hostile input: every size is bounded before any
parsing, and nesting depth is checked by a linear, non-recursive bracket scan before `json.loads` sees the
text, so a 100,000-deep input never recurses.

The answer is read by parse.py (its accepted formats and bounds are written there); this module decides whether
the calls read are the gold calls.

Matching rule (the paper's exact match of the set of calls): the predicted calls must equal the gold calls as
a multiset, so parallel calls may come in any order, including repeated calls to the same function. Two calls
are equal when the function names are identical and the argument objects are equal under these value rules:
  * numbers compare by value: 5 == 5.0; booleans are never numbers: true != 1, false != 0;
  * strings are case-sensitive and exact except that leading and trailing whitespace is ignored
    ("Paris " == "Paris", "paris" != "Paris"); a string never equals a number ("5" != 5);
  * objects compare key by key, key order irrelevant; lists compare element by element, order significant;
  * null only equals null.
Argument names are compared exactly, with one allowance for optional parameters: given the offered tools
(xLAM schemas), an argument passed at its declared `default` is the same call as that argument left out, on
either side. So a call may leave out an argument the gold call passes at its default, or pass at its default
one the gold call leaves out. Leaving out an argument whose gold value is not its default, or one with no
declared default, is still missing_argument (else leaving arguments out would be a way to the reward); an
argument that is not a parameter of the tool is still extra_argument.

Reason codes (`Verdict.reason`):
  correct                     the calls match the gold calls as a multiset
  too_long                    response over MAX_RESPONSE_CHARS, or a JSON block over MAX_BLOCK_CHARS
  too_deep                    JSON nesting deeper than MAX_DEPTH (checked before parsing)
  unparseable                 no JSON found, invalid JSON, NaN/Infinity/overflowing numbers, or wrong shape
  unparseable:duplicate_key   a JSON object with the same key twice (ambiguous: which value counts?)
  wrong_count                 the number of calls differs from the gold answer
  wrong_function              some call names a function the gold answer does not call (that often)
  missing_argument:<name>     a gold argument is absent from the closest same-name call
  extra_argument:<name>       the closest same-name call passes an argument the gold call does not
  wrong_value:<name>          the closest same-name call has the right argument names but this value differs
  internal_error:<Exception>  a bug guard; not expected to ever occur
When several calls are wrong, the reason describes the first unmatched predicted call (in answer order),
compared with the gold call of the same name that differs from it least; names are checked in sorted order,
missing before extra before wrong value. Argument names in reasons are escaped to printable ASCII and cut
to 64 characters.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.function_calling.parse import Call, JsonRejected, read_calls

MAX_REASON_NAME_CHARS = 64


def values_equal(gold: Any, pred: Any) -> bool:
    """Equality under the module's value rules (numbers by value, bool apart, strings trimmed, lists ordered)."""
    if isinstance(gold, bool) or isinstance(pred, bool):
        return type(gold) is type(pred) and gold == pred
    if isinstance(gold, (int, float)) or isinstance(pred, (int, float)):
        return isinstance(gold, (int, float)) and isinstance(pred, (int, float)) and gold == pred
    if isinstance(gold, str) or isinstance(pred, str):
        return isinstance(gold, str) and isinstance(pred, str) and gold.strip() == pred.strip()
    if isinstance(gold, dict) or isinstance(pred, dict):
        return isinstance(gold, dict) and isinstance(pred, dict) and _dicts_equal(gold, pred)
    if isinstance(gold, list) or isinstance(pred, list):
        return (isinstance(gold, list) and isinstance(pred, list) and len(gold) == len(pred)
                and all(values_equal(g, p) for g, p in zip(gold, pred)))
    return gold is None and pred is None


def _dicts_equal(gold: dict, pred: dict) -> bool:
    return gold.keys() == pred.keys() and all(values_equal(gold[k], pred[k]) for k in gold)


Defaults = dict[str, dict[str, Any]]  # tool name -> {parameter: declared default}


def _canonical(call: Call, defaults: Defaults | None) -> dict:
    """The call's arguments less those passed at their declared default (the same call as leaving them out).

    values_equal is an equivalence, so equality of canonical arguments is one too, which `_unmatched` relies on.
    """
    declared = defaults.get(call["name"]) if defaults else None
    if not declared or declared.keys().isdisjoint(call["arguments"]):
        return call["arguments"]
    return {name: value for name, value in call["arguments"].items()
            if name not in declared or not values_equal(value, declared[name])}


def declared_defaults(tools: list[dict], names: set[str] | None = None) -> Defaults:
    """Tool name -> {parameter: default} for the parameters that declare a default. `names`: only these tools
    (those the gold calls use: a call to any other tool is wrong whatever its arguments)."""
    return {tool["name"]: {name: spec["default"] for name, spec in tool.get("parameters", {}).items()
                           if "default" in spec}
            for tool in tools if names is None or tool["name"] in names}


def verify_calls(gold: list[Call], response: str, tools: list[dict] | None = None) -> Verdict:
    """Check that the calls in `response` equal the `gold` calls as a multiset (see the module docstring);
    `tools`: the offered tools, whose declared defaults a call may pass or leave out alike."""
    try:
        return _match(gold, read_calls(response), tools)
    except JsonRejected as reject:
        return Verdict(False, reject.reason)
    except Exception as exc:  # noqa: BLE001 - a verifier must be total; see module docstring
        return Verdict(False, f"internal_error:{type(exc).__name__}")


def _match(gold: list[Call], pred: list[Call], tools: list[dict] | None) -> Verdict:
    if len(gold) != len(pred):
        return Verdict(False, "wrong_count")
    # Equal as written implies equal with defaults, so the defaults are worked out only when that fails.
    gold_left, pred_left = _unmatched(gold, pred, None)
    if not pred_left:
        return Verdict(True, "correct")
    if Counter(c["name"] for c in gold_left) != Counter(c["name"] for c in pred_left):
        return Verdict(False, "wrong_function")  # matched pairs share a name, so defaults cannot change this
    # Pairs equal as written are equal with defaults too, and per class of equal calls the counts still
    # balance without them, so pairing only the leftovers finds a perfect matching whenever one exists.
    defaults = declared_defaults(tools, {call["name"] for call in gold_left}) if tools else None
    if defaults:
        gold_left, pred_left = _unmatched(gold_left, pred_left, defaults)
        if not pred_left:
            return Verdict(True, "correct")
    return Verdict(False, _explain(gold_left, pred_left, defaults))


def _unmatched(gold: list[Call], pred: list[Call], defaults: Defaults | None) -> tuple[list[Call], list[Call]]:
    """The gold and predicted calls left over after pairing equal calls."""
    gold_left = [(g, _canonical(g, defaults)) for g in gold]
    pred_left: list[Call] = []
    # Call equality is an equivalence relation, so greedy removal finds a perfect matching when one exists.
    for call in pred:
        args = _canonical(call, defaults)
        index = next((i for i, (g, g_args) in enumerate(gold_left)
                      if g["name"] == call["name"] and _dicts_equal(g_args, args)), None)
        if index is None:
            pred_left.append(call)
        else:
            del gold_left[index]
    return [g for g, _ in gold_left], pred_left


def _explain(gold_left: list[Call], pred_left: list[Call], defaults: Defaults | None) -> str:
    """The argument reason for the first unmatched predicted call (the unmatched calls have the same names)."""
    call = pred_left[0]
    pred_args = _canonical(call, defaults)
    same_name = [g for g in gold_left if g["name"] == call["name"]]
    closest = min(same_name, key=lambda g: _distance(_canonical(g, defaults), pred_args))  # min keeps the first
    return argument_reason(_canonical(closest, defaults), pred_args, closest["arguments"], call["arguments"])


def _distance(gold_args: dict, pred_args: dict) -> int:
    differing = gold_args.keys() ^ pred_args.keys()
    shared = gold_args.keys() & pred_args.keys()
    return len(differing) + sum(not values_equal(gold_args[k], pred_args[k]) for k in shared)


def argument_reason(gold_args: dict, pred_args: dict, gold_given: dict | None = None,
                    pred_given: dict | None = None) -> str:
    """missing_argument / extra_argument / wrong_value for the first differing argument name, in sorted order.

    `gold_given` / `pred_given`: the arguments as written, when `gold_args` / `pred_args` leave out those at
    their defaults; an argument one side gives at its default and the other at another value is a wrong value.
    """
    missing = sorted(gold_args.keys() - pred_args.keys())
    if missing:
        kind = "wrong_value" if missing[0] in (pred_given or {}) else "missing_argument"
        return f"{kind}:{safe_name(missing[0])}"
    extra = sorted(pred_args.keys() - gold_args.keys())
    if extra:
        kind = "wrong_value" if extra[0] in (gold_given or {}) else "extra_argument"
        return f"{kind}:{safe_name(extra[0])}"
    wrong = [k for k in sorted(gold_args) if not values_equal(gold_args[k], pred_args[k])]
    return f"wrong_value:{safe_name(wrong[0])}" if wrong else "wrong_value"


def safe_name(name: str) -> str:
    """An argument name fit for a reason code: printable ASCII only (control characters, non-ASCII and lone
    surrogates backslash-escaped) and bounded in length."""
    return name.encode("unicode_escape").decode("ascii")[:MAX_REASON_NAME_CHARS]
