"""Warm start of the embedded default: supervised training that stands in for a real model's instruction tuning.

The tiny model learns (a) the task format, solving some but not all tasks, (b) to answer a reflection request
with text, and (c) to retry with the conversation in context. Conversations are built only from train rows;
the held-out test rows are never passed here. In failure conversations the wrong first attempt is context
only (no loss). In "follow" conversations (`follow_fraction`) the reflection proposes another answer and the
retry is trained to give it, right or wrong: that is the instruction-following a real model brings, and
without it the tiny model's retry ignores its reflection on rows it has not memorized. The reflections of
failure conversations propose the reference answer, or with `reflection_proposal: random` another wrong one
(docs/r3_results.md, section 4, measures both). `behaviours` mixes the reflection behaviours of failure
conversations (the task's own, e.g. Countdown's search / guess / restate, and `generic` texts that neither say
what was wrong nor propose anything: sections 6 and 7), and `practice` conversations ask for one behaviour by
name, so the vanilla model can carry it out while it shows it unasked only at its `behaviours` share.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
from r3_pipeline.models.loading import save_model
from r3_pipeline.models.tokenizer import train_tokenizer
from r3_pipeline.precision import use_bf16
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.conversation import reflection_conversation, retry_conversation
from r3_pipeline.tasks.base import Message, Row, Task
from r3_pipeline.training.warm_start_config import GENERIC, WarmStartConfig

log = logging.getLogger(__name__)

# The vague reflections untrained models often write; task-independent, and never a hint at any answer.
GENERIC_REFLECTIONS = (
    "I made a mistake. I need to check my work more carefully and try again.",
    "Something went wrong in my answer. I should think about the problem again step by step.",
    "My answer was not right. I will be more careful this time and go over each step.",
    "I think I made an error somewhere. Let me reconsider the problem and answer again.",
)


def warm_start_conversations(task: Task, rows: list[Row], cfg: WarmStartConfig) -> list[tuple[list[Message], list[bool]]]:
    """Conversations with a per-message flag saying whether an assistant message is trained."""
    rng = random.Random(cfg.seed)
    # A stream of its own, so the behaviour mixture leaves every other draw as it was.
    style_rng = random.Random(f"generic-{cfg.seed}")
    names, shares = zip(*cfg.behaviours.items()) if cfg.behaviours else (("guess",), (1.0,))
    unknown = (set(names) - {*task.reflection_behaviours, GENERIC}) | (set(cfg.practice) - set(task.reflection_behaviours))
    if unknown:
        raise ValueError(f"warm start: unknown reflection behaviour(s) {sorted(unknown)} for task {task.name}; "
                         f"known: {', '.join([*task.reflection_behaviours, GENERIC])}")
    out = []
    for row in rows:
        ask = task.prompt_messages(row)
        answer = {"role": "assistant", "content": task.reference_response(row)}
        draw = rng.random()
        practised = _practised(cfg, draw - cfg.failure_fraction - cfg.follow_fraction)
        if practised:
            wrong = task.corrupt_response(row, rng)
            reflection = task.teacher_reflection(row, wrong, behaviour=practised, rng=style_rng)
            out.append(_retried(task, ask, wrong, task.practice_prompt(practised), reflection, answer, True))
            continue
        if draw >= cfg.failure_fraction + cfg.follow_fraction:
            out.append(([*ask, answer], [False] * len(ask) + [True]))
            continue
        wrong = task.corrupt_response(row, rng)
        follow = draw >= cfg.failure_fraction
        # A follow conversation proposes another wrong answer: the reflection is context, the retry gives it.
        # With reflection_proposal "random" failure conversations do too, and their reflection is trained.
        proposal = task.corrupt_response(row, rng) if follow or cfg.reflection_proposal == "random" else None
        behaviour = "guess" if follow else style_rng.choices(names, shares)[0]
        if behaviour == GENERIC:
            reflection = style_rng.choice(GENERIC_REFLECTIONS)
        else:
            proposal = proposal if behaviour == "guess" else None
            reflection = task.teacher_reflection(row, wrong, proposal, behaviour=behaviour, rng=style_rng)
        retry = {"role": "assistant", "content": proposal} if proposal else answer
        out.append(_retried(task, ask, wrong, task.reflection_prompt(), reflection, retry, not follow))
    return out


def _retried(task: Task, ask: list[Message], wrong: str, request: str, reflection: str, retry: Message,
             train_reflection: bool) -> tuple[list[Message], list[bool]]:
    """A failed attempt, the reflection `request`, the reflection and the retry; the retry is always trained."""
    msgs = [*retry_conversation(task, reflection_conversation(task, ask, wrong, request), reflection), retry]
    return msgs, [False] * len(ask) + [False, False, train_reflection, False, True]


def _practised(cfg: WarmStartConfig, draw: float) -> str | None:
    """The behaviour a conversation practises on request, when `draw` (past the failure and follow shares)
    falls in one of the practice shares."""
    if draw < 0:
        return None
    for behaviour, share in cfg.practice.items():
        if draw < share:
            return behaviour
        draw -= share
    return None


def _corpus_text(messages: list[Message]) -> str:
    return "".join(f"{m['role']}\n{m['content']}\n" for m in messages)


def tokenize_conversation(tokenizer, messages: list[Message], trained: list[bool]) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 where no loss) for a conversation, via the tokenizer's chat template."""
    ids: list[int] = []
    labels: list[int] = []
    prev = ""
    for i, (msg, train) in enumerate(zip(messages, trained)):
        header = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if train else None
        full = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if train and header.startswith(prev):
            head_ids = tokenizer(header[len(prev):], add_special_tokens=False)["input_ids"]
            body_ids = tokenizer(full[len(header):], add_special_tokens=False)["input_ids"]
            ids += head_ids + body_ids
            labels += [-100] * len(head_ids) + body_ids
        else:
            seg = tokenizer(full[len(prev):], add_special_tokens=False)["input_ids"]
            ids += seg
            labels += [-100] * len(seg)
        prev = full
    return ids, labels


def train_embedded_model(task: Task, rows: list[Row], model_cfg: EmbeddedModelConfig, cfg: WarmStartConfig,
                         out_dir: str | Path) -> dict:
    """Build tokenizer and model from the train rows, run the warm start, save to `out_dir`. Returns stats."""
    convs = warm_start_conversations(task, rows, cfg)
    # Rendered conversations, so role names and template text get tokens of their own.
    corpus = (_corpus_text(msgs) for msgs, _ in convs)
    tokenizer = train_tokenizer(corpus, model_cfg.vocab_size)
    model = build_embedded_model(model_cfg, tokenizer)
    stats = warm_start(model, tokenizer, task, rows, cfg, model_cfg.max_positions, convs)
    save_model(model, tokenizer, out_dir)
    return {**stats, "vocab_size": len(tokenizer)}


def adapt_pretrained(task: Task, rows: list[Row], cfg: WarmStartConfig, source: str, out_dir: str | Path) -> dict:
    """The same warm start on a pretrained model (from a directory or hub id), saved to `out_dir`: teaches a real
    model that cannot produce the task's answer format the format and the attempt/reflect/retry conversation."""
    from r3_pipeline.models.loading import load_model

    model, tokenizer = load_model(source, dtype="float32")
    stats = warm_start(model, tokenizer, task, rows, cfg, model.config.max_position_embeddings)
    save_model(model, tokenizer, out_dir)
    return stats


def warm_start(model, tokenizer, task: Task, rows: list[Row], cfg: WarmStartConfig, max_positions: int,
               first_epoch: list[tuple[list[Message], list[bool]]] | None = None) -> dict:
    """Supervised training of `model` in place on warm-start conversations of `rows`. Returns stats."""
    convs = first_epoch or warm_start_conversations(task, rows, cfg)
    dropped = [0]

    def epoch(k: int) -> list[tuple[list[int], list[int]]]:
        # Each epoch draws its conversations afresh (kinds, wrong attempts, proposals): over many epochs the tiny
        # model would otherwise memorize each fixed conversation instead of learning to follow its reflection.
        epoch_convs = convs if k == 0 else warm_start_conversations(task, rows, replace(cfg, seed=cfg.seed + k))
        examples = [tokenize_conversation(tokenizer, m, t) for m, t in epoch_convs]
        kept = [e for e in examples if len(e[0]) <= max_positions]
        if k == 0:
            dropped[0] = len(examples) - len(kept)
        return kept

    stats = _sft(model, tokenizer.pad_token_id, epoch, cfg)
    return {**stats, "parameters": sum(p.numel() for p in model.parameters()), "conversations": len(convs),
            "dropped_too_long": dropped[0]}


def _sft(model, pad_id: int, epoch: Callable[[int], list[tuple[list[int], list[int]]]], cfg: WarmStartConfig) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    cfg = replace(cfg, bf16=use_bf16(cfg.bf16, "warm start"))
    try:
        return {**_sft_steps(model, pad_id, epoch, cfg), "bf16": cfg.bf16}
    finally:
        torch.set_num_threads(threads)


def _sft_steps(model, pad_id: int, epoch: Callable[[int], list[tuple[list[int], list[int]]]], cfg: WarmStartConfig) -> dict:
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01, betas=(0.9, 0.98))
    model.train()
    start, step, losses, epochs = time.monotonic(), 0, [], 0
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    est_steps = cfg.max_steps  # with a wall-clock cap, refined after the first steps from the measured speed
    batches: list[list[tuple[list[int], list[int]]]] = []
    progress = Progress("warm start", cfg.max_steps, "steps")
    while step < cfg.max_steps and time.monotonic() - start < budget_s:
        if not batches:
            examples = epoch(epochs)
            epochs += 1
            order = _length_bucketed(examples, cfg.batch_size, rng)
            batches = [[examples[i] for i in order[j : j + cfg.batch_size]] for j in range(0, len(order), cfg.batch_size)]
        batch = batches.pop(0)
        if step == 20 and budget_s < math.inf:
            est_steps = min(cfg.max_steps, int(budget_s / ((time.monotonic() - start) / 20)))
        lr = cfg.learning_rate * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(est_steps, 1))))
        for group in opt.param_groups:
            group["lr"] = max(lr, cfg.learning_rate * 0.05)
        loss = backward(model, batch, pad_id, cfg.bf16)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss)
        step += 1
        recent = losses[-20:]
        progress.update(step, loss=sum(recent) / len(recent))
    tail = losses[-50:] or [float("nan")]
    model.eval()
    return {"steps": step, "epochs": epochs, "seconds": round(time.monotonic() - start, 1),
            "final_loss": sum(tail) / len(tail)}


# Logits of one forward, in elements (conversations x tokens x vocabulary), a proxy for its memory: activations and
# the loss's float32 copies of the logits grow with the tokens too. At 2**28 SmolLM2 (49,152-token vocabulary) takes
# at most 5,461 tokens a pass, about 11 GB; its Countdown batches (8 x about 300 tokens) stay in one pass.
LOGIT_BUDGET = 2**28


def backward(model, batch: list[tuple[list[int], list[int]]], pad_id: int, bf16: bool,
             logit_budget: int = LOGIT_BUDGET) -> float:
    """Forward and backward of one batch of (input ids, labels); returns the loss, the mean over its labelled
    tokens. A batch whose logits would pass `logit_budget` (long prompts, as BFCL's tool lists make them) goes
    through in slices, each loss weighted by its share of the labelled tokens: the same gradient in bounded
    memory. A batch within the budget takes the single pass it always took, so warm starts stay bit for bit."""
    vocab = model.get_output_embeddings().weight.shape[0]
    per_slice = max(1, logit_budget // (max(len(ids) for ids, _ in batch) * vocab))
    if per_slice >= len(batch):
        return _pass(model, batch, pad_id, bf16)
    labelled = [sum(x != -100 for x in lab[1:]) for _, lab in batch]
    total = sum(labelled)
    loss = 0.0
    for i in range(0, len(batch), per_slice):
        share = sum(labelled[i : i + per_slice]) / total
        if share:  # a slice with nothing trained has no mean loss (0/0) and no gradient
            loss += _pass(model, batch[i : i + per_slice], pad_id, bf16, share)
    return loss


def _pass(model, part: list[tuple[list[int], list[int]]], pad_id: int, bf16: bool, weight: float = 1.0) -> float:
    """One padded forward and backward of `part`, its mean loss scaled by `weight` (1: untouched); returns it."""
    width = max(len(ids) for ids, _ in part)
    input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in part])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in part])
    attention = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in part])[:, None]).long()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
    if weight != 1.0:
        loss = loss * weight
    loss.backward()
    return loss.item()


def _length_bucketed(examples, batch_size: int, rng: random.Random) -> list[int]:
    """A shuffled epoch in which each run of `batch_size` indices has similar lengths (padding costs CPU time)."""
    perm = rng.sample(range(len(examples)), len(examples))
    window = batch_size * 16
    batches = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start : start + window], key=lambda i: len(examples[i][0]))
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [i for b in batches for i in b]
