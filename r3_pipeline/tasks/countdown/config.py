"""Countdown's settings: generated or loaded problems, split sizes, seed, prompts and the warm start's hints.

Kept apart from the task so that reading a spec (which checks a task's config keys against this dataclass)
imports no solver, loader or verifier. Every value is checked when the config is built: a bad spec fails with
the field's name before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from r3_pipeline.tasks.countdown.data import GENERATED
from r3_pipeline.tasks.countdown.teacher import HINTS
from r3_pipeline.tasks.countdown.verify import MAX_MAGNITUDE

MAX_COUNT = 6  # the solver's cost grows steeply past this many numbers


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


def _is_int(value: object) -> bool:
    return type(value) is int

