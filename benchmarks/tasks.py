"""Speed of the task code on its worst and its everyday inputs, against the bounds the task tests once asserted:
building the default splits, the Countdown solver, synthetic function-calling rows, and the verifiers on hostile
answers (deep nesting, huge strings, many tags). The tests check what these inputs return; this benchmark times it.

`python -m benchmarks.tasks` (or `r3 bench tasks`) prints one line per case with its target, PASS or MISS;
`figures()` returns them as a dict.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import mark, timed

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}


def _countdown_splits() -> None:
    from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask

    CountdownTask(CountdownConfig()).build_splits()


def _function_calling_splits() -> None:
    from r3_pipeline.tasks.function_calling import FunctionCallingConfig, FunctionCallingTask

    FunctionCallingTask(FunctionCallingConfig()).build_splits()


def _solver(problems: int) -> Callable[[], None]:
    from r3_pipeline.tasks.countdown.solver import solve

    rng = random.Random(1)
    cases = [([rng.randint(1, 20) for _ in range(4)], rng.randint(1, 100)) for _ in range(problems)]
    return lambda: [solve(numbers, target) for numbers, target in cases]


def _synthetic_rows(rows: int) -> Callable[[], None]:
    from r3_pipeline.tasks.function_calling.synth import SynthSettings, generate_xlam_rows

    return lambda: generate_xlam_rows(rows * 9 // 10, rows - rows * 9 // 10, SynthSettings(seed=9))


def _countdown_hostile() -> None:
    from r3_pipeline.tasks.countdown.verify import verify_countdown

    verify_countdown([3], 3, "<answer>" + "(" * 10_000 + "3" + ")" * 10_000 + "</answer>")
    verify_countdown([3], 3, "<answer>" + "9" * 10_000_000 + "</answer>")


def _calls_hostile() -> dict[str, Callable[[], Any]]:
    from r3_pipeline.tasks.function_calling.parse import MAX_RESPONSE_CHARS, JsonRejected, loads_strict
    from r3_pipeline.tasks.function_calling.verify import verify_calls

    answer = f"<tool_call>{json.dumps([WEATHER])}</tool_call>"

    def deep_json() -> None:
        try:
            loads_strict("[" * 100_000 + "]" * 100_000, max_chars=10**6)
        except JsonRejected:
            pass

    return {
        "function calling: 100k nested brackets, 3 forms in all": lambda: [
            verify_calls([WEATHER], t) for t in ("[" * 100_000, "<tool_call>" + "[" * 100_000 + "</tool_call>",
                                                 "{" * 100_000)],
        "loads_strict: 100k-deep JSON within the size bound": deep_json,
        "function calling: 10 MB answer": lambda: verify_calls([WEATHER], answer * (10_000_000 // len(answer))),
        "function calling: tags up to the length bound": lambda: verify_calls(
            [WEATHER], "<tool_call>" * (MAX_RESPONSE_CHARS // len("<tool_call>"))),
    }


def figures(solver_problems: int = 300, synthetic_rows: int = 3000, splits: bool = True) -> dict[str, dict]:
    """Per case: seconds (or ms per problem for the solver), its target, and whether it was met."""
    cases: list[tuple[str, Callable[[], Any], float, float]] = []  # name, fn, target seconds, divisor
    if splits:
        cases += [("countdown: default splits (2,000 train + 300 test)", _countdown_splits, 10.0, 1),
                  ("function calling: default splits (2,000 train + 300 test)", _function_calling_splits, 10.0, 1)]
    cases += [(f"countdown solver: per problem ({solver_problems} problems)", _solver(solver_problems), 0.005,
               solver_problems),
              (f"function calling: {synthetic_rows} synthetic rows", _synthetic_rows(synthetic_rows), 5.0, 1),
              ("countdown: 10k-deep parentheses and a 10 MB answer", _countdown_hostile, 1.0, 1)]
    cases += [(name, fn, 1.0 if "loads_strict" in name else 0.5 * (3 if "3 forms" in name else 1), 1)
              for name, fn in _calls_hostile().items()]
    out = {}
    for name, fn, target, divisor in cases:
        seconds = timed(fn)[1] / divisor
        out[name] = {"seconds": seconds, "target_s": target, "ok": seconds < target}
    return out


def format_table(figs: dict[str, dict]) -> str:
    lines = [f"{'case':<62} {'seconds':>10} {'target':>8}"]
    for name, f in figs.items():
        target = "-" if f["target_s"] == float("inf") else f"< {f['target_s']:g}"
        lines.append(f"{name:<62} {f['seconds']:>10.4f} {target:>8}  {mark(f['ok'])}")
    return "\n".join(lines)


def main() -> int:
    figs = figures()
    print(format_table(figs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
