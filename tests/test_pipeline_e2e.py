"""End to end: materialize the whole asset graph of a micro spec on a real Dagster instance, with a real MLflow
SQLite store, real DuckDB over Parquet, and real TRL training launched through accelerate and Dagster Pipes."""

from __future__ import annotations

import os

import mlflow
import pytest
from dagster import DagsterInstance
from mlflow import MlflowClient

from r3_pipeline import tracking
from r3_pipeline.defs import build_definitions
from r3_pipeline.layout import Layout, read_json
from r3_pipeline.store import TrajectoryStore


@pytest.mark.parametrize("name,registered", [("micro", "r3-micro-test"), ("micro_fc", "r3-micro-fc-test")])
def test_whole_graph_materializes(tmp_path, specs_dir, dagster_home, name, registered):
    home = tmp_path / "r3home"
    defs = build_definitions(specs_dir, home=str(home))
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(f"{name}_pipeline").execute_in_process(instance=instance)
        assert result.success
        checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
                  for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        assert checks["train_test_disjoint"] and checks["verifier_sanity"] and checks["rejection_rate"]
        assert checks["r3_integrity"] and checks["mining_train_rows_only"]
        events = {e.asset_key.path[-1]: e for e in result.get_asset_materialization_events()}
        materialized = set(events)
        curves = events["r3_model"].materialization.metadata["training_curves_embedded"].value
        assert curves.startswith("![plot](data:image/png;base64,")
        assert materialized == {"tasks", "base_model", "baseline", "r3_model", "evaluation", "registered_model"}
        # The run is in the persistent instance, as the UI would show it.
        assert instance.get_run_by_id(result.run_id) is not None

    layout = Layout(home)
    store = TrajectoryStore(layout.store_root)
    by_stage = dict(store.sql("SELECT stage, count(*) FROM episodes WHERE spec = ? GROUP BY stage", [name])[1])
    assert by_stage["mining"] == 24 * 2
    assert by_stage["evaluation"] == 24 * 3  # base and trained with reflection, base with a bare retry
    modes = dict(store.sql("SELECT retry_mode, count(*) FILTER (WHERE reflection IS NOT NULL) FROM episodes "
                           "WHERE spec = ? AND stage = 'evaluation' GROUP BY 1", [name])[1])
    assert set(modes) == {"reflection", "bare"} and modes["bare"] == 0  # the control never reflects
    ev = read_json(layout.spec(name).evaluation_results)
    assert ev["results"]["vanilla_bare_retry"]["first"] == ev["results"]["vanilla"]["first"]  # same greedy first attempt
    assert ev["gains"]["second"]["n"] == 24
    assert ev["gains"]["second"]["diff"] == ev["results"]["trained"]["second"] - ev["results"]["vanilla"]["second"]
    assert by_stage["training"] == 3 * 8  # 3 steps x 8 sequences
    # Training rollouts reward exactly the retry's verdict, and every one has a reflection.
    mismatched = store.sql("SELECT count(*) FROM episodes WHERE stage = 'training' AND "
                           "(reflection IS NULL OR reward <> CAST(retry_correct AS DOUBLE))")[1][0][0]
    assert mismatched == 0
    assert store.sql("SELECT count(*) FROM retry_success WHERE spec = ?", [name])[1][0][0] >= 3

    failures = (layout.spec(name).failure_set).read_text().splitlines()
    assert failures, "the micro model should fail some train tasks"

    reg = read_json(layout.spec(name).registry)
    mlflow.set_tracking_uri(tracking.tracking_uri(home))
    client = MlflowClient()
    version = client.get_model_version(registered, reg["version"])
    assert reg["alias"] in version.aliases and reg["alias"] in ("champion", "challenger")
    assert version.tags["promotion_reason"] == reg["reason"]
    run = client.get_run(reg["mlflow_run_id"])
    for metric in ("reward", "r3_retry_success", "r3_reflection_tokens", "loss", "eval_trained_second_attempt"):
        assert metric in run.data.metrics, metric
    # The training process used the machine's cores (accelerate launch alone would have given it one).
    cores = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)))
    assert run.data.params["process.torch_threads"] == str(cores)
    assert run.data.params["process.bf16"] == "False"  # the micro spec asks for none
    history = client.get_metric_history(run.info.run_id, "reward")
    assert [m.step for m in history] == [1, 2, 3]
    # The share of groups with no reward spread, per step; each group is 4 rollouts of the stored rewards.
    zero = client.get_metric_history(run.info.run_id, "frac_reward_zero_std")
    spreads = store.sql("SELECT step, count(*) FILTER (WHERE s = 0) / count(*) FROM (SELECT step, task_id, "
                        "stddev_pop(reward) AS s FROM episodes WHERE spec = ? AND stage = 'training' "
                        "GROUP BY step, task_id) GROUP BY step ORDER BY step", [name])[1]
    assert [(m.step, m.value) for m in zero] == [(step + 1, pytest.approx(v)) for step, v in spreads]
