"""The first-attempt anchor (r3_pipeline.training.anchor) on a real TRL GRPOTrainer with a tiny LoRA model: it
covers exactly the tokens of the failed first attempt each prompt holds, is zero while the policy equals the
adapter-disabled base and its own gradient pulls a moved policy back, adds to the loss as `anchor_coef * KL`, and
changes neither the rewards nor the advantages (the reward stays the retry's verdict). tests/test_real_model.py runs it through the pipeline on SmolLM2's chat template."""

from __future__ import annotations

import pytest
import torch

from r3_pipeline.training.anchor import anchor_batch, token_kl
from r3_pipeline.training.r3_trainer import R3Config, R3Trainer
from tests.support import tiny_countdown_failures

G = 4


@pytest.fixture(scope="module")
def trainer(tmp_path_factory, tiny_tokenizer):
    task, failures, model, tok = tiny_countdown_failures(tiny_tokenizer, tmp_path_factory.mktemp("model"), rows=2)
    args = R3Config(output_dir=str(tmp_path_factory.mktemp("r3")), use_cpu=True, report_to="none",
                    num_generations=G, per_device_train_batch_size=2 * G, max_steps=1, beta=0.0, lora_r=4,
                    lora_alpha=8, anchor_coef=1.0, max_reflection_tokens=12, max_retry_tokens=8,
                    remove_unused_columns=False)
    trainer = R3Trainer(model, args, task, failures, tok)
    trainer.failures = failures
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which these tests bypass
    return trainer


def _rollout(trainer):
    return trainer._generate_and_score_completions(
        [{"prompt": p} for p in trainer.train_dataset["prompt"] for _ in range(G)])


def _lora_b(trainer):
    return [p for n, p in trainer.model.named_parameters() if "lora_B" in n]


def test_the_anchor_covers_exactly_the_failed_attempt_and_its_end_of_turn(trainer):
    out = _rollout(trainer)
    tok = trainer.processing_class
    prompts = {tuple(ids[m.bool()].tolist()) for ids, m in zip(out["prompt_ids"], out["prompt_mask"])}
    assert len(prompts) == 2 and prompts <= trainer.anchor_spans.keys()
    attempts = {tok.decode(list(p[start:end])).strip() for p in prompts for start, end in [trainer.anchor_spans[p]]}
    assert attempts == {attempt for _, attempt in trainer.failures}
    assert all(p[trainer.anchor_spans[p][1]] == tok.eos_token_id for p in prompts)
    spans = [trainer.anchor_spans[p] for p in prompts]
    ids, attention, loss_mask = anchor_batch(list(prompts), spans, tok.pad_token_id)
    for row, (start, end) in enumerate(spans):
        # Position t predicts token t + 1: the masked logits predict the attempt's tokens and its end of turn only.
        assert loss_mask[row].nonzero().flatten().tolist() == list(range(start - 1, end))
        assert attention[row].sum() == end + 1


def test_token_kl_is_the_forward_kl_from_the_reference():
    policy, reference = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 1:3] = mask[1, 4] = True
    expected = torch.nn.functional.kl_div(torch.log_softmax(policy[mask], -1), torch.log_softmax(reference[mask], -1),
                                          log_target=True, reduction="none").sum(-1).mean()
    torch.testing.assert_close(token_kl(policy, reference, mask), expected)
    assert token_kl(reference, reference, mask).abs() < 1e-6


def test_the_anchor_is_zero_at_the_base_adds_to_the_loss_and_pulls_a_moved_policy_back(trainer):
    out = _rollout(trainer)
    out["advantages"] = torch.linspace(-1.0, 1.0, out["completion_ids"].shape[0])
    trainer.model.train()
    assert trainer.anchor_kl(trainer.model, out["prompt_ids"], out["prompt_mask"]).abs() < 1e-6  # LoRA B starts at 0
    torch.manual_seed(0)
    with torch.no_grad():
        for b in _lora_b(trainer):
            b.normal_(0.0, 0.5)
    try:
        kl = trainer.anchor_kl(trainer.model, out["prompt_ids"], out["prompt_mask"])
        assert kl > 1e-3
        with_anchor = trainer.compute_loss(trainer.model, out)
        trainer.args.anchor_coef = 0.0
        without = trainer.compute_loss(trainer.model, out)
        trainer.args.anchor_coef = 1.0
        torch.testing.assert_close(with_anchor - without, kl, rtol=1e-4, atol=1e-6)
        optimizer = torch.optim.Adam([p for p in trainer.model.parameters() if p.requires_grad], lr=0.01)
        for _ in range(30):  # descent on the anchor alone moves the policy back towards the base
            optimizer.zero_grad()
            trainer.anchor_kl(trainer.model, out["prompt_ids"], out["prompt_mask"]).backward()
            optimizer.step()
        after = trainer.anchor_kl(trainer.model, out["prompt_ids"], out["prompt_mask"])
        assert after < kl / 2, (float(kl), float(after))
    finally:
        trainer.args.anchor_coef = 1.0
        trainer.model.zero_grad()
        with torch.no_grad():
            for b in _lora_b(trainer):
                b.zero_()


def test_the_anchor_changes_neither_rewards_nor_advantages(trainer):
    anchored = _rollout(trainer)
    trainer.args.anchor_coef = 0.0
    try:
        plain = _rollout(trainer)
    finally:
        trainer.args.anchor_coef = 1.0
    assert torch.equal(anchored["completion_ids"], plain["completion_ids"])
    assert torch.equal(anchored["advantages"], plain["advantages"])


def test_the_anchor_needs_a_reference(tmp_path):
    with pytest.raises(ValueError, match="anchor_coef needs a reference"):
        R3Config(output_dir=str(tmp_path), use_cpu=True, report_to="none", anchor_coef=1.0, beta=0.0, lora_r=0)
