"""Mining's reflection pass rates and the pass-rate filter (`mining.keep: mixed`): the filter keeps exactly the
prompts whose sampled reflections neither all fail nor all succeed; the pass-rate episodes are stored once, on the
given failed attempts, resume without regenerating, and touch train rows only (the `mining_train_rows_only` check)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from r3_pipeline import pass_rates, stages
from r3_pipeline.layout import Layout, read_jsonl, write_jsonl
from r3_pipeline.spec import SpecError, parse_spec
from r3_pipeline.store import TrajectoryStore
from tests.support import MICRO_SPEC


def _failure(task_id: str) -> dict:
    return {"row": {"task_id": task_id}, "failed_attempt": "wrong", "samples": 2, "failed_samples": 1}


def _records(task_id: str, successes: int, k: int) -> list[dict]:
    return [{"task_id": task_id, "retry_correct": j < successes} for j in range(k)]


def test_mixed_keeps_only_prompts_whose_reflections_sometimes_help():
    k, wins = 4, {"none": 0, "one": 1, "half": 2, "all": 4, "three": 3}
    failures = [_failure(t) for t in wins]
    records = [r for t, n in wins.items() for r in _records(t, n, k)]
    kept, stats = pass_rates.pass_rate_filter(failures, records, k, "mixed")
    assert [f["row"]["task_id"] for f in kept] == ["one", "half", "three"]
    assert [f["reflection_pass_rate"] for f in kept] == [0.25, 0.5, 0.75]
    assert stats["failures_before_filter"] == 5
    assert stats["pass_rate_histogram"] == {"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
    assert (stats["prompts_all_fail"], stats["prompts_all_pass"], stats["prompts_mixed"]) == (0.2, 0.2, 0.6)
    assert stats["reflection_pass_rate"] == pytest.approx(10 / 20)
    # 'any' measures the same rates and keeps every failure.
    every, same = pass_rates.pass_rate_filter(failures, records, k, "any")
    assert [f["reflection_successes"] for f in every] == list(wins.values()) and same == stats
    assert "reflection_successes" not in failures[0]  # the caller's entries are left as they were


def test_mixed_needs_reflection_samples():
    data = {**MICRO_SPEC, "mining": {**MICRO_SPEC["mining"], "keep": "mixed"}}
    with pytest.raises(SpecError, match="'mixed' needs the reflection pass rate"):
        parse_spec(data)
    data["mining"]["reflection_samples"] = 4
    assert parse_spec(data).mining.keep == "mixed"


def test_pass_rate_sampling_defaults_are_r3configs():
    from r3_pipeline.training.r3_config import R3Config

    defaults = {f.name: f.default for f in fields(R3Config)}
    assert pass_rates.R3_SAMPLING_DEFAULTS == {name: defaults[name] for name in pass_rates.R3_SAMPLING_DEFAULTS}


def test_pass_rates_are_stored_on_the_mined_attempts_resume_and_stay_on_train_rows(tmp_path):
    data = {**MICRO_SPEC, "mining": {**MICRO_SPEC["mining"], "reflection_samples": 3, "chunk_tasks": 8}}
    spec, layout = parse_spec(data), Layout(tmp_path)
    stages.prepare_tasks(spec, layout)
    stages.build_base_model(spec, layout)
    result = stages.mine_failures(spec, layout, "run-1")
    failures = read_jsonl(layout.spec("micro").failure_set)
    assert failures and result["failures_before_filter"] == len(failures) == result["failures"]
    assert sum(result["pass_rate_histogram"].values()) == len(failures)
    store = TrajectoryStore(layout.store_root)
    rows = store.sql("SELECT task_id, sample_idx, first_attempt, first_correct, reflection_tokens, retry_correct "
                     "FROM episodes WHERE stage = 'pass_rate' ORDER BY task_id, sample_idx")[1]
    assert len(rows) == 3 * len(failures)
    by_task = {f["row"]["task_id"]: f for f in failures}
    for task_id, _, attempt, first_correct, tokens, _ in rows:
        assert attempt == by_task[task_id]["failed_attempt"] and first_correct is False and tokens is not None
    for task_id, f in by_task.items():
        mine = [r for r in rows if r[0] == task_id]
        assert [r[1] for r in mine] == [0, 1, 2]
        assert f["reflection_successes"] == sum(bool(r[5]) for r in mine)
    # Reflections as training samples them: its max_reflection_tokens (16), not mining's max_new_tokens (24).
    assert max(r[4] for r in rows) <= MICRO_SPEC["training"]["overrides"]["max_reflection_tokens"] == 16

    again = stages.mine_failures(spec, layout, "run-2")  # a rerun reuses every stored chunk
    assert again["chunks_generated"] == again["pass_rate_chunks_generated"] == 0
    assert again["pass_rate_chunks_reused"] == result["pass_rate_chunks_generated"] > 0
    assert store.sql("SELECT count(*) FROM episodes WHERE stage = 'pass_rate'")[1][0][0] == len(rows)
    assert read_jsonl(layout.spec("micro").failure_set) == failures

    integrity = pass_rates.mining_integrity(spec, layout)
    assert integrity["ok"] and integrity["failure_set"] == len(failures)
    held_out = stages.load_split(spec, layout, "test")[0]
    write_jsonl(layout.spec("micro").failure_set, [*failures, {"row": held_out, "failed_attempt": "x"}])
    assert pass_rates.mining_integrity(spec, layout) | {"ok": None} == {**integrity, "failure_set": len(failures) + 1,
                                                                   "held_out": 1, "ok": None}
    assert not pass_rates.mining_integrity(spec, layout)["ok"]
    warm_row = stages.load_split(spec, layout, "train")[0]
    write_jsonl(layout.spec("micro").failure_set, [{"row": warm_row, "failed_attempt": "x"}])
    assert pass_rates.mining_integrity(spec, layout)["warm_start"] == 1
    assert not pass_rates.mining_integrity(spec, layout)["ok"]


def test_r3_headroom_measures_the_gates_on_held_out_tasks(tmp_path, monkeypatch, capsys):
    import json

    import yaml

    from r3_pipeline.cli import main

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "micro.yaml").write_text(yaml.safe_dump(MICRO_SPEC))
    monkeypatch.setenv("R3_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("R3_SPECS_DIR", str(specs))
    spec, layout = parse_spec(MICRO_SPEC), Layout(tmp_path / "home")
    stages.prepare_tasks(spec, layout)
    stages.build_base_model(spec, layout)
    results = {}
    for temperature in (0.0, 1.0):
        assert main(["headroom", "--spec", "micro", "--tasks", "20", "--samples", "3", "--temperature",
                     str(temperature), "--engine", "transformers"]) == 0
        written = layout.spec("micro").root / "headroom" / f"base-T{temperature}.json"
        results[temperature] = json.loads(written.read_text())
    out = capsys.readouterr().out
    assert "20 held-out tasks" in out and "pass@k of sampled reflections" in out
    greedy, sampled = results[0.0], results[1.0]
    for r in (greedy, sampled):
        assert r["tasks"] == 20 and r["failures"] == round(20 * (1 - r["first"]))
        assert r["second_reflection"] == pytest.approx(r["first"] + r["retry_greedy"] * r["failures"] / 20)
        assert r["pass_at_k"] >= r["retry_sampled_mean"] and r["ceiling_second"] >= r["first"]
    # Greedy "samples" are the greedy reflection k times over: the same success, and no group with a spread.
    assert greedy["retry_sampled_mean"] == greedy["pass_at_k"] == greedy["retry_greedy"]
    assert greedy["mixed_groups"] == 0
    assert sampled["first"] == greedy["first"] and sampled["retry_teacher"] == greedy["retry_teacher"]
