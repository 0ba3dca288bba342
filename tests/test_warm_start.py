"""Warm-start conversations: which turns are trained, and the "follow" conversations that teach the retry to
carry out what its reflection proposed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask
from r3_pipeline.tasks.countdown.verify import extract_answer
from r3_pipeline.training.warm_start import (
    GENERIC_REFLECTIONS,
    WarmStartConfig,
    _corpus_text,
    tokenize_conversation,
    warm_start_conversations,
)


@pytest.fixture(scope="module")
def task_rows():
    task = CountdownTask(CountdownConfig(num_train=600, num_test=10, max_number=15, max_target=60, target_mode="chain"))
    return task, task.build_splits().train


def kinds(convs):
    out = {"plain": [], "teacher": [], "follow": []}
    for msgs, trained in convs:
        kind = "plain" if len(msgs) == 2 else ("teacher" if trained[3] else "follow")
        out[kind].append((msgs, trained))
    return out


def test_conversation_mix_follows_the_fractions(task_rows):
    task, rows = task_rows
    k = kinds(warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.3, follow_fraction=0.2)))
    assert len(rows) == sum(map(len, k.values()))
    assert abs(len(k["teacher"]) / len(rows) - 0.3) < 0.06 and abs(len(k["follow"]) / len(rows) - 0.2) < 0.06
    none = kinds(warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.3)))
    assert not none["follow"] and abs(len(none["teacher"]) / len(rows) - 0.3) < 0.06


@pytest.mark.parametrize("fractions", [(0.6, 0.5), (-0.1, 0.2), (0.2, 1.5)])
def test_fractions_that_cannot_be_shares_are_rejected(fractions):
    with pytest.raises(ValueError, match="follow_fraction"):
        WarmStartConfig(failure_fraction=fractions[0], follow_fraction=fractions[1])


def test_teacher_conversations_train_the_reflection_and_the_reference_answer(task_rows):
    task, rows = task_rows
    k = kinds(warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.3, follow_fraction=0.2)))
    for msgs, trained in k["teacher"]:
        assert trained == [False, False, False, True, False, True]
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        assert not task.verify(row, msgs[1]["content"]).correct
        assert task.verify(row, msgs[5]["content"]).correct
        assert msgs[3]["content"].endswith(f"Try {extract_answer(msgs[5]['content'])}.")


def test_follow_conversations_train_only_a_retry_that_gives_the_proposed_answer(task_rows):
    task, rows = task_rows
    k = kinds(warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.3, follow_fraction=0.2)))
    assert k["follow"]
    for msgs, trained in k["follow"]:
        assert trained == [False, False, False, False, False, True]
        proposed = extract_answer(msgs[5]["content"])
        assert msgs[3]["content"].endswith(f"Try {proposed}.")
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        # The reflection still says what was wrong with the first attempt.
        assert msgs[3]["content"].startswith(extract_answer(msgs[1]["content"]))
        assert not task.verify(row, msgs[5]["content"]).correct


def test_only_the_trained_turns_carry_labels(task_rows, tiny_tokenizer):
    task, rows = task_rows
    convs = warm_start_conversations(task, rows[:200], WarmStartConfig(failure_fraction=0.3, follow_fraction=0.3))
    tok = tiny_tokenizer(_corpus_text(m) for m, _ in convs)
    for msgs, trained in kinds(convs)["follow"][:5] + kinds(convs)["teacher"][:5]:
        ids, labels = tokenize_conversation(tok, msgs, trained)
        labelled = tok.decode([i for i, lab in zip(ids, labels) if lab != -100], skip_special_tokens=True)
        expected = "".join(m["content"] for m, t in zip(msgs, trained) if t)
        assert labelled.replace("\n", "") == expected


def test_random_proposals_train_the_reflection_form_without_the_answer(task_rows):
    """reflection_proposal "random": failure reflections are trained but never propose the reference answer;
    the retry gives what was proposed. The default stays "answer"."""
    task, rows = task_rows
    assert WarmStartConfig().reflection_proposal == "answer"
    random_ = kinds(warm_start_conversations(task, rows, WarmStartConfig(
        failure_fraction=0.3, follow_fraction=0.2, reflection_proposal="random")))
    assert abs(len(random_["teacher"]) / len(rows) - 0.3) < 0.06 and abs(len(random_["follow"]) / len(rows) - 0.2) < 0.06
    for msgs, trained in random_["teacher"]:
        assert trained == [False, False, False, True, False, True]
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        proposed = extract_answer(msgs[5]["content"])
        assert msgs[3]["content"].endswith(f"Try {proposed}.")
        assert not task.verify(row, msgs[5]["content"]).correct


def test_an_unknown_reflection_proposal_is_rejected():
    with pytest.raises(ValueError, match="reflection_proposal"):
        WarmStartConfig(reflection_proposal="teacher")


def test_generic_reflections_propose_nothing_and_leave_the_other_draws_alone(task_rows):
    """A `generic` share of failure reflections is one of the generic texts (trained), followed by the reference
    answer; follow conversations never get one, and every other conversation is unchanged."""
    task, rows = task_rows
    cfg = WarmStartConfig(failure_fraction=0.4, follow_fraction=0.2)
    plain = warm_start_conversations(task, rows, cfg)
    mixed = warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.4, follow_fraction=0.2,
                                                                 behaviours={"generic": 0.5, "guess": 0.5}))
    generic = [(m, t) for m, t in mixed if len(m) == 6 and m[3]["content"] in GENERIC_REFLECTIONS]
    teacher = kinds(mixed)["teacher"]
    assert abs(len(generic) / len(teacher) - 0.5) < 0.1
    for msgs, trained in generic:
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        assert trained == [False, False, False, True, False, True]
        assert task.verify(row, msgs[5]["content"]).correct
        assert not any(ch.isdigit() for ch in msgs[3]["content"])
    assert not any(m[3]["content"] in GENERIC_REFLECTIONS for m, _ in kinds(mixed)["follow"])
    changed = [i for i, (a, b) in enumerate(zip(plain, mixed)) if a != b]
    assert len(changed) == len(generic)
    assert all(plain[i][0][:3] == mixed[i][0][:3] for i in changed)  # the same wrong first attempt


def test_the_behaviour_mixture_follows_its_shares_and_each_reflection_shows_its_behaviour(task_rows):
    """Failure reflections come in the configured shares; each is recognised as its behaviour by the task's
    classifier (what the analytics use on model text), and every retry after one is the reference answer.
    Follow conversations keep their proposal-following `guess` form whatever the mixture."""
    task, rows = task_rows
    shares = {"search": 0.2, "guess": 0.5, "restate": 0.3}
    convs = kinds(warm_start_conversations(task, rows * 3, WarmStartConfig(failure_fraction=0.5, follow_fraction=0.2,
                                                                            behaviours=shares)))
    seen = Counter(task.reflection_behaviour(m[3]["content"]) for m, _ in convs["teacher"])
    for name, share in shares.items():
        assert abs(seen[name] / len(convs["teacher"]) - share) < 0.05, (name, seen)
    for msgs, _ in convs["teacher"]:
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        assert task.verify(row, msgs[5]["content"]).correct
    assert {task.reflection_behaviour(m[3]["content"]) for m, _ in convs["follow"]} == {"guess"}


@pytest.mark.parametrize("behaviours, match", [({"search": 0.5, "guess": 0.4}, "summing to 1"),
                                               ({"search": -0.5, "guess": 1.5}, "non-negative")])
def test_behaviour_shares_that_are_not_a_mixture_are_rejected(behaviours, match):
    with pytest.raises(ValueError, match=match):
        WarmStartConfig(behaviours=behaviours)


def test_a_behaviour_the_task_does_not_know_is_rejected_by_name(task_rows):
    task, rows = task_rows
    with pytest.raises(ValueError, match="unknown reflection behaviour.*check.*known: search, guess, restate, generic"):
        warm_start_conversations(task, rows, WarmStartConfig(behaviours={"check": 1.0}))


def test_practice_conversations_ask_for_the_behaviour_by_name_and_train_it(task_rows):
    """`practice`: that share of all conversations asks for a behaviour with the task's practice prompt; the
    reflection (in that behaviour) and the retry (the reference answer) are trained. The unasked reflections
    keep the `behaviours` mixture, here without any search."""
    _, rows = task_rows
    task = CountdownTask(CountdownConfig(num_train=600, num_test=10, max_number=15, max_target=60, target_mode="chain",
                                         prompts_path="assets/prompts/countdown_compact.yaml"))
    convs = warm_start_conversations(task, rows * 2, WarmStartConfig(
        failure_fraction=0.3, follow_fraction=0.1, practice={"search": 0.2}, behaviours={"guess": 1.0}))
    asked = [(m, t) for m, t in convs if len(m) == 6 and m[2]["content"] == task.practice_prompt("search")]
    assert abs(len(asked) / len(convs) - 0.2) < 0.04
    for msgs, trained in asked:
        assert trained == [False, False, False, True, False, True]
        assert task.reflection_behaviour(msgs[3]["content"]) == "search"
        row = next(r for r in rows if task.prompt_messages(r) == msgs[:1])
        assert task.verify(row, msgs[5]["content"]).correct
    unasked = [m for m, _ in convs if len(m) == 6 and m[2]["content"] == task.reflection_prompt()]
    assert unasked and {task.reflection_behaviour(m[3]["content"]) for m in unasked} == {"guess"}


def test_practice_needs_a_known_behaviour_and_its_prompt(task_rows):
    task, rows = task_rows
    with pytest.raises(ValueError, match="unknown reflection behaviour.*ponder"):
        warm_start_conversations(task, rows, WarmStartConfig(practice={"ponder": 0.1}))
    with pytest.raises(ValueError, match="no practice_restate text"):
        warm_start_conversations(task, rows, WarmStartConfig(practice={"restate": 0.5}))
    with pytest.raises(ValueError, match="practice shares"):
        WarmStartConfig(failure_fraction=0.6, follow_fraction=0.2, practice={"search": 0.3})


def test_the_same_seed_gives_the_same_model_whatever_the_machine_runs(task_rows, tmp_path):
    """Step-bounded with a fixed thread count: two warm starts of the same spec give identical weights even when
    the process around them uses a different number of torch threads (as on a busier or bigger machine)."""
    import torch
    from safetensors.torch import load_file

    from r3_pipeline.models.embedded import EmbeddedModelConfig
    from r3_pipeline.training.warm_start import train_embedded_model

    task, rows = task_rows
    shape = EmbeddedModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                                vocab_size=300)
    cfg = WarmStartConfig(max_steps=12, batch_size=8, failure_fraction=0.3, follow_fraction=0.2,
                          behaviours={"search": 0.5, "guess": 0.5})
    before = torch.get_num_threads()
    weights = []
    try:
        for ambient in (2, 1):
            torch.set_num_threads(ambient)
            stats = train_embedded_model(task, rows[:200], shape, cfg, tmp_path / f"m{ambient}")
            assert stats["steps"] == 12 and torch.get_num_threads() == ambient
            weights.append(load_file(tmp_path / f"m{ambient}" / "model.safetensors"))
    finally:
        torch.set_num_threads(before)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_batch_over_the_logit_budget_goes_through_in_slices_with_the_same_loss_and_gradient(task_rows):
    """Long prompts (BFCL's tool lists) with a 49k vocabulary put a batch's logits past memory: `backward` splits
    such a batch and weights each slice by its labelled tokens, which must give the full batch's mean loss and
    gradient; a batch within the budget takes one pass."""
    import torch

    from transformers import Qwen2Config, Qwen2ForCausalLM

    from r3_pipeline.training.warm_start import backward

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, intermediate_size=64))
    rng = random.Random(0)
    batch = []
    for n in (9, 23, 14, 31, 5):  # conversations of different lengths, labels on their last tokens only
        ids = [rng.randrange(3, 300) for _ in range(n)]
        batch.append((ids, [-100] * (n // 2) + ids[n // 2 :]))
    batch.append(([7, 8, 9], [-100, -100, -100]))  # a conversation with nothing trained

    def run(budget):
        model.zero_grad(set_to_none=True)
        loss = backward(model, batch, pad_id=0, bf16=False, logit_budget=budget)
        return loss, [p.grad.clone() for p in model.parameters()]

    whole_loss, whole_grads = run(10**9)
    sliced_loss, sliced_grads = run(31 * 300 * 2)  # two conversations of the longest width per slice
    one_by_one_loss, one_by_one_grads = run(1)
    for loss, grads in ((sliced_loss, sliced_grads), (one_by_one_loss, one_by_one_grads)):
        assert abs(loss - whole_loss) < 1e-5 * abs(whole_loss)
        for g, w in zip(grads, whole_grads):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-7)
    assert whole_loss > 0 and all(g.abs().sum() > 0 for g in whole_grads[:1])
