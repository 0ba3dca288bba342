"""Generation engines behind one small interface: token ids in, generated token ids and text out.

`TransformersEngine` batches `model.generate` with left padding. `VLLMEngine` (r3_pipeline.rollout.vllm_engine,
imported only when chosen) implements the same `generate` method, so episodes and training rollouts never depend
on which engine runs; `r3_pipeline.rollout.factory.make_engine` picks one by name ('auto', 'transformers', 'vllm').
Engines may have a `close()` that frees their memory; whoever creates an engine closes it.

`GenerationLimits` (r3_pipeline.rollout.sampling, with `Sampling`) bounds what one `generate` may cost: the turn length, the prompt length (prompts are cut
from the left, and the cut is reported on each `Generation` and in `engine.stats`), and the tokens one
`model.generate` call holds, which is what sizes the KV cache and the activations.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r3_pipeline.rollout.sampling import GenerationLimits, Sampling

log = logging.getLogger(__name__)


@dataclass
class Generation:
    ids: list[int]  # generated tokens, including the end-of-turn token when one was produced
    text: str  # decoded without special tokens
    finished: bool  # False when max_new_tokens cut the turn
    truncated: int = 0  # prompt tokens dropped from the left: the model saw prompt[truncated:]


@dataclass
class EngineStats:
    """Running counts over an engine's lifetime, for an asset's metadata."""

    prompts: int = 0
    truncated_prompts: int = 0
    truncated_tokens: int = 0
    batches: int = 0  # generate() calls
    split_batches: int = 0  # generate() calls beyond what batch_size alone needs, forced by max_batch_tokens
    cached_prompt_tokens: int = 0  # prompt tokens vLLM took from its prefix cache instead of prefilling (vLLM only)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Engine(Protocol):
    tokenizer: PreTrainedTokenizerBase

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]: ...


class TransformersEngine:
    name = "transformers"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64,
                 limits: GenerationLimits | None = None):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.limits = limits or GenerationLimits()
        self.stats = EngineStats()
        self.eos_ids = _eos_ids(model, tokenizer)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        budget = self._prompt_budget(sampling)
        kept = [_keep_last(p, budget) for p in prompts]
        batches = pack_batches([len(p) for p in kept], sampling.max_new_tokens, self.batch_size,
                               self.limits.max_batch_tokens)
        was_training = self.model.training
        self.model.eval()
        result: list[Generation] = [None] * len(prompts)  # type: ignore[list-item]
        try:
            start = 0
            for idx in batches:
                # Seeded by position in length order, as before max_batch_tokens: unsplit runs reproduce.
                torch.manual_seed(sampling.seed + start)
                start += len(idx)
                for i, gen in zip(idx, self._generate_batch([kept[i] for i in idx], sampling)):
                    gen.truncated = len(prompts[i]) - len(kept[i])
                    result[i] = gen
        finally:
            self.model.train(was_training)
        self._count(result, len(batches))
        return result

    def _prompt_budget(self, sampling: Sampling) -> int | None:
        return prompt_budget(self.limits, sampling, getattr(self.model.config, "max_position_embeddings", None))

    def _count(self, gens: list[Generation], batches: int) -> None:
        count_generations(self.stats, gens, batches, batches - math.ceil(len(gens) / self.batch_size))

    def close(self) -> None:
        """Nothing to release beyond what garbage collection frees (the model is the caller's)."""

    def _generate_batch(self, batch: list[list[int]], sampling: Sampling) -> list[Generation]:
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        device = self.model.device
        greedy = sampling.temperature <= 0
        kwargs = dict(do_sample=False) if greedy else dict(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        try:
            seqs = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=sampling.max_new_tokens,
                eos_token_id=self.eos_ids,
                pad_token_id=pad,
                **kwargs,
            )[:, width:].tolist()
        except torch.OutOfMemoryError as exc:
            raise RuntimeError(f"out of accelerator memory generating {len(batch)} sequences x ({width} prompt + "
                               f"{sampling.max_new_tokens} new) tokens; lower GenerationLimits.max_batch_tokens "
                               f"(now {self.limits.max_batch_tokens})") from exc
        return [self._trim(s) for s in seqs]

    def _trim(self, seq: list[int]) -> Generation:
        return trim_generation(seq, self.eos_ids, self.tokenizer)


def trim_generation(seq: list[int], eos_ids: list[int], tokenizer: PreTrainedTokenizerBase) -> Generation:
    """A Generation from generated ids: cut after the first end-of-turn token (finished), else the ids without
    padding (cut by max_new_tokens). Every engine builds its Generations here, so they agree on ids and text."""
    for j, tok in enumerate(seq):
        if tok in eos_ids:
            ids = seq[: j + 1]
            return Generation(ids, tokenizer.decode(ids, skip_special_tokens=True), True)
    ids = [t for t in seq if t != tokenizer.pad_token_id]
    return Generation(ids, tokenizer.decode(ids, skip_special_tokens=True), False)


def pack_batches(lengths: list[int], max_new_tokens: int, batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Prompt indices grouped into generate() calls, shortest prompts first (little padding): at most `batch_size`
    each, and each call's sequences x (its longest prompt + max_new_tokens) within `max_batch_tokens` (0: no bound).

    Raises ValueError, before anything is generated, when one sequence alone exceeds `max_batch_tokens`.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if max_batch_tokens and order and lengths[order[-1]] + max_new_tokens > max_batch_tokens:
        longest = lengths[order[-1]]
        raise ValueError(f"one sequence of {longest} prompt + {max_new_tokens} new tokens = "
                         f"{longest + max_new_tokens} exceeds GenerationLimits.max_batch_tokens={max_batch_tokens}; "
                         f"raise it, or lower max_prompt_tokens or max_new_tokens")
    batches: list[list[int]] = []
    for i in order:
        # Sorted ascending, so prompt i is the widest of the batch it joins.
        cost = (len(batches[-1]) + 1) * (lengths[i] + max_new_tokens) if batches else 0
        if not batches or len(batches[-1]) == batch_size or (max_batch_tokens and cost > max_batch_tokens):
            batches.append([])
        batches[-1].append(i)
    return batches


def prompt_budget(limits: GenerationLimits, sampling: Sampling, context: int | None) -> int | None:
    """Longest prompt a turn of `sampling` may keep (None: no bound): the configured bound, and what the
    model's context of `context` tokens (None: unknown) leaves after the turn. Shared by every engine, so each
    cuts prompts at the same place."""
    limits.check(sampling)
    budgets = [limits.max_prompt_tokens] if limits.max_prompt_tokens else []
    if context:
        if sampling.max_new_tokens >= context:
            raise ValueError(f"Sampling.max_new_tokens={sampling.max_new_tokens} leaves no room for a prompt in "
                             f"the model's context of {context} tokens (max_position_embeddings)")
        budgets.append(context - sampling.max_new_tokens)
    return min(budgets, default=None)


def count_generations(stats: EngineStats, gens: list[Generation], batches: int, split_batches: int) -> None:
    """Add one generate() call's prompts, cuts and batches to `stats`; warn when prompts were cut."""
    cut = [g.truncated for g in gens if g.truncated]
    stats.prompts += len(gens)
    stats.truncated_prompts += len(cut)
    stats.truncated_tokens += sum(cut)
    stats.batches += batches
    stats.split_batches += split_batches
    if cut:
        log.warning("truncated %d of %d prompts from the left (up to %d tokens) to fit generation limits",
                    len(cut), len(gens), max(cut))


def _keep_last(ids: list[int], budget: int | None) -> list[int]:
    # Cut from the left: the end of a chat prompt holds the generation prompt and the latest turn, which the
    # model must continue; a right cut would lose the assistant header. The oldest context is what goes.
    return ids if budget is None or len(ids) <= budget else ids[-budget:]


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    return eos_token_ids(tokenizer, model.generation_config)


def eos_token_ids(tokenizer: PreTrainedTokenizerBase, generation_config=None) -> list[int]:
    """The tokens that end a turn: the tokenizer's eos and the model's generation config eos ids."""
    ids = getattr(generation_config, "eos_token_id", None)
    ids = [] if ids is None else ids if isinstance(ids, list) else [ids]
    return sorted({tokenizer.eos_token_id, *ids} - {None})
