"""Function calling's settings: synthetic or real data (xLAM files, hub ids, BFCL question files), sizes, seed,
prompts and the warm start's hint.

Kept apart from the task so that reading a spec (which checks a task's config keys against this dataclass)
imports no loader, generator or verifier. Every value is checked when the config is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SYNTHETIC = "synthetic"
BFCL_SOURCE = "bfcl:"  # a source naming BFCL categories of the bfcl-eval wheel (bfcl_package)


@dataclass
class FunctionCallingConfig:
    """Settings for building function-calling rows (synthetic or real xLAM data)."""

    seed: int = field(default=0, metadata={"help": "Random seed for generation and splitting; same seed, same splits."})
    source: str = field(default=SYNTHETIC, metadata={
        "help": "'synthetic' for generated rows, else a local .json/.jsonl/.parquet file or a hub dataset id "
                "(e.g. Salesforce/xlam-function-calling-60k) in the xLAM format, or a BFCL question file "
                "(e.g. BFCL_v4_simple_python.json, with answers_path), or 'bfcl:' and BFCL categories read from the "
                "installed bfcl-eval package (e.g. 'bfcl:simple_python,multiple,irrelevance')."})
    answers_path: str | None = field(default=None, metadata={
        "help": "BFCL possible_answer file (JSON lines) for BFCL question rows in source / train_path / test_path, "
                "joined by id; rows may instead carry their own ground_truth."})
    train_path: str | None = field(default=None, metadata={
        "help": "User-provided train split file (xLAM format); needs test_path too, and then replaces source."})
    test_path: str | None = field(default=None, metadata={"help": "User-provided test split file (xLAM format)."})
    split: str = field(default="train", metadata={"help": "Hub split to load when source is a hub id."})
    num_train: int = field(default=2000, metadata={
        "help": "Synthetic: number of train rows. Real data: at most this many train rows are kept."})
    num_test: int = field(default=300, metadata={
        "help": "Synthetic: number of test rows (disjoint queries). Real data: at most this many test rows."})
    test_fraction: float = field(default=0.1, metadata={
        "help": "Real data without split files: share of rows sent to test, by a seeded hash of the row id."})
    parallel_fraction: float = field(default=0.25, metadata={
        "help": "Synthetic: share of queries that need two parallel calls."})
    max_candidate_tools: int = field(default=4, metadata={
        "help": "Synthetic: most tools offered per query (called tools plus distractors; the called tools are "
                "always offered, even when there are more of them); at least 1."})
    holdout_tools: int = field(default=0, metadata={
        "help": "Synthetic: number of tools kept out of train entirely (they can appear in test)."})
    max_reject_rate: float = field(default=0.05, metadata={
        "help": "Largest acceptable share of rejected (invalid) rows; checked by the pipeline's asset check."})
    prompts_path: str | None = field(default=None, metadata={
        "help": "Prompt YAML to use instead of assets/prompts/function_calling.yaml "
                "(assets/prompts/function_calling_compact.yaml suits the tiny embedded model)."})
    native_tools: bool = field(default=True, metadata={
        "help": "When the tokenizer's chat template supports tools, pass the tools through it (see "
                "FunctionCallingTask.native_tool_schemas) instead of only in the prompt text."})

    reflection_hint: str = field(default="words", metadata={"help": (
        "Warm start of the embedded default only: how the teacher reflection proposes the right calls. 'words': "
        "\"Call get_weather with city=Paris.\"; 'calls': the calls in the answer format, which the retry can "
        "copy (see docs/r3_results.md).")})

    def __post_init__(self) -> None:
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"invalid FunctionCallingConfig: {problem}")


def _config_problem(cfg: FunctionCallingConfig) -> str | None:
    for name in ("seed", "num_train", "num_test", "max_candidate_tools", "holdout_tools"):
        if type(getattr(cfg, name)) is not int:
            return f"{name} must be an int, got {getattr(cfg, name)!r}"
    if cfg.num_train < 0 or cfg.num_test < 0 or cfg.holdout_tools < 0 or cfg.max_candidate_tools < 1:
        return "num_train, num_test and holdout_tools must be >= 0, max_candidate_tools >= 1"
    for name in ("test_fraction", "parallel_fraction", "max_reject_rate"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            return f"{name} must be a number in [0, 1], got {value!r}"
    if not isinstance(cfg.source, str) or not cfg.source:
        return "source must be 'synthetic' or a path / hub id"
    if (cfg.train_path is None) != (cfg.test_path is None):
        return "train_path and test_path must be given together"
    for name in ("train_path", "test_path", "prompts_path", "answers_path"):
        if getattr(cfg, name) is not None and not isinstance(getattr(cfg, name), str):
            return f"{name} must be a string or None"
    if cfg.reflection_hint not in ("words", "calls"):
        return f"reflection_hint must be 'words' or 'calls', got {cfg.reflection_hint!r}"
    if not isinstance(cfg.split, str) or not isinstance(cfg.native_tools, bool):
        return "split must be a string and native_tools a bool"
    if cfg.source.startswith(BFCL_SOURCE) and (cfg.answers_path is not None or cfg.train_path is not None):
        return "a 'bfcl:' source brings its own answers and splits: leave answers_path and train_path unset"
    if cfg.holdout_tools and (cfg.source != SYNTHETIC or cfg.train_path is not None):
        return "holdout_tools applies to synthetic data only"
    return None

