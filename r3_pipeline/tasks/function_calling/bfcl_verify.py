"""BFCL's AST acceptance rules, so function-calling answers on BFCL-style rows score as the leaderboard scores them.

The Berkeley Function Calling Leaderboard (bfcl-eval, Apache-2.0; rules read from its
eval_checker/ast_eval/ast_checker.py and eval_runner.py, never imported) gives each expected call as
{function: {argument: [acceptable values...]}}, where "" in the list means the argument may be left out. The
model's answer is read exactly as verify.py reads it (parse.py) (bounded strict JSON from <tool_call>
blocks or bare JSON, never evaluated), so this module only decides acceptance. It never raises.

Rules we follow (per call, in BFCL's order; the first failure is the reason):
  * the function name equals the expected one exactly                            -> wrong_function
  * every parameter in the function doc's `required` list is given               -> missing_argument:<p>
  * every given argument is both a documented parameter and in the expected call -> extra_argument:<p>
  * type: the JSON type must be the documented one (string, integer, float, boolean, array, tuple, dict, any
    as string); an integer is accepted for a float; a boolean is never a number. As in BFCL, a value of the
    acceptable values' own type is also accepted when that type differs from the documented one (BFCL's
    "variable" rule), and the value is then compared exactly, a string as written (outer whitespace
    included)                                                                    -> wrong_type:<p>
  * value: strings compare after BFCL's standardisation (remove spaces and , . / - _ * ^, lowercase, ' -> ");
    arrays compare element by element, order significant, standardising string elements one level deep;
    dicts key by key against each acceptable dict (a key may be left out when "" is among its values, a key
    not in the acceptable dict is wrong); arrays of dicts dict by dict; anything else by value (5 == 5.0)
                                                                                  -> wrong_value:<p>
  * an expected argument that is not given must have "" among its acceptable values -> missing_argument:<p>
  * simple, multiple, parallel and parallel_multiple all reduce to: as many calls as expected calls
    (wrong_count), matched one to one in any order.
  * irrelevance: correct when the answer makes no call: plain text (no <tool_call> block, not JSON calls) or
    an empty list of calls; any call is unexpected_call.

Where we differ from BFCL (stricter unless marked "looser"):
  * "" in an acceptable list means only "may be left out": a given "", an empty list or an empty dict never
    matches the marker itself (BFCL's standardisation makes a given "" match it, and its list checker turns
    it into []). A given string still matches an acceptable one that standardises to the same text.
  * booleans are never numbers anywhere, also inside arrays and dicts (BFCL compares those with Python's ==,
    where true == 1).
  * looser: parallel calls are matched by a true one-to-one matching, so an answer is correct whenever some
    pairing works (BFCL pairs greedily in expected order and can miss one when acceptable sets overlap).
  * function names are never rewritten (BFCL turns "." into "_" for providers that forbid dots).
  * looser: array item types are not checked apart from the values, so [5.0] matches [5] for an array of
    integers (BFCL checks one level of item types).
  * looser: a documented type outside BFCL's Python table skips the type check, values still compared
    (BFCL stops with a KeyError).
  * irrelevance: a <tool_call> block that does not parse is an attempted call and is wrong (unparseable),
    a response over the size bounds is too_long, and bare JSON too deep or with a repeated key keeps that
    reason; BFCL counts any decode failure as "no call".
Java and JavaScript categories (values written as source text) are not supported; bfcl_data rejects them.

Reason codes: correct, wrong_count, wrong_function, missing_argument:<p>, extra_argument:<p>, wrong_type:<p>,
wrong_value:<p>, unexpected_call, and parse.py's reasons (too_long, too_deep,
unparseable...). With several calls, the reason is that of the first predicted call left unmatched, against
the first unmatched expected call of the same name (wrong_function when none has its name).
"""

from __future__ import annotations

import re
from typing import Any

from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.function_calling.parse import MAX_RESPONSE_CHARS, Call, extract_blocks, parse_calls
from r3_pipeline.tasks.function_calling.verify import safe_name, values_equal

OPTIONAL = ""  # in an acceptable-values list: the argument may be left out
BFCL_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list,
                               "tuple": list, "dict": dict, "any": str}
_STANDARDISE = re.compile(r"[ ,./\-_*^]")

Expected = dict[str, dict[str, list]]  # one ground-truth entry: {function name: {argument: acceptable values}}


def verify_bfcl(functions: list[dict], ground_truth: list[Expected], response: str) -> Verdict:
    """Score `response` against BFCL's possible answers; an empty `ground_truth` is an irrelevance row."""
    try:
        if not ground_truth:
            return _no_call(response)
        calls = parse_calls(response)
        if isinstance(calls, Verdict):
            return calls
        return _match_calls(functions, ground_truth, calls)
    except Exception as exc:  # noqa: BLE001 - a verifier must be total
        return Verdict(False, f"internal_error:{type(exc).__name__}")


def _no_call(response: Any) -> Verdict:
    if not isinstance(response, str):
        return Verdict(False, "unparseable")
    if len(response) > MAX_RESPONSE_CHARS:
        return Verdict(False, "too_long")
    calls = parse_calls(response)
    if isinstance(calls, list):
        return Verdict(True, "correct") if not calls else Verdict(False, "unexpected_call")
    if calls.reason == "unparseable" and not extract_blocks(response):
        return Verdict(True, "correct")  # plain text: the model declined to call
    return calls


# -- many calls -------------------------------------------------------------------------------------------------

def _match_calls(functions: list[dict], ground_truth: list[Expected], calls: list[Call]) -> Verdict:
    if len(calls) != len(ground_truth):
        return Verdict(False, "wrong_count")
    docs = {doc["name"]: doc for doc in functions}
    expected = [next(iter(entry.items())) for entry in ground_truth]
    problems = [[call_problem(docs.get(name, {}), name, acceptable, call) for call in calls]
                for name, acceptable in expected]
    pred_of_gold = _max_matching([[p is None for p in row] for row in problems])
    if all(p >= 0 for p in pred_of_gold):
        return Verdict(True, "correct")
    matched = set(pred_of_gold)
    pred = next(i for i in range(len(calls)) if i not in matched)
    same_name = [g for g, p in enumerate(pred_of_gold) if p < 0 and expected[g][0] == calls[pred]["name"]]
    return Verdict(False, problems[same_name[0]][pred] if same_name else "wrong_function")


def _max_matching(ok: list[list[bool]]) -> list[int]:
    """For each expected call, the index of the predicted call it is paired with (-1: none), in a maximum
    one-to-one pairing of compatible calls (augmenting paths; depth at most the number of calls)."""
    n_pred = len(ok[0]) if ok else 0
    gold_of_pred = [-1] * n_pred

    def augment(gold: int, seen: list[bool]) -> bool:
        for pred in range(n_pred):
            if ok[gold][pred] and not seen[pred]:
                seen[pred] = True
                if gold_of_pred[pred] < 0 or augment(gold_of_pred[pred], seen):
                    gold_of_pred[pred] = gold
                    return True
        return False

    for gold in range(len(ok)):
        augment(gold, [False] * n_pred)
    pred_of_gold = [-1] * len(ok)
    for pred, gold in enumerate(gold_of_pred):
        if gold >= 0:
            pred_of_gold[gold] = pred
    return pred_of_gold


# -- one call ---------------------------------------------------------------------------------------------------

def call_problem(doc: dict, name: str, acceptable: dict[str, list], call: Call) -> str | None:
    """Why `call` is not an acceptable call of `name` (documented by `doc`), or None when it is."""
    if call["name"] != name:
        return "wrong_function"
    params = doc.get("parameters", {})
    properties = params.get("properties", {})
    arguments = call["arguments"]
    for param in params.get("required", []):
        if param not in arguments:
            return f"missing_argument:{safe_name(param)}"
    for param, value in arguments.items():
        if param not in properties or param not in acceptable:
            return f"extra_argument:{safe_name(param)}"
        problem = _value_problem(value, properties[param], acceptable[param])
        if problem:
            return f"{problem}:{safe_name(param)}"
    for param, allowed in acceptable.items():
        if param not in arguments and OPTIONAL not in allowed:
            return f"missing_argument:{safe_name(param)}"
    return None


def _value_problem(value: Any, spec: dict, allowed: list) -> str | None:
    """"wrong_type", "wrong_value" or None for one argument value against its acceptable values."""
    declared = spec.get("type")
    expected = BFCL_TYPES.get(declared) if isinstance(declared, str) else None
    if expected is float and type(value) is int:
        value = float(value)
    answer_type = next((type(a) for a in allowed if a != OPTIONAL), None)
    if expected is None:
        return None if _among(value, allowed) else "wrong_value"
    if type(value) is not expected and type(value) is not answer_type:
        return "wrong_type"
    if answer_type is not None and answer_type is not expected:
        return None if _exactly_among(value, allowed) else "wrong_value"  # BFCL's variable rule
    return None if _matches(value, expected, spec, allowed) else "wrong_value"


def _matches(value: Any, expected: type, spec: dict, allowed: list) -> bool:
    if expected is dict:
        return any(_dict_matches(value, option) for option in allowed)
    items = spec.get("items")
    if expected is list and isinstance(items, dict) and items.get("type") == "dict":
        return any(_dict_list_matches(value, option) for option in allowed)
    if expected is str or expected is list:
        return _standardised_among(value, allowed, into_lists=True)
    return _among(value, allowed)


def _dict_matches(value: dict, option: Any) -> bool:
    """BFCL's dict checker: each given key known and its value acceptable, each key not given optional."""
    if not isinstance(option, dict) or not all(isinstance(v, list) for v in option.values()):
        return False
    for key, item in value.items():
        if key not in option or not _standardised_among(item, option[key], into_lists=False):
            return False
    return all(key in value or OPTIONAL in allowed for key, allowed in option.items())


def _dict_list_matches(value: list, option: Any) -> bool:
    return (isinstance(option, list) and len(option) == len(value)
            and all(isinstance(v, dict) and _dict_matches(v, o) for v, o in zip(value, option)))


def _among(value: Any, allowed: list) -> bool:
    """`value` equals an acceptable value; the "" marker is never one (it only allows leaving out)."""
    return any(a != OPTIONAL and values_equal(a, value) for a in allowed)


def _exactly_among(value: Any, allowed: list) -> bool:
    """As _among, but a string only equals the same string as written, outer whitespace included (BFCL's
    variable rule compares with ==; _among trims strings as verify.values_equal does)."""
    if isinstance(value, str):
        return any(a != OPTIONAL and isinstance(a, str) and a == value for a in allowed)
    return _among(value, allowed)


def _standardised_among(value: Any, allowed: list, into_lists: bool) -> bool:
    """As _among, strings compared after standardisation, and the strings directly inside lists too when
    `into_lists` (BFCL's list checker does, its dict checker does not). The "" marker is dropped before
    standardising, so "," stays acceptable though it standardises to ""."""
    def standard(item: Any) -> Any:
        return standardise(item) if into_lists or isinstance(item, str) else item

    value = standard(value)
    return any(a != OPTIONAL and values_equal(standard(a), value) for a in allowed)


def standardise(value: Any) -> Any:
    """BFCL's string standardisation, applied to a string or to the strings directly inside a list."""
    if isinstance(value, str):
        return _STANDARDISE.sub("", value).lower().replace("'", '"')
    if isinstance(value, list):
        return [_STANDARDISE.sub("", v).lower().replace("'", '"') if isinstance(v, str) else v for v in value]
    return value
