"""bfloat16 where the hardware computes it, float32 where it would only emulate it.

Specs ask for bfloat16 (`warm_start.bf16`, the training `bf16`, `evaluation.dtype: bfloat16`) because where it is
native it is about twice as fast: on an Intel Xeon with AVX512-BF16 (2 cores) a SmolLM2-135M warm-start step took
4.6 s against 9.4 s in float32, and vLLM generated 2.2x the tokens/s. Without native bfloat16 (AVX2 only, as on the
AMD EPYC measured here) torch and vLLM emulate it, and the same request costs many times float32:

    python docs/experiments/bf16_cost.py MODEL_DIR    (AMD EPYC, AVX2, 2 cores)
    matmul 512x576 @ 576x1536: float32 22.9 ms, bfloat16 756.9 ms (33x)
    vLLM, 64 SmolLM2 prompts x 32 tokens: float32 137 tokens/s, bfloat16 29 tokens/s (4.7x)

So a request for bfloat16 is honoured only where torch's CPU kernels (oneDNN) or the GPU support it natively;
elsewhere float32 runs, with a warning that says so. Results differ between the two anyway (as they do between
CPUs), and vanilla and trained models are always compared at the same precision.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)


@functools.cache
def native_bf16() -> bool:
    """Whether this machine computes bfloat16 natively: a GPU that supports it, or a CPU on which torch's oneDNN
    kernels run bfloat16 (x86 with AVX-512 or AMX, recent ARM)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN: no fast bfloat16 path
        return False


def _fallback(what: str) -> None:
    log.warning("%s: bfloat16 requested, float32 used: this machine has no native bfloat16 (an AVX2-only CPU "
                "emulates it, 5x to 33x slower than float32; r3_pipeline/precision.py)", what)


def use_bf16(requested: bool, what: str) -> bool:
    """`requested` where this machine computes bfloat16 natively, else False (with a warning naming `what`)."""
    if requested and not native_bf16():
        _fallback(what)
        return False
    return requested


def engine_dtype(dtype: str, what: str = "generation engine") -> str:
    """A generation engine's weight dtype: 'bfloat16' becomes 'float32' where bfloat16 is not native."""
    if dtype == "bfloat16" and not native_bf16():
        _fallback(what)
        return "float32"
    return dtype
