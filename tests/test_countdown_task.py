"""Countdown generation and the Task methods: determinism, disjoint splits, solvability, stable ids."""

from __future__ import annotations

import random
import re

import pytest

from r3_pipeline.tasks import TASKS, make_task
from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask
from r3_pipeline.tasks.countdown.problems import make_row, problem_key, task_id_for
from r3_pipeline.tasks.countdown.task import validate_row
from r3_pipeline.tasks.countdown.solver import solve
from r3_pipeline.tasks.countdown.verify import expression_value, extract_answer, verify_countdown

SMALL = {"num_train": 150, "num_test": 40}


@pytest.fixture(scope="module")
def default_splits():
    task = CountdownTask(CountdownConfig())
    return task, task.build_splits()


def keys(rows):
    return [problem_key(r["numbers"], r["target"]) for r in rows]


def test_default_sizes(default_splits):  # its speed: `r3 bench tasks`
    _, splits = default_splits
    assert len(splits.train) == 2000
    assert len(splits.test) == 300
    assert splits.rejected == []


def test_train_test_disjoint_and_unique(default_splits):
    _, splits = default_splits
    train, test = keys(splits.train), keys(splits.test)
    assert len(set(train)) == len(train)
    assert len(set(test)) == len(test)
    assert not set(train) & set(test)
    ids = [r["task_id"] for r in splits.train + splits.test]
    assert len(set(ids)) == len(ids)


def test_counts_are_drawn_uniformly(default_splits):
    _, splits = default_splits
    threes = sum(len(r["numbers"]) == 3 for r in splits.train + splits.test)
    assert 0.4 < threes / 2300 < 0.6


def test_every_reference_verifies_and_every_corruption_fails(default_splits):
    task, splits = default_splits
    rng = random.Random(7)
    for row in splits.train + splits.test:
        assert validate_row(row) is None
        assert task.verify(row, task.reference_response(row)) == Verdict(True, "correct")
        assert not task.verify(row, task.corrupt_response(row, rng)).correct


def test_rows_in_config_ranges(default_splits):
    _, splits = default_splits
    for row in splits.train + splits.test:
        assert len(row["numbers"]) in (3, 4)
        assert all(1 <= n <= 20 for n in row["numbers"])
        assert 1 <= row["target"] <= 100
        assert row["task_id"] == task_id_for(row["numbers"], row["target"])


def test_deterministic_by_seed():
    a = make_task("countdown", {**SMALL, "seed": 3}).build_splits()
    b = make_task("countdown", {**SMALL, "seed": 3}).build_splits()
    c = make_task("countdown", {**SMALL, "seed": 4}).build_splits()
    assert (a.train, a.test) == (b.train, b.test)
    assert keys(a.train) != keys(c.train)


def test_sizes_match_config():
    splits = make_task("countdown", {"num_train": 17, "num_test": 5, "counts": [4]}).build_splits()
    assert (len(splits.train), len(splits.test)) == (17, 5)
    assert all(len(r["numbers"]) == 4 for r in splits.train + splits.test)


def test_task_ids_stable_across_seeds():
    # A fixed literal: changing the id scheme would silently orphan stored trajectories.
    assert task_id_for([3, 5, 8], 24) == task_id_for([8, 3, 5], 24)
    assert task_id_for([3, 5, 8], 24) == "countdown-d574b83c195e"
    assert task_id_for([3, 5, 8], 24) != task_id_for([3, 5, 8], 25)
    assert make_row([8, 5, 3], 16) == make_row([3, 8, 5], 16)
    rows_a = {r["task_id"]: r for r in make_task("countdown", {"seed": 0, **SMALL}).build_splits().train}
    bigger = make_task("countdown", {**SMALL, "seed": 1, "num_train": 2000})
    rows_b = {r["task_id"]: r for r in bigger.build_splits().train}
    shared = rows_a.keys() & rows_b.keys()
    assert shared  # the 3-number problem space is small enough for overlap
    assert all(rows_a[i] == rows_b[i] for i in shared)


def test_solver():
    assert solve([1, 1, 1], 97) is None
    assert solve([5], 6) is None
    assert solve([5], 5) == "5"
    solvable = [([8, 3, 4], 20), ([3, 3, 8, 8], 24), ([1, 5, 5, 5], 24), ([4, 7], 28), ([9, 9], 0), ([2, 3], 6)]
    for numbers, target in solvable:
        solution = solve(numbers, target)
        assert solution is not None
        assert verify_countdown(numbers, target, f"<answer>{solution}</answer>").correct
    with pytest.raises(ValueError):
        solve([], 3)
    with pytest.raises(ValueError):
        solve([-1, 2], 1)


def test_make_row_unsolvable():
    assert make_row([1, 1, 1], 97) is None


def test_prompt_and_texts():
    task = CountdownTask()
    row = {"task_id": "t", "numbers": [8, 3, 4], "target": 20, "solution": "(8 - 3) * 4"}
    messages = task.prompt_messages(row)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    assert "[8, 3, 4]" in messages[0]["content"] and "equals 20" in messages[0]["content"]
    assert "{" not in messages[0]["content"].replace("{numbers}", "")
    assert "Reflect" in task.reflection_prompt()
    assert "<answer>" in task.retry_prompt()
    assert task.reference_response(row) == "<answer>(8 - 3) * 4</answer>"


def test_reference_response_without_stored_solution():
    task = CountdownTask()
    row = {"task_id": "t", "numbers": [8, 3, 4], "target": 20}
    assert task.verify(row, task.reference_response(row)).correct


@pytest.mark.parametrize("solution", ["(8 - 3) * 4", None])
def test_teacher_reflection_says_what_was_wrong_and_proposes_a_working_equation(solution):
    row = {"task_id": "t", "numbers": [8, 3, 4], "target": 20, **({"solution": solution} if solution else {})}
    wrong = "<answer>8 + 3 + 4</answer>"
    text = CountdownTask().teacher_reflection(row, wrong)
    assert text.startswith("8 + 3 + 4 does not equal 20. Try ")
    proposed = text.removeprefix("8 + 3 + 4 does not equal 20. Try ").removesuffix(".")
    assert task_verifies(row, proposed)
    if solution:
        hinted = CountdownTask(CountdownConfig(reflection_hint="first_step")).teacher_reflection(row, wrong)
        assert hinted == "8 + 3 + 4 does not equal 20. Start with 8 - 3."


def test_search_reflections_state_only_true_values_and_stop_at_the_target():
    """A search reflection tries candidates over the shown numbers, each rewritten one operation at a time; every
    rewrite keeps the candidate's exact value, every "no" is off target, and it ends at a working equation."""
    task = CountdownTask(CountdownConfig(num_train=200, num_test=5, max_number=15, max_target=60, target_mode="chain"))
    rng = random.Random(3)
    misses = 0
    for row in task.build_splits().train:
        wrong = task.corrupt_response(row, rng)
        text = task.teacher_reflection(row, wrong, behaviour="search", rng=rng)
        assert task.reflection_behaviour(text) == "search" and text.startswith(f"Need {row['target']}. ")
        steps, tail = text.removeprefix(f"Need {row['target']}. ").rsplit(" Try ", 1)
        proposal = tail.removesuffix(".")
        assert task_verifies(row, proposal)
        checks = re.findall(r"(.+?) (yes|no)\.(?: |$)", steps)
        assert checks and checks[-1][1] == "yes" and checks[-1][0].split(" = ")[0] == proposal
        for work, verdict in checks:
            forms = work.split(" = ")
            assert sorted(map(int, re.findall(r"\d+", forms[0]))) == sorted(row["numbers"])
            assert extract_answer(wrong) != forms[0]  # the failed equation is not tried again
            values = {_value(form) for form in forms}
            assert values == {int(forms[-1])}, work  # each rewrite is exact, and the last is the value
            assert (verdict == "yes") == (int(forms[-1]) == row["target"])
        misses += sum(v == "no" for _, v in checks)
    assert misses > 50  # the searches do try wrong candidates before the one that works


def _value(form: str):
    """Exact value of a worked step, which may start with a negative number (unary minus is no answer syntax)."""
    return expression_value("0 " + form if form.startswith("-") else form)


def test_each_behaviour_is_recognised_from_its_form():
    row = {"task_id": "t", "numbers": [8, 3, 4], "target": 20, "solution": "(8 - 3) * 4"}
    task = CountdownTask()
    for behaviour in task.reflection_behaviours:
        text = task.teacher_reflection(row, "<answer>8 + 3 + 4</answer>", behaviour=behaviour, rng=random.Random(0))
        assert task.reflection_behaviour(text) == behaviour, text
    with pytest.raises(ValueError, match="unknown Countdown reflection behaviour 'ponder'"):
        task.teacher_reflection(row, "<answer>8 + 3 + 4</answer>", behaviour="ponder")


def task_verifies(row, equation: str) -> bool:
    return CountdownTask().verify(row, f"<answer>{equation}</answer>").correct


def test_corrupt_response_single_number_fallback():
    task = CountdownTask()
    row = {"task_id": "t", "numbers": [5], "target": 5}
    response = task.corrupt_response(row, random.Random(0))
    assert task.verify(row, response) == Verdict(False, "wrong_numbers")


@pytest.mark.parametrize(
    "row, reason",
    [
        ([1, 2], "not_an_object"),
        ({"numbers": [1], "target": 1}, None),  # task_id is optional: r3 verify labels rows itself
        ({"nums": [1], "target": 1}, None),  # TinyZero's name for the numbers
        ({"numbers": [3.0, 4], "target": 12.0}, None),  # integral floats are integers
        ({"task_id": "a", "target": 1}, "missing_field:nums"),
        ({"task_id": "a", "numbers": [1]}, "missing_field:target"),
        ({"task_id": "a", "numbers": [], "target": 1}, "empty_numbers"),
        ({"task_id": "a", "numbers": "1,2", "target": 1}, "bad_type:numbers"),
        ({"task_id": "a", "numbers": [1, True], "target": 1}, "bool_as_int"),
        ({"task_id": "a", "numbers": [1.5], "target": 1}, "not_integral:numbers"),
        ({"task_id": "a", "numbers": [-1], "target": 1}, "negative_number"),
        ({"task_id": "a", "numbers": [1] * 7, "target": 1}, "too_many_numbers"),
        ({"task_id": "a", "numbers": [1], "target": "1"}, "bad_type:target"),
        ({"task_id": "a", "numbers": [1], "target": 24.5}, "not_integral:target"),
        ({"task_id": "a", "numbers": [1], "target": 10**13}, "magnitude"),
        ({"task_id": "a", "numbers": [1], "target": 1, "solution": 1}, "bad_type:solution"),
        ({"task_id": "a", "nums": [1], "numbers": [2], "target": 1}, "conflicting_fields:nums,numbers"),
        ({"task_id": "a", "numbers": [1], "target": 1}, None),
        ({"task_id": "a", "numbers": [1], "target": 1, "solution": "1", "extra": 0}, None),
    ],
)
def test_validate_row(row, reason):
    assert validate_row(row) == reason


def test_registry():
    assert TASKS["countdown"] == (CountdownConfig, CountdownTask)
    task = make_task("countdown", {"seed": 5, "counts": (3,)})
    assert task.name == "countdown"
    assert task.config.counts == [3]
    with pytest.raises(ValueError, match="num_trian"):
        make_task("countdown", {"num_trian": 5})
    with pytest.raises(ValueError, match="unknown task"):
        make_task("chess", {})


@pytest.mark.parametrize(
    "config",
    [
        {"counts": []},
        {"counts": [0]},
        {"counts": [7]},
        {"min_number": 5, "max_number": 4},
        {"min_number": -1},
        {"min_target": 10, "max_target": 1},
        {"num_train": -1},
        {"seed": "0"},
        {"reflection_hint": "answer"},
    ],
)
def test_config_validation(config):
    with pytest.raises(ValueError):
        CountdownConfig(**config)


def test_impossible_config_raises_instead_of_looping():
    task = make_task("countdown", {"num_train": 50, "num_test": 0, "counts": [1], "max_number": 5, "max_target": 5})
    with pytest.raises(ValueError, match="too few distinct problems"):
        task.build_splits()


def test_every_prompt_file_states_the_bare_retry_request(tmp_path):
    """The control's retry request lives in the prompt files like every other prompt; a custom file without one
    gets the shipped text."""
    import yaml

    from r3_pipeline.prompts import ASSETS_DIR, DEFAULT_BARE_RETRY, load_prompts

    for path in sorted((ASSETS_DIR / "prompts").glob("*.yaml")):
        assert isinstance(yaml.safe_load(path.read_text()).get("bare_retry"), str), path.name
    assert CountdownTask(CountdownConfig()).bare_retry_prompt() == DEFAULT_BARE_RETRY
    custom = tmp_path / "custom.yaml"
    custom.write_text("attempt: a\nreflection: b\nretry: c\n")
    assert load_prompts("countdown", str(custom))["bare_retry"] == DEFAULT_BARE_RETRY
