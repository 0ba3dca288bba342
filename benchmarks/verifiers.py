"""Verifier throughput benchmark: our safe verifiers against the ways other R3 / TinyZero code verifies.

The reward of every rollout goes through a verifier, so it must keep up with generation. Ours parse and walk
model text and never execute it (see tasks/countdown/verify.py and tasks/function_calling/verify.py); the common alternatives
either run the text through sympy's `parse_expr` (which itself calls `eval` and is slow) or through plain
`eval` with builtins removed (TinyZero's way: fast, unsafe on hostile text). This module measures
verifications/s of each on one mixed workload built from the real task generators, in interleaved rounds
(best round per verifier), and checks on the way that all verifiers agree on every item, so the speeds compare
equal work. The peers here only ever see strings this module generated; the product never calls them.

Countdown targets: ours >= 10x the sympy verifier and >= 0.4x plain eval. Function calling: ours against a
naive `json.loads` + equality check, ratio reported (no target: ours does strictly more, e.g. multiset
matching, bounded parsing and reason codes).
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from typing import Any

from sympy.parsing.sympy_parser import parse_expr

from benchmarks import interleaved_best, mark, ratio
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.base import Task
from r3_pipeline.tasks.countdown.verify import verify_countdown

ROWS = 500
ROUNDS = 5
SEED = 0
MIN_VS_SYMPY = 10.0
MIN_VS_EVAL = 0.4

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_DIGITS = re.compile(r"\d+")
_ARITHMETIC = re.compile(r"^[\d+\-*/().\s]+$")
_MALFORMED = ("<answer>({a} + {b} * {c}</answer>", "<answer>{a} + * {b} - {c}</answer>", "<answer></answer>",
              "<answer>I cannot find one</answer>", "I think it is {a} + {b} + {c} <answer>{a} + {b}")

Item = tuple[str, dict[str, Any], str]  # (kind, task row, response)


# -- peers ------------------------------------------------------------------------------------------------------

def ours_countdown(row: dict[str, Any], response: str) -> bool:
    return verify_countdown(row["numbers"], row["target"], response).correct


def sympy_countdown(row: dict[str, Any], response: str) -> bool:
    """The sympy way: parse the last answer with `parse_expr`, then check the numbers used and the value."""
    answers = _ANSWER.findall(response)
    if not answers:
        return False
    equation = answers[-1].strip()
    try:
        value = parse_expr(equation)
        used = sorted(int(n) for n in _DIGITS.findall(equation))
        return used == sorted(row["numbers"]) and bool(value == row["target"])
    except Exception:  # noqa: BLE001 - parse_expr raises many kinds of errors on malformed text
        return False


def eval_countdown(row: dict[str, Any], response: str) -> bool:
    """TinyZero's way: numbers by regex as a multiset, a character whitelist, then `eval` without builtins."""
    answers = _ANSWER.findall(response)
    if not answers:
        return False
    equation = answers[-1].strip()
    try:
        if sorted(int(n) for n in _DIGITS.findall(equation)) != sorted(row["numbers"]):
            return False
        if not _ARITHMETIC.match(equation):
            return False
        return abs(eval(equation, {"__builtins__": None}, {}) - row["target"]) < 1e-5  # noqa: S307 - see docstring
    except Exception:  # noqa: BLE001
        return False


def ours_function_call(task: Task) -> Callable[[dict, str], bool]:
    return lambda row, response: task.verify(row, response).correct


def naive_function_call(row: dict[str, Any], response: str) -> bool:
    """json.loads of the last <tool_call> block (or the whole text) compared with the gold calls by equality."""
    blocks = _TOOL_CALL.findall(response)
    try:
        return json.loads(blocks[-1] if blocks else response) == row["answers"]
    except ValueError:
        return False


# -- workloads --------------------------------------------------------------------------------------------------

def countdown_workload(rows: int = ROWS, seed: int = SEED) -> list[Item]:
    """Per generated row: a correct answer, a wrong value, wrong numbers and a malformed answer, with some text
    around them as a model writes."""
    task = make_task("countdown", {"num_train": rows, "num_test": 0, "seed": seed})
    rng = random.Random(seed)
    items: list[Item] = []
    for i, row in enumerate(task.build_splits().train):
        a, b, c = (row["numbers"] * 3)[:3]
        items += [
            ("correct", row, f"Trying combinations. <answer>{row['solution']}</answer>"),
            ("wrong_value", row, f"Maybe this. {task.corrupt_response(row, rng)}"),
            ("wrong_numbers", row, f"<answer>{row['solution']} - {row['numbers'][0]}</answer>"),
            ("malformed", row, _MALFORMED[i % len(_MALFORMED)].format(a=a, b=b, c=c)),
        ]
    return items


def function_calling_workload(rows: int = ROWS, seed: int = SEED) -> list[Item]:
    """Per generated synthetic row: the correct calls, a plausible wrong answer, and a truncated answer."""
    task = make_task("function_calling", {"source": "synthetic", "num_train": rows, "num_test": 0, "seed": seed})
    rng = random.Random(seed)
    items: list[Item] = []
    for row in task.build_splits().train:
        correct = task.reference_response(row)
        items += [("correct", row, correct), ("wrong", row, task.corrupt_response(row, rng)),
                  ("malformed", row, correct[: len(correct) // 2])]
    return items


# -- measuring --------------------------------------------------------------------------------------------------

def disagreements(items: list[Item], verifiers: dict[str, Callable[[dict, str], bool]]) -> list[dict[str, Any]]:
    """Items on which the verifiers' verdicts differ from each other or from the item's kind."""
    found = []
    for kind, row, response in items:
        verdicts = {name: fn(row, response) for name, fn in verifiers.items()}
        if set(verdicts.values()) != {kind == "correct"}:
            found.append({"kind": kind, "row": row.get("task_id"), "response": response, "verdicts": verdicts})
    return found


def best_seconds(items: list[Item], verifiers: dict[str, Callable[[dict, str], bool]],
                 rounds: int) -> dict[str, float]:
    """Seconds each verifier takes over all `items`, best of `rounds` interleaved rounds."""
    passes = {name: (lambda fn=fn: [fn(row, response) for _, row, response in items]) for name, fn in verifiers.items()}
    return interleaved_best(passes, rounds)


def _bench(items: list[Item], verifiers: dict[str, Callable[[dict, str], bool]], rounds: int) -> dict[str, Any]:
    """Rates per kind of item and over the whole workload (whose time is the sum of the kinds' times)."""
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item[0], []).append(item)
    seconds = {kind: best_seconds(group, verifiers, rounds) for kind, group in by_kind.items()}
    kinds = {kind: _rates(len(by_kind[kind]), s) for kind, s in seconds.items()}
    total = _rates(len(items), {name: sum(s[name] for s in seconds.values()) for name in verifiers})
    return {**total, "kinds": kinds, "disagreements": disagreements(items, verifiers)}


def _rates(items: int, seconds: dict[str, float]) -> dict[str, Any]:
    per_s = {name: items / s for name, s in seconds.items()}
    return {"items": items, "per_s": per_s,
            "ratios": {name: ratio(per_s["ours"], rate) for name, rate in per_s.items() if name != "ours"}}


def figures(rows: int = ROWS, rounds: int = ROUNDS, seed: int = SEED) -> dict[str, Any]:
    """Both benchmarks on `rows` generated task rows each; `pass` needs both countdown targets and full
    agreement of all verifiers on every item."""
    countdown = _bench(countdown_workload(rows, seed),
                       {"ours": ours_countdown, "sympy": sympy_countdown, "eval": eval_countdown}, rounds)
    countdown["targets"] = {"sympy": MIN_VS_SYMPY, "eval": MIN_VS_EVAL}
    countdown["pass"] = {name: countdown["ratios"][name] >= target for name, target in countdown["targets"].items()}
    calls = _bench(function_calling_workload(rows, seed),
                   {"ours": ours_function_call(make_task("function_calling")), "naive": naive_function_call}, rounds)
    agree = not countdown["disagreements"] and not calls["disagreements"]
    return {"countdown": countdown, "function_calling": calls, "rounds": rounds, "agree": agree,
            "pass": agree and all(countdown["pass"].values())}


def format_table(figures: dict[str, Any]) -> str:
    cd, fc = figures["countdown"], figures["function_calling"]
    targets = {name: f"{mark(cd['pass'][name])} (>= {t:g}x)" for name, t in cd["targets"].items()}
    lines = [*_section("countdown", cd, targets), *_section("function calling", fc, {}),
             f"best of {figures['rounds']} interleaved rounds per kind; all verifiers agree on every item: "
             f"{figures['agree']}; overall: {mark(figures['pass'])}"]
    lines += [f"  DISAGREE: {d}" for d in (cd["disagreements"] + fc["disagreements"])[:10]]
    return "\n".join(lines)


_LABELS = {"ours": "ours (safe AST / strict JSON)", "sympy": "sympy parse_expr", "eval": "eval, no builtins (unsafe)",
           "naive": "naive json.loads + =="}


def _section(title: str, bench: dict[str, Any], verdicts: dict[str, str]) -> list[str]:
    peers = list(bench["ratios"])
    lines = [f"{title + ' verifier':<34}{'verifs/s':>12}{'ours / it':>11}{'  target' if verdicts else ''}"]
    for name, per_s in bench["per_s"].items():
        share = "" if name == "ours" else f"{bench['ratios'][name]:>10.2f}x"
        lines.append(f"  {_LABELS[name]:<32}{per_s:>12,.0f}{share:>11}  {verdicts.get(name, '')}".rstrip())
    lines.append(f"  {'by kind':<16}{'items':>6}" + "".join(f"{'ours / ' + name:>15}" for name in peers))
    for kind, fig in bench["kinds"].items():
        lines.append(f"  {kind:<16}{fig['items']:>6}" + "".join(f"{fig['ratios'][name]:>14.2f}x" for name in peers))
    lines.append(f"  disagreements: {len(bench['disagreements'])} of {bench['items']} items")
    return lines


def main() -> int:
    print(format_table(figures()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
