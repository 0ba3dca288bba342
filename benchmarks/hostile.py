"""Times every hostile-output case (`hostile_corpus`) through the real verifiers against the 10 ms p99 target.

`python -m benchmarks.hostile` (or `r3 bench hostile`) prints p99 and max per verifier and category;
`hostile_figures()` returns the same figures as a dict. The "jsonl_line" verifier
(`r3_pipeline.verify_file.verify_line`) costs time linear in a line's size (lines up to MAX_LINE_BYTES = 1 MiB
are parsed), so its near-bound wide-line cases are expected to exceed the target: they show that cost rather
than hide it.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from typing import Any

from benchmarks.hostile_corpus import COUNTDOWN, DEFAULT_SENTINEL, FUNCTION_CALLING, JSONL_LINE, Case, corpus
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.base import Task, Verdict
from r3_pipeline.verify_file import verify_line

TARGET_MS = 10.0
REPEATS = 5


def make_tasks() -> dict[str, Task]:
    return {COUNTDOWN: make_task(COUNTDOWN), FUNCTION_CALLING: make_task(FUNCTION_CALLING)}


def run_case(case: Case, tasks: dict[str, Task]) -> Verdict:
    """The real verifier's verdict on a case (jsonl_line cases go through `verify_line`)."""
    task = tasks[case.task]
    if case.verifier == JSONL_LINE:
        result = verify_line(task, case.input)
        return Verdict(result["correct"], result["reason"])
    return task.verify(case.row, case.input)


def as_expected(case: Case, verdict: Any) -> bool:
    """The verdict is a Verdict with the case's correctness, a non-empty reason, and the pinned reason if any."""
    return (isinstance(verdict, Verdict) and verdict.correct is case.correct and isinstance(verdict.reason, str)
            and bool(verdict.reason) and (case.reason is None or verdict.reason == case.reason))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _time_case(case: Case, tasks: dict[str, Task], repeats: int) -> tuple[list[float], bool]:
    try:
        ok = as_expected(case, run_case(case, tasks))  # also the warm-up call
    except Exception:  # noqa: BLE001 - a raising verifier is a finding to report, not a crash of the benchmark
        return [], False
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run_case(case, tasks)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times, ok


def _summary(times: list[float], cases: int) -> dict[str, Any]:
    return {"cases": cases, "max_ms": max(times, default=0.0), "p99_ms": percentile(times, 99) if times else 0.0}


def _verifier_figures(cases: tuple[Case, ...], tasks: dict[str, Task], repeats: int) -> dict[str, Any]:
    by_category: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    all_times: list[float] = []
    unexpected: list[str] = []
    gc.collect()
    for case in cases:
        times, ok = _time_case(case, tasks, repeats)
        by_category.setdefault(case.category, []).extend(times)
        counts[case.category] = counts.get(case.category, 0) + 1
        all_times.extend(times)
        if not ok:
            unexpected.append(case.id)
    overall = _summary(all_times, len(cases))
    return {
        **overall,
        "pass": overall["p99_ms"] < TARGET_MS and not unexpected,
        "unexpected": unexpected,
        "categories": {cat: _summary(times, counts[cat]) for cat, times in by_category.items()},
    }


def hostile_figures(repeats: int = REPEATS, sentinel: str = DEFAULT_SENTINEL) -> dict[str, Any]:
    """Time every corpus case `repeats` times through the real verifiers; per verifier and category figures.

    A verifier passes when its overall p99 is under TARGET_MS and every case got its expected verdict.
    """
    tasks = make_tasks()
    verifiers = {name: _verifier_figures(cases, tasks, repeats) for name, cases in corpus(sentinel).items()}
    return {"target_ms": TARGET_MS, "repeats": repeats, "verifiers": verifiers,
            "pass": all(v["pass"] for v in verifiers.values())}


def format_table(figures: dict[str, Any]) -> str:
    lines = [f"{'verifier':<17}{'category':<18}{'cases':>6}{'max ms':>9}{'p99 ms':>9}"]
    for name, fig in figures["verifiers"].items():
        for category, cat in fig["categories"].items():
            lines.append(f"{name:<17}{category:<18}{cat['cases']:>6}{cat['max_ms']:>9.3f}{cat['p99_ms']:>9.3f}")
        verdict = "PASS" if fig["pass"] else "MISS"
        lines.append(f"{name:<17}{'ALL':<18}{fig['cases']:>6}{fig['max_ms']:>9.3f}{fig['p99_ms']:>9.3f}  {verdict} "
                     f"(p99 < {figures['target_ms']:g} ms, unexpected verdicts: {len(fig['unexpected'])})")
        lines.extend(f"  unexpected: {case_id}" for case_id in fig["unexpected"])
    return "\n".join(lines)


def main() -> int:
    figures = hostile_figures()
    print(f"hostile-output benchmark: every case {figures['repeats']}x through the real verifiers")
    print(format_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
