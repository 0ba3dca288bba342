"""Countdown problems: a problem's identity and canonical row, seeded generation, and splits from a user's source.

A row is a pure function of its problem key (sorted numbers, target): the same problem gets the same task_id,
number order and solution whatever seed or file produced it, so ids are safe to join on across runs. Either way
a problem is kept only when the exact solver finds a solution, so every row is provably solvable and carries a
reference solution.

Loaded rows that are malformed, duplicated or unsolvable go to Splits.rejected with a reason, and the good ones
are split by a seeded hash of the task_id (as the function-calling task splits real data). Reading stops once
num_train and num_test are both filled, so a huge file costs only the rows it needs; the rejection rate then
covers the rows read (less valid rows skipped because their side was full, which only makes it stricter).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from r3_pipeline.tasks.base import Row, Splits
from r3_pipeline.tasks.countdown.config import MAX_COUNT, CountdownConfig
from r3_pipeline.tasks.countdown.data import SourceRow, check_problem, goes_to_test, read_source
from r3_pipeline.tasks.countdown.solver import solve
from r3_pipeline.tasks.countdown.verify import verify_countdown
from r3_pipeline.tasks.rows import RowRejected

_MAX_DRAWS_PER_PROBLEM = 10_000  # keeps a config with too few distinct problems from looping forever
ProblemKey = tuple[tuple[int, ...], int]
log = logging.getLogger(__name__)


def problem_key(numbers: list[int], target: int) -> ProblemKey:
    """Identity of a problem: the multiset of numbers and the target (number order does not matter)."""
    return tuple(sorted(numbers)), target


def task_id_for(numbers: list[int], target: int) -> str:
    nums, tgt = problem_key(numbers, target)
    digest = hashlib.sha256(f"{','.join(map(str, nums))}->{tgt}".encode()).hexdigest()
    return f"countdown-{digest[:12]}"


def make_row(numbers: list[int], target: int) -> Row | None:
    """The canonical row for a problem, or None when it has no solution."""
    solution = solve(numbers, target)
    if solution is None:
        return None
    task_id = task_id_for(numbers, target)
    # Shown order is shuffled by the problem's own hash, so it is varied yet identical for equal problems.
    shown = sorted(numbers)
    random.Random(task_id).shuffle(shown)
    if not verify_countdown(shown, target, f"<answer>{solution}</answer>").correct:
        raise RuntimeError(f"solver produced a solution that does not verify: {solution!r} for {numbers}, {target}")
    return {"task_id": task_id, "numbers": shown, "target": target, "solution": solution}


def load_splits(cfg: CountdownConfig) -> Splits:
    """Rows from the user's `source`: each checked, deduped, solved and sent to its seeded side, until full."""
    loaded = _Loaded(cfg)
    for source_row in read_source(cfg.source, cfg.split):
        if loaded.full():
            loaded.stopped_at = source_row.where
            break
        loaded.add(source_row)
    loaded.report()
    return Splits(train=loaded.train, test=loaded.test, rejected=loaded.rejected)


@dataclass
class _Loaded:
    """The rows kept and rejected so far while reading a user's source, one source row at a time."""

    cfg: CountdownConfig
    train: list[Row] = field(default_factory=list)
    test: list[Row] = field(default_factory=list)
    rejected: list[Row] = field(default_factory=list)
    seen: set[ProblemKey] = field(default_factory=set)
    unused: int = 0
    solver_s: float = 0.0
    stopped_at: dict[str, int] | None = None

    def full(self) -> bool:
        return len(self.train) >= self.cfg.num_train and len(self.test) >= self.cfg.num_test

    def add(self, source_row: SourceRow) -> None:
        try:
            numbers, target = self._new_problem(source_row)
        except RowRejected as reject:
            self.rejected.append(source_row.rejected(reject.reason))
            return
        side, cap = self._side(task_id_for(numbers, target))
        if len(side) >= cap:
            self.unused += 1  # its side is already full, so it is not worth the solver's time
            return
        started = time.perf_counter()
        row = make_row(numbers, target)
        self.solver_s += time.perf_counter() - started
        if row is None:
            self.rejected.append(source_row.rejected("unsolvable"))
        else:
            side.append(row)

    def _new_problem(self, source_row: SourceRow) -> tuple[list[int], int]:
        numbers, target = check_problem(source_row, MAX_COUNT)
        key = problem_key(numbers, target)
        if key in self.seen:
            raise RowRejected("duplicate_problem")
        self.seen.add(key)
        return numbers, target

    def _side(self, task_id: str) -> tuple[list[Row], int]:
        if goes_to_test(task_id, self.cfg.test_fraction, self.cfg.seed):
            return self.test, self.cfg.num_test
        return self.train, self.cfg.num_train

    def report(self) -> None:
        """Tell the user what happened to their rows, including those the solver never looked at."""
        reasons = Counter(row["reject_reason"] for row in self.rejected)
        parts = [f"countdown source {self.cfg.source!r}: kept {len(self.train)} train and {len(self.test)} test "
                 f"rows, rejected {len(self.rejected)} {dict(reasons.most_common())}; "
                 f"exact solver took {self.solver_s:.1f} s"]
        if self.unused:
            parts.append(f"{self.unused} valid rows were skipped unsolved because their split was already full")
        if self.stopped_at:
            parts.append(f"both splits were full, so reading stopped at {self.stopped_at} and the rest was not checked")
        log.log(logging.WARNING if self.rejected else logging.INFO, "; ".join(parts))


def generate(cfg: CountdownConfig, wanted: int) -> list[Row]:
    rng = random.Random(cfg.seed)
    rows: dict[ProblemKey, Row] = {}
    unsolvable: set[ProblemKey] = set()
    while len(rows) < wanted:
        # The count is drawn per problem and kept while searching, so counts stay uniform in the output even
        # though fewer-number problems are far less often solvable.
        count = rng.choice(cfg.counts)
        key, row = _draw_new_problem(cfg, rng, count, rows, unsolvable)
        rows[key] = row
    return list(rows.values())


def _draw_new_problem(
    cfg: CountdownConfig, rng: random.Random, count: int, seen: dict[ProblemKey, Row], unsolvable: set[ProblemKey]
) -> tuple[ProblemKey, Row]:
    for _ in range(_MAX_DRAWS_PER_PROBLEM):
        numbers = [rng.randint(cfg.min_number, cfg.max_number) for _ in range(count)]
        if cfg.target_mode == "chain":
            row = _chain_row(cfg, rng, numbers)
            if row is not None and problem_key(numbers, row["target"]) not in seen:
                return problem_key(numbers, row["target"]), row
            continue
        target = rng.randint(cfg.min_target, cfg.max_target)
        key = problem_key(numbers, target)
        if key in seen or key in unsolvable:
            continue
        row = make_row(numbers, target)
        if row is not None:
            return key, row
        unsolvable.add(key)
    raise ValueError(
        f"no new solvable {count}-number problem in {_MAX_DRAWS_PER_PROBLEM} draws: "
        "the config allows too few distinct problems for num_train + num_test"
    )


def _chain_row(cfg: CountdownConfig, rng: random.Random, numbers: list[int]) -> Row | None:
    """A problem whose reference solution is `numbers` in the shown order joined by random operators."""
    solution = chain(numbers, [rng.choice("+-*") for _ in numbers[1:]])
    target = _chain_value(numbers, solution)
    if not cfg.min_target <= target <= cfg.max_target:
        return None
    row = {"task_id": task_id_for(numbers, target), "numbers": list(numbers), "target": target, "solution": solution}
    return row if verify_countdown(numbers, target, f"<answer>{solution}</answer>").correct else None


def _chain_value(numbers: list[int], solution: str) -> int:
    """Value of a chain of + - * with usual precedence (trusted text built above; no parsing of model output)."""
    terms, sign, product = [], 1, numbers[0]
    ops = solution.split()[1::2]
    for op, n in zip(ops, numbers[1:]):
        if op == "*":
            product *= n
        else:
            terms.append(sign * product)
            sign, product = (1 if op == "+" else -1), n
    return sum(terms) + sign * product


def chain(numbers: list[int], ops: list[str]) -> str:
    parts = [str(numbers[0])]
    for op, n in zip(ops, numbers[1:]):
        parts += [op, str(n)]
    return " ".join(parts)


