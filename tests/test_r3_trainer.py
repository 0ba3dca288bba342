"""The R3 trainer's contract, checked on a real TRL GRPOTrainer with a tiny model:
the rollout returns one completion per prompt TRL hands it, only reflection tokens carry advantage and
gradient, and the reward is the retry's verdict."""

from __future__ import annotations

import random

import pytest
import torch

from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
from r3_pipeline.models.loading import load_model, save_model
from r3_pipeline.models.tokenizer import train_tokenizer
from r3_pipeline.tasks import make_task
from r3_pipeline.training.r3_trainer import R3Config, R3Trainer, reflection_reward

G = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    task = make_task("countdown", {"num_train": 8, "num_test": 2, "counts": [3], "max_number": 9, "max_target": 20})
    rows = task.build_splits().train[:4]
    rng = random.Random(0)
    failures = [(r, task.corrupt_response(r, rng)) for r in rows]
    corpus = [m["content"] for r, a in failures for m in task.prompt_messages(r)] + [a for _, a in failures]
    corpus += [task.reflection_prompt(), task.retry_prompt(), task.teacher_reflection(rows[0], failures[0][1])]
    tok = train_tokenizer(corpus, 300)
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=64), tok)
    # From a directory, as the pipeline does (TRL builds the KL reference model from the model's path).
    model, tok = load_model(save_model(model, tok, tmp_path_factory.mktemp("model")))
    args = R3Config(output_dir=str(tmp_path_factory.mktemp("r3")), use_cpu=True, report_to="none",
                    num_generations=G, per_device_train_batch_size=2 * G, max_steps=1, beta=0.001,
                    max_reflection_tokens=12, max_retry_tokens=8, remove_unused_columns=False)
    seen = []
    trainer = R3Trainer(model, args, task, failures, tok, on_rollout=seen.append)
    return trainer, task, failures, seen


def test_rollout_returns_one_completion_per_prompt_and_masks_all_but_reflection(setup):
    trainer, task, failures, seen = setup
    # TRL's sampler repeats each prompt num_generations times before the rollout sees it.
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    out = trainer._generate_and_score_completions(inputs)
    result = seen[-1]
    assert len(result.prompts) == 2 * G and out["completion_ids"].shape[0] == 2 * G
    mask = (out["completion_mask"] * out["tool_mask"]).tolist()
    for i, n_reflection in enumerate(result.reflection_tokens):
        assert sum(mask[i]) == n_reflection
        assert mask[i][:n_reflection] == [1] * n_reflection  # reflection first, then only zeros
        assert out["completion_mask"][i].sum() > n_reflection  # the retry turn is in the completion, masked
    # Reward is exactly the retry verdict, re-verified here from the retry text.
    expected = [float(task.verify(r, t).correct) for r, t in zip(result.rows, result.retries)]
    assert reflection_reward(None, result.retry_correct) == expected


def test_no_gradient_outside_reflection_tokens(setup):
    trainer, _, _, seen = setup
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    out = trainer._generate_and_score_completions(inputs)
    # Force non-zero advantages: with a random model all retries fail and GRPO advantages would be all zero.
    out["advantages"] = torch.linspace(-1.0, 1.0, out["completion_ids"].shape[0])
    captured = []
    # TRL computes log-probs with a fused LM head, so logits never exist; the final norm's output at position t
    # feeds only the prediction of token t+1, so its gradient says which tokens carry loss.
    def keep(module, inputs, output):
        output.retain_grad()
        captured.append(output)

    hook = trainer.model.model.norm.register_forward_hook(keep)
    try:
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test bypasses
        loss = trainer.compute_loss(trainer.model, out)
        loss.backward()
    finally:
        hook.remove()
    p, k = out["prompt_ids"].shape[1], out["completion_ids"].shape[1]
    hidden = captured[-1]
    grad = hidden.grad[:, p - 1 : p - 1 + k].norm(dim=-1)  # at the position predicting each completion token
    # Where the reflection is, from the rollout itself (not from the mask under test).
    loss_mask = torch.zeros_like(grad, dtype=torch.bool)
    for i, n in enumerate(seen[-1].reflection_tokens):
        loss_mask[i, :n] = True
    assert torch.all(grad[~loss_mask] == 0), "tokens outside the reflection received gradient"
    assert grad[loss_mask].gt(0).float().mean() > 0.9
    # Per-token advantage (sequence advantage x loss mask) is zero on every non-reflection token.
    per_token_adv = out["advantages"][:, None] * loss_mask
    assert torch.all(per_token_adv[~loss_mask] == 0)
