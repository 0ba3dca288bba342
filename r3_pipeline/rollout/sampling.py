"""How one turn is sampled (`Sampling`) and what one `generate` may cost (`GenerationLimits`), as plain dataclasses free
of torch: specs hold them and check them when parsed, and the engines in `r3_pipeline.rollout.engines` obey them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sampling:
    temperature: float = field(default=1.0, metadata={"help": "0 means greedy decoding."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generation length bound per turn."})
    seed: int = field(default=0, metadata={"help": "Seed for sampling; the same seed reproduces the same samples."})


@dataclass(frozen=True)
class GenerationLimits:
    max_new_tokens: int = field(default=1024, metadata={
        "help": "Hard cap on Sampling.max_new_tokens; a turn asking for more is rejected, not clamped."})
    max_prompt_tokens: int = field(default=0, metadata={
        "help": "Longest prompt kept; longer ones lose their oldest tokens (reported). 0: only the model's "
                "context bounds it (prompt + max_new_tokens must fit max_position_embeddings)."})
    max_batch_tokens: int = field(default=262144, metadata={
        "help": "Bound on sequences x (longest prompt + max_new_tokens) of one generate() call, the size of its KV "
                "cache in tokens; bigger batches are split. 0: no bound."})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"GenerationLimits.max_new_tokens must be at least 1, got {self.max_new_tokens}")
        for name in ("max_prompt_tokens", "max_batch_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"GenerationLimits.{name} must be 0 (no bound) or positive, got {getattr(self, name)}")

    def check(self, sampling: Sampling) -> None:
        """ValueError when `sampling` asks for longer turns than the cap (call it where a config is parsed)."""
        if sampling.max_new_tokens > self.max_new_tokens:
            raise ValueError(f"Sampling.max_new_tokens={sampling.max_new_tokens} exceeds "
                             f"GenerationLimits.max_new_tokens={self.max_new_tokens}")
