"""The comparison that tells whether gains come from reflection: the bare "try again" control, paired gains on
the same tasks, and reflection analytics."""

import math

import pytest

from r3_pipeline import evaluation
from r3_pipeline.rollout.conversation import bare_retry_conversation
from r3_pipeline.rollout.episodes import BARE, BARE_RETRY_PROMPT, EpisodeConfig
from r3_pipeline.tasks import make_task


def rec(task_id, first, retry=None, reflection=None, tokens=None, sample_idx=0, retry_text=None):
    return {"task_id": task_id, "sample_idx": sample_idx, "first_correct": first, "retry_correct": retry,
            "reflection": reflection, "reflection_tokens": tokens, "first_attempt": f"attempt {task_id}",
            "retry": retry_text}


def test_paired_difference_on_the_same_tasks():
    base = [rec("a", True), rec("b", False, False), rec("c", False, False), rec("d", False, True)]
    trained = [rec("a", True), rec("b", False, True), rec("c", False, False), rec("d", False, True),
               rec("zz", False, True)]  # a task only one model saw is not paired
    d = evaluation.paired_difference(base, trained, "second")
    diffs = [0, 1, 0, 0]
    sd = math.sqrt(sum((x - 0.25) ** 2 for x in diffs) / 3)
    assert d.n == 4 and d.diff == pytest.approx(0.25)
    assert d.ci == pytest.approx((0.25 - evaluation.Z95 * sd / 2, 0.25 + evaluation.Z95 * sd / 2))
    assert evaluation.paired_difference(base, trained, "first").diff == 0


def test_reflection_summary_and_examples():
    # a's retry repeats its failed attempt (up to whitespace); b's retry is another answer
    before = [rec("a", False, False, "long reflection", 30, retry_text=" attempt  a\n"),
              rec("b", False, True, "mid", 20, retry_text="attempt b2"), rec("c", True)]
    after = [rec("a", False, True, "short", 5), rec("b", False, True, "short too", 6), rec("c", True)]
    summary = evaluation.reflection_summary(before)
    assert summary == {"reflections": 2, "mean_tokens": 25.0, "median_tokens": 30, "p90_tokens": 30,
                       "retry_success": 0.5, "retry_repeats": 0.5}
    examples = evaluation.reflection_examples(before, after, k=1)
    assert examples == [{"task_id": "a", "before": {"attempt": "attempt a", "reflection": "long reflection",
                                                    "retry_correct": False},
                         "after": {"attempt": "attempt a", "reflection": "short", "retry_correct": True}}]


def test_behaviour_summary_gives_each_behaviours_share_and_retry_success():
    records = [{**rec("a", False, True, "Need 20. ...", 30), "reflection_behaviour": "search"},
               {**rec("b", False, False, "x", 9), "reflection_behaviour": "guess"},
               {**rec("c", False, True, "y", 9), "reflection_behaviour": "guess"},
               {**rec("d", False, False, "z", 9), "reflection_behaviour": "guess"},
               rec("e", True)]
    summary = evaluation.behaviour_summary(records)
    assert summary == {"guess": {"reflections": 3, "share": 0.75, "retry_success": pytest.approx(1 / 3)},
                       "search": {"reflections": 1, "share": 0.25, "retry_success": 1.0}}
    table = evaluation.comparison_markdown({"results": {}, "behaviours": {"vanilla": summary, "trained": {
        "search": {"reflections": 4, "share": 1.0, "retry_success": 0.5}}}})
    assert "| guess | 75.0%, 33.3% | - |" in table and "| search | 25.0%, 100.0% | 100.0%, 50.0% |" in table


def _acc(first, second):
    return {"n": 10, "first": first, "second": second, "first_ci": [0, 1], "second_ci": [0, 1]}


@pytest.mark.parametrize("vanilla,bare", [("vanilla", "vanilla_bare_retry"), ("base", "base_bare_retry")])
def test_comparison_lists_the_five_lines_in_order(vanilla, bare):
    """Evaluations written before the vanilla/trained vocabulary ("base") read the same."""
    ev = {"results": {vanilla: _acc(0.1, 0.3), "trained": _acc(0.1, 0.5), bare: _acc(0.1, 0.2)},
          "gains": {"second": {"n": 10, "diff": 0.2, "ci": [0.05, 0.35]}}}
    rows = evaluation.comparison_rows(ev)
    assert [(label, a) for label, _, a, _ in rows] == [
        ("vanilla, first attempt", 0.1), ('vanilla, bare "try again" retry', 0.2), ("vanilla, with reflection", 0.3),
        ("trained, first attempt", 0.1), ("trained, with reflection", 0.5)]
    assert "+20.0 points, 95% CI [+5.0, +35.0]" in evaluation.comparison_markdown(ev)
    table = evaluation.comparison_table(ev)
    assert len(table) < 1000 and "| trained minus vanilla, second attempt (paired) | 10 | +20.0 points [+5.0, +35.0] |" in table


def test_bare_retry_conversation_has_no_reflection_turn():
    first = [{"role": "user", "content": "Numbers: 1 2. Target: 3."}]
    conv = bare_retry_conversation(make_task("countdown"), first, "1-2")  # its prompt file's bare_retry
    assert conv == [*first, {"role": "assistant", "content": "1-2"}, {"role": "user", "content": BARE_RETRY_PROMPT}]
    with pytest.raises(ValueError, match="retry_mode"):
        EpisodeConfig(retry_mode="twice")
    assert EpisodeConfig(retry_mode=BARE).retry_mode == "bare"
