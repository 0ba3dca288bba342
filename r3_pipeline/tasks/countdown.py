"""The Countdown task: reach a target number from given numbers with + - * /, each number used exactly once.

This is the paper's arithmetic task. Problems are either generated from a seed or loaded from a user's dataset
(`source`, read and checked by countdown_data); either way a problem is kept only when the exact solver finds a
solution, so every row is provably solvable and carries a reference solution. A row is a pure function of its
problem key (sorted numbers, target): the same problem gets the same task_id, number order and solution
whatever seed or file produced it, so ids are safe to join on across runs.

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

from r3_pipeline.prompts import PromptTexts, load_prompts
from r3_pipeline.tasks.base import Message, Row, Splits, Verdict
from r3_pipeline.tasks.countdown_data import (
    GENERATED,
    SourceRow,
    check_problem,
    goes_to_test,
    problem_of,
    read_source,
)
from r3_pipeline.tasks.countdown_math import solve
from r3_pipeline.tasks.countdown_teacher import BEHAVIOURS, HINTS, reflection_behaviour, teacher_reflection
from r3_pipeline.tasks.countdown_verify import MAX_MAGNITUDE, verify_countdown
from r3_pipeline.tasks.rows import RowRejected

MAX_COUNT = 6  # the solver's cost grows steeply past this many numbers
_CORRUPT_OPS = "+-*/"
_CORRUPT_TRIES = 20
_MAX_DRAWS_PER_PROBLEM = 10_000  # keeps a config with too few distinct problems from looping forever
ProblemKey = tuple[tuple[int, ...], int]
log = logging.getLogger(__name__)


@dataclass
class CountdownConfig:
    """Settings for generating Countdown problems or loading them from a user's dataset."""

    seed: int = field(default=0, metadata={
        "help": "Random seed for problem generation and for splitting loaded rows; same seed, same splits."})
    source: str = field(default=GENERATED, metadata={"help": (
        "'generated' for seeded problems, else a local .jsonl/.json/.parquet file, dataset folder or hub id "
        "(e.g. Jiayi-Pan/Countdown-Tasks-3to4) of {\"target\": int, \"nums\" (or \"numbers\"): [int, ...]} rows. "
        "Bad rows are rejected with a reason; each kept row is proved solvable by the exact solver (about 1 ms "
        "for 3-4 numbers, up to ~1 s for an unsolvable 6-number row; rows over 6 numbers are rejected).")})
    split: str = field(default="train", metadata={
        "help": "Loaded data: the split to read from a dataset folder or hub id."})
    num_train: int = field(default=2000, metadata={
        "help": "Generated: number of training problems. Loaded: at most this many train rows are kept."})
    num_test: int = field(default=300, metadata={
        "help": "Generated: number of test problems (disjoint from train). Loaded: at most this many test rows."})
    test_fraction: float = field(default=0.1, metadata={
        "help": "Loaded data: share of rows sent to test, by a seeded hash of the task_id (problem)."})
    max_reject_rate: float = field(default=0.05, metadata={
        "help": "Largest acceptable share of rejected (invalid) rows; checked by the pipeline's asset check."})
    counts: list[int] = field(
        default_factory=lambda: [3, 4],
        metadata={"help": "Generated: how many numbers a problem has, drawn uniformly from this list (each 1 to 6)."},
    )
    min_number: int = field(default=1, metadata={"help": "Generated: smallest number that can be drawn (>= 0)."})
    max_number: int = field(default=20, metadata={"help": "Generated: largest number that can be drawn."})
    min_target: int = field(default=1, metadata={"help": "Generated: smallest target."})
    max_target: int = field(default=100, metadata={"help": "Generated: largest target."})
    prompts_path: str | None = field(
        default=None, metadata={"help": "Prompt YAML to use instead of assets/prompts/countdown.yaml."}
    )
    target_mode: str = field(default="uniform", metadata={"help": (
        "Generated: 'uniform': targets drawn uniformly in range, kept when the solver finds a solution "
        "(TinyZero-style); 'chain': the target is the value of the numbers in the shown order joined by random "
        "operators, and that chain is the reference solution (an easier, learnable distribution for tiny models).")})
    reflection_hint: str = field(default="equation", metadata={"help": (
        "Warm start of the embedded default only: what the teacher reflection proposes after saying what was "
        "wrong. 'equation': a whole working equation (the retry learns to follow it, R3 learns to propose better "
        "ones); 'first_step': only its innermost operation.")})

    def __post_init__(self) -> None:
        self.counts = list(self.counts)
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"invalid CountdownConfig: {problem}")


def _config_problem(cfg: CountdownConfig) -> str | None:
    ints = ("seed", "num_train", "num_test", "min_number", "max_number", "min_target", "max_target")
    for name in ints:
        if not _is_int(getattr(cfg, name)):
            return f"{name} must be an int, got {getattr(cfg, name)!r}"
    if cfg.num_train < 0 or cfg.num_test < 0:
        return "num_train and num_test must be >= 0"
    if not cfg.counts or not all(_is_int(c) and 1 <= c <= MAX_COUNT for c in cfg.counts):
        return f"counts must be a non-empty list of ints in [1, {MAX_COUNT}], got {cfg.counts!r}"
    if not 0 <= cfg.min_number <= cfg.max_number < MAX_MAGNITUDE:
        return "need 0 <= min_number <= max_number (< 10**12)"
    if not -MAX_MAGNITUDE < cfg.min_target <= cfg.max_target < MAX_MAGNITUDE:
        return "need min_target <= max_target (both of magnitude < 10**12)"
    if cfg.target_mode not in ("uniform", "chain"):
        return f"target_mode must be 'uniform' or 'chain', got {cfg.target_mode!r}"
    if cfg.reflection_hint not in HINTS:
        return f"reflection_hint must be one of {', '.join(HINTS)}, got {cfg.reflection_hint!r}"
    if cfg.prompts_path is not None and not isinstance(cfg.prompts_path, str):
        return "prompts_path must be a string or None"
    return _loading_problem(cfg)


def _loading_problem(cfg: CountdownConfig) -> str | None:
    for name in ("test_fraction", "max_reject_rate"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            return f"{name} must be a number in [0, 1], got {value!r}"
    if not isinstance(cfg.source, str) or not cfg.source.strip():
        return f"source must be {GENERATED!r} or a file path / dataset folder / hub id, got {cfg.source!r}"
    if not isinstance(cfg.split, str) or not cfg.split:
        return f"split must be a non-empty string, got {cfg.split!r}"
    return None


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


def read_row(row: object) -> Row:
    """`row` as the verifier takes it (`nums` read as `numbers`, integral floats as ints), under the same row
    rules as a loaded `source` (countdown_data.problem_of); raises RowRejected with the reason otherwise.
    A `task_id` is not required: `r3 verify` labels rows itself."""
    numbers, target = problem_of(row, MAX_COUNT)
    solution = row.get("solution")  # type: ignore[union-attr] - problem_of refuses anything but a dict
    if solution is not None and not isinstance(solution, str):
        raise RowRejected("bad_type:solution")
    return {**row, "numbers": numbers, "target": target}


def validate_row(row: object) -> str | None:
    """Why `row` is not a usable Countdown row (see `read_row`), or None when it is fine."""
    try:
        read_row(row)
    except RowRejected as reject:
        return reject.reason
    return None


class CountdownTask(PromptTexts):
    """Countdown as a Task (see r3_pipeline.tasks.base.Task)."""

    name = "countdown"

    def __init__(self, config: CountdownConfig | None = None):
        self.config = config or CountdownConfig()
        self.prompts = load_prompts("countdown", self.config.prompts_path)

    def build_splits(self) -> Splits:
        """Generated: draw num_train + num_test distinct solvable problems, then split (disjoint by construction).
        Loaded: see `_load_splits`."""
        cfg = self.config
        if cfg.source != GENERATED:
            return _load_splits(cfg)
        rows = _generate(cfg, cfg.num_train + cfg.num_test)
        return Splits(train=rows[cfg.num_test :], test=rows[: cfg.num_test], rejected=[])

    def prompt_messages(self, row: Row) -> list[Message]:
        numbers = ", ".join(map(str, row["numbers"]))
        return [{"role": "user", "content": self.prompts["attempt"].format(numbers=numbers, target=row["target"])}]

    def verify(self, row: Row, response: str) -> Verdict:
        return verify_countdown(row["numbers"], row["target"], response)

    def reference_response(self, row: Row) -> str:
        solution = row.get("solution") or solve(row["numbers"], row["target"])
        if solution is None:
            raise ValueError(f"row {row.get('task_id')!r} has no solution")
        return f"<answer>{solution}</answer>"

    def corrupt_response(self, row: Row, rng: random.Random) -> str:
        """Numbers shuffled and joined by random operators, re-drawn until it is wrong; always verifies False."""
        numbers = list(row["numbers"])
        for _ in range(_CORRUPT_TRIES):
            rng.shuffle(numbers)
            ops = [rng.choice(_CORRUPT_OPS) for _ in numbers[1:]]
            response = f"<answer>{_chain(numbers, ops)}</answer>"
            if not self.verify(row, response).correct:
                return response
        # Fallback: an extra copy of a number can never use the numbers exactly once.
        return f"<answer>{_chain(numbers + numbers[:1], ['+'] * len(numbers))}</answer>"

    def native_prompt_messages(self, row: Row) -> list[Message]:
        return self.prompt_messages(row)

    def chat_tools(self, row: Row) -> list[dict] | None:
        return None  # no tools: the chat template renders the plain prompt


    reflection_behaviours = BEHAVIOURS

    def teacher_reflection(self, row: Row, wrong_response: str, proposal: str | None = None,
                           behaviour: str = "guess", rng: random.Random | None = None) -> str:
        return teacher_reflection(row, wrong_response, self.config.reflection_hint, proposal, behaviour, rng)

    def reflection_behaviour(self, reflection: str) -> str:
        return reflection_behaviour(reflection)

    def validate_row(self, row: object) -> str | None:
        return validate_row(row)

    def read_row(self, row: object) -> Row:
        return read_row(row)


def _load_splits(cfg: CountdownConfig) -> Splits:
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


def _generate(cfg: CountdownConfig, wanted: int) -> list[Row]:
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
    solution = _chain(numbers, [rng.choice("+-*") for _ in numbers[1:]])
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


def _chain(numbers: list[int], ops: list[str]) -> str:
    parts = [str(numbers[0])]
    for op, n in zip(ops, numbers[1:]):
        parts += [op, str(n)]
    return " ".join(parts)


def _is_int(value: object) -> bool:
    return type(value) is int
