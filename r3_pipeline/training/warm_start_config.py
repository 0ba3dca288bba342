"""The warm start's settings as a plain dataclass free of torch, so a spec can be parsed (and the Dagster definitions
loaded) without the training code; `r3_pipeline.training.warm_start` (whose docstring explains the conversations)
runs it."""

from __future__ import annotations

from dataclasses import dataclass, field

PROPOSALS = ("answer", "random")
GENERIC = "generic"  # the task-independent vague reflection, a behaviour of every task


@dataclass
class WarmStartConfig:
    num_rows: int = field(default=4000, metadata={"help": "Train rows reserved for the warm start (the rest feed R3)."})
    failure_fraction: float = field(default=0.25, metadata={"help": "Share of conversations with a failed attempt, a reflection and a retry."})
    follow_fraction: float = field(default=0.0, metadata={"help": (
        "Share of conversations whose reflection proposes a different, random answer that the retry then gives "
        "(only the retry is trained). Teaches the retry to carry out what the reflection proposes, which the "
        "tiny model otherwise does not generalize beyond the train rows it memorizes; without it R3 has "
        "nothing to reward.")})
    reflection_proposal: str = field(default="answer", metadata={"help": (
        "What the reflections of failure conversations propose: 'answer' (the reference answer, so the vanilla "
        "model already reflects with the answer's knowledge) or 'random' (another wrong answer that the retry then "
        "gives: the warm start teaches the reflection's form and that the retry follows it, and leaves which "
        "answer to propose to R3, as for a real model never trained on the task's reflections).")})
    behaviours: dict = field(default_factory=dict, metadata={"help": (
        "Shares of the reflection behaviours in failure conversations, summing to 1, e.g. {search: 0.15, guess: "
        "0.45, restate: 0.4}: the vanilla model's mixture, of which R3 must find the behaviour that pays from the "
        "retry's verdict alone. Names are the task's `reflection_behaviours` (Countdown: search, guess, restate; "
        "function calling: check, guess, restate) or 'generic' (a vague reflection of any task, after which the "
        "retry answers afresh). Empty: every reflection is a `guess`.")})
    practice: dict = field(default_factory=dict, metadata={"help": (
        "Shares of all conversations in which the reflection request asks for a behaviour by name (the task's "
        "`practice_<behaviour>` prompt), e.g. {search: 0.15}: the vanilla model learns to carry the behaviour out "
        "well when asked, while `behaviours` sets how often it shows it unasked, which is what R3 can change. "
        "A real instruct model likewise can do more than it does by default.")})
    max_steps: int = field(default=3000, metadata={"help": "Optimizer steps: the warm start's budget."})
    max_minutes: float = field(default=0.0, metadata={"help": (
        "Optional wall-clock cap (0: none), ending the warm start early and shortening its learning-rate "
        "schedule. A cap makes the model depend on how busy the machine is, so shipped specs bound steps only.")})
    threads: int = field(default=2, metadata={"help": (
        "Torch threads during the warm start. Fixed, because floating-point sums depend on the thread count: "
        "the same seed gives the same model on any machine only at the same count.")})
    bf16: bool = field(default=False, metadata={"help": (
        "Autocast matmuls to bfloat16 (weights and optimizer stay float32). On a CPU with AVX512-BF16 a SmolLM2-135M "
        "step ran about 2x faster (4.6 s against 9.4 s for 8 x 160 tokens, 2 cores); the embedded default is too "
        "small to gain. Only where bfloat16 is native: elsewhere (AVX2-only CPUs) float32 runs, with a warning "
        "(r3_pipeline/precision.py).")})
    batch_size: int = field(default=32, metadata={"help": "Conversations per optimizer step."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Peak AdamW learning rate (cosine decay over the step estimate)."})
    seed: int = field(default=0, metadata={"help": "Seed for conversation sampling and batching."})

    def __post_init__(self) -> None:
        fractions = (self.failure_fraction, self.follow_fraction, *self.practice.values())
        if not all(isinstance(f, (int, float)) and 0 <= f <= 1 for f in fractions) or sum(fractions) > 1:
            raise ValueError("WarmStartConfig: failure_fraction, follow_fraction and the practice shares must be in "
                             f"[0, 1] and sum to at most 1, got {self.failure_fraction}, {self.follow_fraction} and "
                             f"{self.practice}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"WarmStartConfig: threads must be an int >= 1, got {self.threads!r}")
        shares = list(self.behaviours.values())
        if shares and (not all(isinstance(v, (int, float)) and v >= 0 for v in shares) or abs(sum(shares) - 1) > 1e-6):
            raise ValueError(f"WarmStartConfig: behaviours must be non-negative shares summing to 1, got {self.behaviours}")
        if self.reflection_proposal not in PROPOSALS:
            raise ValueError(f"WarmStartConfig: reflection_proposal must be one of {PROPOSALS}, got {self.reflection_proposal!r}")
