"""Generation engines behind one small interface: token ids in, generated token ids and text out.

`TransformersEngine` batches `model.generate` with left padding. Other engines (vLLM) implement the same
`generate` method, so episodes and training rollouts never depend on which engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Sampling:
    temperature: float = field(default=1.0, metadata={"help": "0 means greedy decoding."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generation length bound per turn."})
    seed: int = field(default=0, metadata={"help": "Seed for sampling; the same seed reproduces the same samples."})


@dataclass
class Generation:
    ids: list[int]  # generated tokens, including the end-of-turn token when one was produced
    text: str  # decoded without special tokens
    finished: bool  # False when max_new_tokens cut the turn


class Engine(Protocol):
    tokenizer: PreTrainedTokenizerBase

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]: ...


class TransformersEngine:
    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.eos_ids = _eos_ids(model, tokenizer)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        was_training = self.model.training
        self.model.eval()
        out: list[Generation] = []
        # Sort by length so batches carry little padding; restore order at the end.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            torch.manual_seed(sampling.seed + start)
            out.extend(self._generate_batch([prompts[i] for i in idx], sampling))
        if was_training:
            self.model.train()
        result: list[Generation] = [None] * len(prompts)  # type: ignore[list-item]
        for pos, i in enumerate(order):
            result[i] = out[pos]
        return result

    def _generate_batch(self, batch: list[list[int]], sampling: Sampling) -> list[Generation]:
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        device = self.model.device
        greedy = sampling.temperature <= 0
        kwargs = dict(do_sample=False) if greedy else dict(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        seqs = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=self.eos_ids,
            pad_token_id=pad,
            **kwargs,
        )[:, width:].tolist()
        return [self._trim(s) for s in seqs]

    def _trim(self, seq: list[int]) -> Generation:
        for j, tok in enumerate(seq):
            if tok in self.eos_ids:
                ids = seq[: j + 1]
                return Generation(ids, self.tokenizer.decode(ids, skip_special_tokens=True), True)
        ids = [t for t in seq if t != self.tokenizer.pad_token_id]
        return Generation(ids, self.tokenizer.decode(ids, skip_special_tokens=True), False)


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else ids if isinstance(ids, list) else [ids]
    return sorted({tokenizer.eos_token_id, *ids})
