"""GRPO's scoring on CPU: only the completion tokens go through the LM head, as on GPUs.

TRL 1.16 computes the policy's per-token log-probabilities with a chunked LM head (`ChunkedLogProbFunction`, called
from the fused forward in `trl.trainer.utils`). On devices with Triton it scores only the positions that carry a
label, the completion tokens; elsewhere it scores every position of prompt + completion, so that a compiler (Neuron)
sees the same tile shapes every batch. On CPU, in eager mode, there is nothing to recompile, and every position is
the prompt's length over again: R3's prompts hold the task, the failed attempt and the reflection request (about 160
tokens) against a reflection of about 26, so the LM head (SmolLM2: 49,152 x 576) did seven times the work it needs,
forward and in its recomputing backward. Measured on one R3 step of the SmolLM2 recipe (docs/r3_results.md,
"Step time"): 31-35 s before, 19-23 s with this and without gradient checkpointing. The log-probabilities are the
same numbers (tests/test_cpu_scoring.py): the masked positions were discarded anyway.

TRL decides with its private `_use_triton` (used in `trl.trainer.utils` for this choice only); this makes it true for
CPU there, and nowhere else: the kernels module keeps its own and still folds tiles with torch ops on CPU.
"""

from __future__ import annotations

import torch


def score_completion_tokens_only() -> None:
    """Make TRL's fused LM head score only labelled positions on CPU too (idempotent; process-wide)."""
    import trl.trainer.utils as trl_utils

    original = trl_utils._use_triton
    if getattr(original, "r3_compact_on_cpu", False):
        return

    def compact(device: torch.device) -> bool:
        return device.type == "cpu" or original(device)

    compact.r3_compact_on_cpu = True
    trl_utils._use_triton = compact
