"""The R3 trainer's contract, checked on a real TRL GRPOTrainer with a tiny model:
the rollout returns one completion per prompt TRL hands it, only reflection tokens carry advantage and
gradient, the reward is the retry's verdict, leaving the retry out of the completion changes neither loss nor
gradients, and with LoRA only adapter weights train against the adapter-disabled base."""

from __future__ import annotations

import os

import pytest
import torch

from r3_pipeline.models.loading import load_model, save_model
from r3_pipeline.training.r3_trainer import R3Config, R3Trainer, reflection_reward
from tests.support import tiny_countdown_failures

G = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_tokenizer):
    task, failures, model, tok = tiny_countdown_failures(tiny_tokenizer, tmp_path_factory.mktemp("model"), rows=4)
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
        assert out["completion_mask"][i].sum() == n_reflection  # the completion is the reflection alone
    # Reward is exactly the retry verdict, re-verified here from the retry text.
    expected = [float(task.verify(r, t).correct) for r, t in zip(result.rows, result.retries)]
    assert reflection_reward(None, result.retry_correct) == expected


def test_rollout_metrics_reach_the_trainer_log(setup):
    """Retry success and reflection length of the rollouts since the last log, averaged, in the next log (what
    MLflow and the progress lines get), through Trainer's public `log`."""
    trainer, _, _, seen = setup
    trainer.r3_metrics.clear()
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    trainer._generate_and_score_completions(inputs)
    result = seen[-1]
    was_training = trainer.model.training
    trainer.model.train()
    try:
        trainer.log({"loss": 0.5})
    finally:
        trainer.model.train(was_training)
    logged = trainer.state.log_history[-1]
    assert logged["r3/retry_success"] == pytest.approx(sum(result.retry_correct) / len(result.retry_correct))
    assert logged["r3/reflection_tokens"] == pytest.approx(sum(result.reflection_tokens) / len(result.reflection_tokens))
    assert trainer.r3_metrics == {}  # each log reports only what came after the previous one


def test_training_rollouts_are_stored_as_episodes(setup, tmp_path):
    """The training process stores each rollout through `Episode.to_record`, as mining and evaluation store theirs:
    the mined failure as the first attempt, then the reflection, the retry and the reward."""
    from r3_pipeline.store import TrajectoryStore, episode_id
    from r3_pipeline.training.job import TrainJob
    from r3_pipeline.training.train import store_recorder, training_scope

    trainer, task, _, seen = setup
    trainer._generate_and_score_completions([{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)])
    result = seen[-1]
    job = TrainJob(task="countdown", task_config={}, model_path="m", failures_path="f",
                   output_dir=str(tmp_path / "out"), spec="s", run_id="run-1", model_id="base", mlflow_run_id="ml-1")
    store = TrajectoryStore(tmp_path / "store")
    store_recorder(job, store, trainer.processing_class, task)(result)
    columns, rows = store.sql("SELECT * FROM episodes WHERE stage = 'training' ORDER BY sample_idx")
    records = [dict(zip(columns, r)) for r in rows]
    assert len(records) == 2 * G
    assert training_scope(job) == f"{job.output_dir}:ml-1"  # one training: its folder and MLflow run
    for i, rec in enumerate(records):
        row, prompt = result.rows[i], result.prompts[i]
        assert rec["episode_id"] == episode_id("s", "training", training_scope(job), row["task_id"], i, result.step)
        assert (rec["spec"], rec["run_id"], rec["model_id"], rec["task_id"]) == ("s", "run-1", "base", row["task_id"])
        assert rec["first_attempt"] == prompt[-2]["content"] and rec["first_correct"] is False
        assert rec["first_reason"] == "mined_failure" and rec["first_tokens"] == 0
        assert rec["reflection"] == result.reflections[i] and rec["reflection_tokens"] == result.reflection_tokens[i]
        assert rec["retry"] == result.retries[i] and rec["retry_correct"] == result.retry_correct[i]
        assert rec["reward"] == float(result.retry_correct[i]) and rec["retry_mode"] == "reflection"
        assert rec["reflection_behaviour"] == task.reflection_behaviour(result.reflections[i])
        assert trainer.processing_class.decode(render_first(task, row, prompt, trainer.processing_class)) == rec["prompt"]


def render_first(task, row, prompt, tok):
    from r3_pipeline.rollout.conversation import first_turn, render

    return render(tok, prompt[:-2], first_turn(task, row, tok)[1])


@pytest.fixture
def retry_in_completion(setup):
    """The `completion_retry` layout (reflection + masked retry turn) for one test."""
    trainer = setup[0]
    trainer.args.completion_retry = True
    yield
    trainer.args.completion_retry = False


def test_no_gradient_outside_reflection_tokens(setup, retry_in_completion):
    trainer, _, _, seen = setup
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    out = trainer._generate_and_score_completions(inputs)
    assert all(out["completion_mask"][i].sum() > n for i, n in enumerate(seen[-1].reflection_tokens))
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


def _loss_and_gradients(trainer, inputs):
    out = trainer._generate_and_score_completions(inputs)
    out["advantages"] = torch.linspace(-1.0, 1.0, out["completion_ids"].shape[0])
    trainer.model.train()
    trainer.model.zero_grad()
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer.compute_loss(trainer.model, out)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad()
    return out, loss.detach(), grads


def test_leaving_the_retry_out_of_the_completion_changes_neither_loss_nor_gradients(setup):
    trainer, _, _, seen = setup
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    # In float64: the two layouts multiply matrices of different shapes, whose float32 rounding differs by up to
    # 1e-3 of a small gradient; in float64 they agree to 1e-8 where a wrong token mask would differ by order one.
    trainer.model.double()
    try:
        short, short_loss, short_grads = _loss_and_gradients(trainer, inputs)
        short_reflections = seen[-1].reflections
        trainer.args.completion_retry = True
        full, full_loss, full_grads = _loss_and_gradients(trainer, inputs)
    finally:
        trainer.args.completion_retry = False
        trainer.model.float()
    assert seen[-1].reflections == short_reflections  # the same seeded rollout
    assert full["completion_ids"].shape[1] > short["completion_ids"].shape[1]
    assert torch.allclose(full_loss, short_loss, atol=1e-8)
    assert short_grads.keys() == full_grads.keys() and short_grads
    for name, grad in short_grads.items():
        error = (grad - full_grads[name]).norm() / grad.norm().clamp(min=1e-12)
        assert error < 1e-6, (name, float(error))
    assert any(g.abs().sum() > 0 for g in short_grads.values())


def test_lora_trains_only_adapter_weights_against_the_adapter_disabled_base(setup, tmp_path):
    from peft import PeftModel

    from r3_pipeline.training.train import merged

    base_trainer, task, failures, _ = setup
    model_dir = base_trainer.model.config.name_or_path
    model, tok = load_model(model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = R3Config(output_dir=str(tmp_path / "r3"), use_cpu=True, report_to="none", num_generations=G,
                    per_device_train_batch_size=2 * G, max_steps=1, beta=0.04, max_reflection_tokens=12,
                    max_retry_tokens=8, remove_unused_columns=False, lora_r=4, lora_alpha=8)
    trainer = R3Trainer(model, args, task, failures, tok)
    assert isinstance(trainer.model, PeftModel) and trainer.ref_model is None  # no second copy of the weights
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    _, _, grads = _loss_and_gradients(trainer, inputs)
    assert grads and all("lora_" in n for n in grads)
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    with torch.no_grad():  # one plain SGD step on the adapter, as the optimizer would take
        for n, p in trainer.model.named_parameters():
            if n in grads:
                p -= 1.0 * grads[n]
    out = trainer._generate_and_score_completions(inputs)
    # The KL reference is the base model: its log-probs are those of the model with the adapter disabled, whose
    # weights are the untouched originals, and not the adapted policy's.
    frozen = {n.replace("base_model.model.", "").replace(".base_layer", ""): p
              for n, p in trainer.model.named_parameters() if "lora_" not in n}
    assert frozen.keys() == before.keys() and all(torch.equal(before[n], p) for n, p in frozen.items())
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
    k = out["completion_ids"].shape[1]
    with torch.no_grad():
        policy = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, k)[0]
        with trainer.model.disable_adapter():
            base = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, k)[0]
    m = out["completion_mask"].bool()
    ref_gap = (out["ref_per_token_logps"][m] - base[m]).abs().max()
    policy_gap = (policy[m] - base[m]).abs().max()
    assert ref_gap < 1e-5 and policy_gap > 1e-3, (float(ref_gap), float(policy_gap))
    # The saved model is the merged one: a plain model whose only changed weights are the adapted linear layers.
    final = merged(trainer.model)
    assert not isinstance(final, PeftModel)
    after = dict(final.named_parameters())
    assert after.keys() == before.keys()
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all(n.endswith("proj.weight") for n in changed)
    save_model(final, tok, tmp_path / "final")
    assert not (tmp_path / "final" / "adapter_config.json").exists()
    reloaded, _ = load_model(tmp_path / "final")
    assert all(torch.equal(after[n], p) for n, p in reloaded.named_parameters())


@pytest.mark.parametrize("targets", [["embed_tokens", "q_proj"], ["embed_tokens"]])
def test_lora_weights_pushed_to_vllm_include_an_embedding_adapter(tiny_model, tmp_path, targets):
    """`merged_lora_params` (what the weight sync hands vLLM with LoRA) equals PEFT's own merge, also for an adapter on
    the embedding, which PEFT keeps in `lora_embedding_A/B` rather than `lora_A/B`: without it vLLM would generate
    from the base embedding while the policy trains its adapter. No vLLM needed: the function reads only the model
    (TRL's generation object is made without starting an engine)."""
    import copy

    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model
    from trl.distributed import DistributedBackend
    from trl.generation.vllm_generation import VLLMGeneration

    from r3_pipeline.training.vllm_colocate import merged_lora_params

    model, _ = load_model(tiny_model(tmp_path / "m", seed=0))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False))
    assert any("lora_embedding_A" in n for n, _ in peft.named_parameters())
    generation = VLLMGeneration.__new__(VLLMGeneration)
    generation.model, generation._dist = peft, DistributedBackend(Accelerator(cpu=True))
    pushed = dict(merged_lora_params(generation))
    expected = copy.deepcopy(peft).merge_and_unload().state_dict()
    assert "model.embed_tokens.weight" in pushed
    assert not torch.equal(pushed["model.embed_tokens.weight"], model.get_input_embeddings().base_layer.weight)
    for name, weight in pushed.items():
        torch.testing.assert_close(weight, expected[name], msg=name)


def test_closing_vllm_reverts_only_what_starting_it_changed(monkeypatch):
    """`revert_env` undoes the changes made while the colocated engine started, and only those: a variable set by
    anyone else afterwards, or one of vLLM's changed again since, keeps its value (the old close reset the whole
    environment to its state before vLLM)."""
    from r3_pipeline.training.vllm_colocate import revert_env

    monkeypatch.setenv("R3_T_KEPT", "user")
    monkeypatch.delenv("R3_T_ADDED", raising=False)
    monkeypatch.delenv("R3_T_LATER", raising=False)
    before = dict(os.environ)
    monkeypatch.setenv("R3_T_ADDED", "vllm")  # what starting vLLM did
    monkeypatch.setenv("R3_T_KEPT", "vllm")
    monkeypatch.setenv("R3_T_RESET", "vllm")
    after = dict(os.environ)
    monkeypatch.setenv("R3_T_LATER", "user")  # set by someone else while vLLM ran
    monkeypatch.setenv("R3_T_RESET", "user")  # one of vLLM's, changed again since
    assert revert_env(before, after) == ["R3_T_ADDED", "R3_T_KEPT"]
    assert "R3_T_ADDED" not in os.environ and os.environ["R3_T_KEPT"] == "user"
    assert os.environ["R3_T_LATER"] == "user" and os.environ["R3_T_RESET"] == "user"


def test_on_cpu_only_the_completion_tokens_go_through_the_lm_head_with_the_same_log_probs(setup, monkeypatch):
    """TRL scores every position of prompt + completion through its LM head on devices without Triton; R3's trainer
    makes CPU score only the labelled (completion) positions (r3_pipeline.training.cpu_scoring). Same numbers."""
    import trl.trainer.utils as trl_utils

    trainer, _, _, _ = setup
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"][:2] for _ in range(G)]
    out = trainer._generate_and_score_completions(inputs)
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    k = out["completion_ids"].shape[1]
    scored = []
    apply = trl_utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply",
                        lambda hidden, *a: scored.append(hidden.shape[0]) or apply(hidden, *a))

    def logps():
        with torch.no_grad():
            return trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, k)[0]

    compact = logps()
    monkeypatch.setattr(trl_utils, "_use_triton", lambda device: False)  # TRL's own choice on CPU
    every_position = logps()
    completion_tokens = int(out["completion_mask"].sum())
    assert scored == [completion_tokens, ids.shape[0] * (ids.shape[1] - 1)]
    assert scored[0] < scored[1] / 2  # the prompts are most of each sequence
    on = out["completion_mask"].bool()
    assert torch.allclose(compact[on], every_position[on], atol=1e-5)
