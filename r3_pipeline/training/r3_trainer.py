"""The R3 trainer: TRL's GRPOTrainer with a rollout that reflects and retries, rewarding only the reflection.

Each training prompt is a failed attempt followed by the reflection request (from the failure set). The rollout
samples a group of reflections per prompt, lets the model retry with each reflection in context, and verifies
the retry. The completion handed to GRPO is the reflection alone: the first attempt is in the prompt, and the
retry, which carries no advantage, is left out, since a causal model's log-probabilities of the reflection do not
depend on what follows it (`completion_retry` restores the `reflection + retry turn` layout with the retry masked
by `env_mask`; tests/test_r3_trainer.py proves loss and gradients equal). The reward is the retry's binary verdict
(`reflection_reward`). With `lora_r` > 0 TRL trains a LoRA adapter and the KL reference is the adapter-disabled
base model. With `anchor_coef` > 0 a KL term holds the first attempt the prompts contain (r3_pipeline.training.anchor).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import torch
from accelerate.utils import is_peft_model
from trl import GRPOTrainer
from trl.trainer.utils import use_adapter

from r3_pipeline.rollout.conversation import first_turn, reflect_and_retry, reflection_conversation, render
from r3_pipeline.rollout.engines import Generation, Sampling
from r3_pipeline.rollout.episodes import Episode
from r3_pipeline.tasks.base import Message, Row, Task, Verdict
from r3_pipeline.training.anchor import anchor_batch, attempt_span, token_kl
from r3_pipeline.training.cpu_scoring import score_completion_tokens_only
from r3_pipeline.training.r3_config import R3Config
from r3_pipeline.training.vllm_colocate import colocated_vllm, rollout_engine


MINED_FAILURE = "mined_failure"  # the first attempt's reason in stored training episodes: from the failure set


def reflection_reward(completions, retry_correct, **_) -> list[float]:
    """Binary reward: 1 when the retry that followed the reflection verified correct."""
    return [1.0 if ok else 0.0 for ok in retry_correct]


@dataclass
class RolloutResult:
    """What one rollout produced, for the trajectory store and logging: per sequence, the row, the prompt (the
    failed attempt and the reflection request), the reflection, the retry and the retry's verdict."""

    rows: list[Row]
    prompts: list[list[Message]]
    reflection_generations: list[Generation]
    retry_generations: list[Generation]
    verdicts: list[Verdict]
    step: int
    offset: int = 0  # position of this process's first sequence in the step's batch across processes

    @property
    def reflections(self) -> list[str]:
        return [g.text for g in self.reflection_generations]

    @property
    def reflection_tokens(self) -> list[int]:
        return [len(g.ids) for g in self.reflection_generations]

    @property
    def retries(self) -> list[str]:
        return [g.text for g in self.retry_generations]

    @property
    def retry_correct(self) -> list[bool]:
        return [v.correct for v in self.verdicts]

    @property
    def retry_reasons(self) -> list[str]:
        return [v.reason for v in self.verdicts]

    def episodes(self, task: Task, tokenizer) -> list[Episode]:
        """The rollout as R3 episodes whose first attempt is the mined failure, stored like every other stage's."""
        now = datetime.now(timezone.utc)
        out = []
        for i, (row, prompt) in enumerate(zip(self.rows, self.prompts)):
            first_ids = render(tokenizer, prompt[:-2], first_turn(task, row, tokenizer)[1])
            out.append(Episode(row=row, sample_idx=self.offset + i, prompt=tokenizer.decode(first_ids),
                               prompt_tokens=len(first_ids),
                               first=Generation([], prompt[-2]["content"], True),
                               first_verdict=Verdict(False, MINED_FAILURE), reflection=self.reflection_generations[i],
                               retry=self.retry_generations[i], retry_verdict=self.verdicts[i], started_at=now,
                               finished_at=now))
        return out


def failure_prompt(task: Task, row: Row, failed_attempt: str, tokenizer) -> list[Message]:
    return reflection_conversation(task, first_turn(task, row, tokenizer)[0], failed_attempt)


def prompt_key(prompt: list[Message]) -> str:
    return json.dumps(prompt, sort_keys=True)


def make_r3_rollout(task: Task, rows_by_prompt: dict[str, Row], args: R3Config,
                    on_rollout: Callable[[RolloutResult], None] | None = None):
    """Build the `rollout_func` for GRPOTrainer. TRL passes each prompt `num_generations` times already."""

    def rollout(prompts: list[list[Message]], trainer) -> dict:
        tok = trainer.processing_class
        engine = rollout_engine(trainer, args)  # over TRL's colocated vLLM with use_vllm, else over the policy
        # Each process samples its own slice of the batch; a prompt's copies may sit on several processes, which
        # must not draw the same reflections, so the seed is distinct per (step, process) (unchanged with one).
        rank, ranks = trainer.accelerator.process_index, trainer.accelerator.num_processes
        seed = args.seed + 7919 * ((trainer.state.global_step + 1) * ranks + rank)
        rows = [rows_by_prompt[prompt_key(p)] for p in prompts]
        tools = [first_turn(task, row, tok)[1] for row in rows]
        # The second half of an R3 episode, as mining and evaluation run it (each prompt is a failed attempt
        # followed by the reflection request).
        second = reflect_and_retry(task, engine, rows, prompts, tools,
                                   Sampling(args.reflection_temperature, 1.0, args.max_reflection_tokens, seed),
                                   Sampling(args.retry_temperature, 1.0, args.max_retry_tokens, seed + 1))
        prompt_ids, reflections, retry_ids, retries = (second.reflection_prompts, second.reflections,
                                                       second.retry_prompts, second.retries)
        if any(g.truncated for g in (*reflections, *retries)):
            # TRL scores the completion against the full prompt ids; a cut prompt would train on a context
            # the model never saw.
            raise ValueError("an R3 training prompt exceeds the model's context (max_position_embeddings): "
                             "lower max_reflection_tokens/max_retry_tokens or use shorter prompts")
        if args.anchor_coef:
            for p_ids, prompt, t in zip(prompt_ids, prompts, tools):
                if tuple(p_ids) not in trainer.anchor_spans:
                    trainer.anchor_spans[tuple(p_ids)] = attempt_span(p_ids, render(tok, prompt[:-2], t), tok.eos_token_id)
        verdicts = second.verdicts
        completion_ids, env_mask = [], []
        for p_ids, refl, r_ids, retry in zip(prompt_ids, reflections, retry_ids, retries):
            masked = _bridge(tok, p_ids, refl.ids, r_ids) + retry.ids if args.completion_retry else []
            completion_ids.append(refl.ids + masked)
            env_mask.append([1] * len(refl.ids) + [0] * len(masked))
        success = [v.correct for v in verdicts]
        n, correct, tokens = _summed_over_processes(trainer, [len(success), sum(success),
                                                              sum(len(r.ids) for r in reflections)])
        trainer.record_metric("r3/retry_success", correct / n)
        trainer.record_metric("r3/reflection_tokens", tokens / n)
        if on_rollout:
            on_rollout(RolloutResult(rows, prompts, reflections, retries, verdicts, trainer.state.global_step,
                                     offset=rank * len(prompts)))
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None,
                "env_mask": env_mask, "retry_correct": success}

    return rollout


def _summed_over_processes(trainer, values: list[float]) -> list[float]:
    """`values` summed over the training processes (all roll out in lockstep), so the logged rollout metrics cover
    the whole batch and not only the main process's slice."""
    if trainer.accelerator.num_processes == 1:
        return values
    import torch

    local = torch.tensor(values, dtype=torch.float64, device=trainer.accelerator.device)
    return trainer.accelerator.reduce(local, reduction="sum").tolist()


def _bridge(tok, prompt_ids: list[int], reflection_ids: list[int], retry_prompt_ids: list[int]) -> list[int]:
    """Tokens between the reflection and the retry: end of turn, the retry request, the assistant header.

    Cut from the rendered retry prompt at the end-of-turn token that closes the reflection, so they match the
    chat template even when re-tokenising the reflection text would not reproduce the sampled ids.
    """
    eos = tok.eos_token_id
    tail = retry_prompt_ids[len(prompt_ids):]
    bridge = tail[tail.index(eos):] if eos in tail else tail
    return bridge[1:] if reflection_ids[-1:] == [eos] else bridge


class R3Trainer(GRPOTrainer):
    """GRPOTrainer wired for R3: `failures` are (row, failed attempt) pairs from failure mining.

    The rollout's own metrics (retry success, reflection length) are averaged over the steps since the last log and
    added to it in `log`, Trainer's public hook, so they reach every logger beside TRL's (as `r3/...`)."""

    def __init__(self, model, args: R3Config, task: Task, failures: list[tuple[Row, str]], processing_class,
                 on_rollout: Callable[[RolloutResult], None] | None = None, callbacks=None):
        from datasets import Dataset

        prompts = [failure_prompt(task, row, attempt, processing_class) for row, attempt in failures]
        rows_by_prompt = {prompt_key(p): row for p, (row, _) in zip(prompts, failures)}
        dataset = Dataset.from_list([{"prompt": p} for p in prompts])
        score_completion_tokens_only()  # on CPU TRL would score the prompt's positions too
        with colocated_vllm(self, args, model):  # with use_vllm: what TRL's colocated vLLM needs (CPU, LoRA)
            super().__init__(model=model, reward_funcs=[reflection_reward], args=args, train_dataset=dataset,
                             processing_class=processing_class, callbacks=callbacks, peft_config=args.peft_config(),
                             rollout_func=make_r3_rollout(task, rows_by_prompt, args, on_rollout))
        self.r3_metrics: dict[str, list[float]] = {}
        self.anchor_spans: dict[tuple[int, ...], tuple[int, int]] = {}  # prompt ids -> its first attempt's span

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)
        if not self.args.anchor_coef:
            return loss
        kl = self.anchor_kl(model, inputs["prompt_ids"], inputs["prompt_mask"])
        self.record_metric("r3/anchor_kl", kl.item())
        return loss + self.args.anchor_coef * kl

    def anchor_kl(self, model, prompt_ids, prompt_mask):
        """The first-attempt anchor over the distinct prompts of a batch (each comes num_generations times)."""
        prompts = list(dict.fromkeys(tuple(ids[m.bool()].tolist()) for ids, m in zip(prompt_ids, prompt_mask)))
        ids, attention, loss_mask = anchor_batch(prompts, [self.anchor_spans[p] for p in prompts],
                                                 self.processing_class.pad_token_id)
        ids, attention, loss_mask = (t.to(prompt_ids.device) for t in (ids, attention, loss_mask))
        policy = model(input_ids=ids, attention_mask=attention).logits
        with torch.no_grad():
            unwrapped = self.accelerator.unwrap_model(model)
            if is_peft_model(unwrapped):  # the reference TRL's KL uses: the base, adapter disabled
                with use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None):
                    reference = model(input_ids=ids, attention_mask=attention).logits
            else:
                reference = self.ref_model(input_ids=ids, attention_mask=attention).logits
        return token_kl(policy, reference, loss_mask)

    def record_metric(self, name: str, value: float) -> None:
        """Keep `value` for the next log, which reports the mean of the values recorded since the last one."""
        self.r3_metrics.setdefault(name, []).append(value)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model.training and self.r3_metrics:
            logs = {**logs, **{name: sum(v) / len(v) for name, v in self.r3_metrics.items()}}
            self.r3_metrics = {}
        super().log(logs, start_time)
