"""Warm-start conversations: which turns are trained, and the "follow" conversations that teach the retry to
carry out what its reflection proposed."""

from __future__ import annotations

import pytest

from r3_pipeline.models.tokenizer import train_tokenizer
from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask
from r3_pipeline.tasks.countdown_verify import extract_answer
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


def test_only_the_trained_turns_carry_labels(task_rows):
    task, rows = task_rows
    convs = warm_start_conversations(task, rows[:200], WarmStartConfig(failure_fraction=0.3, follow_fraction=0.3))
    tok = train_tokenizer((_corpus_text(m) for m, _ in convs), 300)
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
    """generic_fraction: that share of failure reflections is one of the generic texts (trained), followed by
    the reference answer; follow conversations never get one, and every other conversation is unchanged."""
    task, rows = task_rows
    cfg = WarmStartConfig(failure_fraction=0.4, follow_fraction=0.2)
    plain = warm_start_conversations(task, rows, cfg)
    mixed = warm_start_conversations(task, rows, WarmStartConfig(failure_fraction=0.4, follow_fraction=0.2,
                                                                 generic_fraction=0.5))
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


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_generic_fraction_outside_0_1_is_rejected(share):
    with pytest.raises(ValueError, match="generic_fraction"):
        WarmStartConfig(generic_fraction=share)
