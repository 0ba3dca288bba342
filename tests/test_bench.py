"""The benchmarks behind `r3 bench` run on tiny sizes and measure what they claim to measure.

No timing thresholds here (speed targets are printed by the benchmarks, PASS or MISS); these tests check the
work being timed: the verifier peers agree on every workload item, the store holds every row the ingest wrote
(and its fast conversion equals the reference one), and the training-step breakdown adds up to the step.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks import store as store_bench
from benchmarks import train_step, verifiers
from r3_pipeline.store import EPISODE_SCHEMA, TrajectoryStore
from r3_pipeline.store import trajectories


# -- verifiers ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def verifier_figures() -> dict:
    return verifiers.figures(rows=12, rounds=1)


def test_verifier_peers_agree_on_every_workload_item(verifier_figures: dict) -> None:
    cd, fc = verifier_figures["countdown"], verifier_figures["function_calling"]
    assert cd["disagreements"] == [] and fc["disagreements"] == [] and verifier_figures["agree"]
    assert {k: f["items"] for k, f in cd["kinds"].items()} == {
        "correct": 12, "wrong_value": 12, "wrong_numbers": 12, "malformed": 12}
    assert {k: f["items"] for k, f in fc["kinds"].items()} == {"correct": 12, "wrong": 12, "malformed": 12}


def test_verifier_figures_are_rates_and_ratios(verifier_figures: dict) -> None:
    cd, fc = verifier_figures["countdown"], verifier_figures["function_calling"]
    assert set(cd["per_s"]) == {"ours", "sympy", "eval"} and set(fc["per_s"]) == {"ours", "naive"}
    assert all(rate > 0 for rate in [*cd["per_s"].values(), *fc["per_s"].values()])
    assert cd["ratios"]["eval"] == pytest.approx(cd["per_s"]["ours"] / cd["per_s"]["eval"])
    assert set(cd["pass"]) == {"sympy", "eval"}
    table = verifiers.format_table(verifier_figures)
    assert "sympy parse_expr" in table and ("PASS" in table or "MISS" in table)


def test_disagreement_is_detected() -> None:
    row = {"numbers": [8, 3, 4], "target": 20}
    items = [("correct", row, "<answer>(8 - 3) * 4</answer>"), ("malformed", row, "<answer>(8 - 3) * 4</answer>")]
    found = verifiers.disagreements(items, {"ours": verifiers.ours_countdown, "eval": verifiers.eval_countdown})
    assert [d["kind"] for d in found] == ["malformed"]  # both verifiers say correct, the kind says otherwise


# -- store ----------------------------------------------------------------------------------------------------------

def test_store_bench_reads_back_every_written_row(tmp_path: Path) -> None:
    figures = store_bench.figures(batches=2, batch_rows=300, repeats=1, root=tmp_path)
    assert figures["ingest"]["rows"] == 600
    assert figures["counts"] == {"episodes_raw": 600, "episodes": 600, "retry_success_episodes": 600}
    timed = set(figures["queries"])
    assert {"view retry_success", "view failure_reasons", "view reflection_stats"} <= timed
    assert set(store_bench.documented_views(TrajectoryStore(tmp_path / "any"))) <= timed  # every view in the SQL
    assert set(store_bench.QUERIES) <= timed
    assert all(q["seconds"] > 0 and q["rows"] > 0 for q in figures["queries"].values())
    assert "rows/s" in store_bench.format_table(figures)


def test_fast_episode_conversion_equals_reference() -> None:
    rows = store_bench.synthetic_rows(3, 500)
    reference = pa.Table.from_arrays([trajectories._episode_column(rows, f) for f in EPISODE_SCHEMA],
                                     schema=EPISODE_SCHEMA)
    fast = trajectories.episodes_table(rows)
    assert fast.schema.equals(EPISODE_SCHEMA) and fast.equals(reference)


@pytest.mark.parametrize(("index", "change", "message"), [
    (700, {"sample_idx": "x"}, "column sample_idx: Could not convert 'x'"),
    (900, {"prompt": None}, r"column prompt: required but 1 value\(s\) are null"),
    (650, {"drop": "first_correct"}, r"row 650: missing required column\(s\) first_correct"),
    (999, {"bogus": 1}, r"row 999: unknown column\(s\) bogus"),
])
def test_bad_value_deep_in_a_batch_is_named(tmp_path: Path, index: int, change: dict, message: str) -> None:
    rows = store_bench.synthetic_rows(0, 1000)
    if "drop" in change:
        del rows[index][change["drop"]]
    else:
        rows[index].update(change)
    store = TrajectoryStore(tmp_path / "store")
    with pytest.raises(ValueError, match=message):
        store.write(rows)
    assert store.count() == 0


# -- training step --------------------------------------------------------------------------------------------------

def test_train_step_breakdown_adds_up_to_the_step() -> None:
    tiny = dict(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)
    figures = train_step.figures(warmup=1, steps=1, prompts=2, generations=2, prompts_per_step=1,
                                 reflection_tokens=4, retry_tokens=4, model=tiny)
    for name, generation_parts in (("r3", (train_step.REFLECTION, train_step.RETRY)),
                                   ("grpo", (train_step.GENERATION,))):
        fig = figures[name]
        assert fig["steps"] == 1 and fig["mean_s"] > 0
        for step in fig["per_step"]:
            parts = train_step.leaves(step)
            # Every part, derived ones included, is non-negative: the measured parts nest as assumed and
            # together never exceed the step.
            assert all(v >= 0 for v in parts.values()), parts
            assert sum(parts.values()) == pytest.approx(step[train_step.STEP])
            assert all(step[p] > 0 for p in (*generation_parts, train_step.VERIFY, train_step.LOSS,
                                             train_step.BACKWARD))
    assert figures["ratio"] == pytest.approx(figures["r3"]["mean_s"] / figures["grpo"]["mean_s"])
    assert "R3 / GRPO" in train_step.format_table(figures)


# -- tasks ----------------------------------------------------------------------------------------------------------

def test_task_speed_bench_times_every_case_against_its_target() -> None:
    from benchmarks import tasks

    figures = tasks.figures(solver_problems=5, synthetic_rows=50, splits=False)
    assert len(figures) == 7
    assert all(f["seconds"] >= 0 and f["target_s"] > 0 and f["ok"] == (f["seconds"] < f["target_s"])
               for f in figures.values())
    assert "target" in tasks.format_table(figures)
