"""The Dagster definitions as a user meets them: `dg check defs` passes, each spec yields the asset chain with
checks, training sits in a concurrency pool, and the weekly retraining schedule starts from the champion."""

import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInvalidConfigError, DefaultScheduleStatus, build_schedule_context

from r3_pipeline.defs import build_definitions

REPO = Path(__file__).resolve().parent.parent


def test_dg_check_defs_passes():
    dg = Path(sys.executable).parent / "dg"
    proc = subprocess.run([str(dg), "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def test_spec_becomes_asset_chain_with_checks_pool_and_schedule(specs_dir):
    defs = build_definitions(specs_dir)
    graph = defs.resolve_asset_graph()
    chain = ["tasks", "base_model", "baseline", "r3_model", "evaluation", "registered_model"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert AssetKey(["micro", upstream]) in graph.get(AssetKey(["micro", downstream])).parent_keys
    for step in ("base_model", "r3_model"):  # the two training steps share the pool
        assert graph.get(AssetKey(["micro", step])).pools == {"training"}
    checks = {k.name for k in graph.asset_check_keys}
    assert {"train_test_disjoint", "verifier_sanity", "trained_not_worse"} <= checks
    schedule = defs.resolve_schedule_def("micro_weekly_retraining")
    assert schedule.cron_schedule == "0 3 * * 1"
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    with build_schedule_context() as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.run_config["ops"]["micro__base_model"]["config"]["start_from"] == "champion"


@pytest.mark.parametrize("config,path", [({"micro__baseline": {"config": {"num_tasks": "many"}}}, "num_tasks"),
                                         ({"micro__base_model": {"config": {"start_from": "yesterday"}}}, "start_from"),
                                         ({"micro__baseline": {"config": {"num_taks": 5}}}, "num_taks")])
def test_bad_run_config_fails_at_launch_naming_the_field(specs_dir, dagster_home, tmp_path, config, path):
    defs = build_definitions(specs_dir, home=str(tmp_path / "home"))
    with pytest.raises(DagsterInvalidConfigError, match=path):
        defs.resolve_job_def("micro_pipeline").execute_in_process(run_config={"ops": config})
    assert not (tmp_path / "home").exists()  # nothing ran


def test_out_of_range_run_config_fails_its_step_before_work(specs_dir, dagster_home, tmp_path):
    defs = build_definitions(specs_dir, home=str(tmp_path / "home"))
    result = defs.resolve_job_def("micro_pipeline").execute_in_process(
        run_config={"ops": {"micro__baseline": {"config": {"samples_per_task": -2}}}}, raise_on_error=False,
        asset_selection=[AssetKey(["micro", "tasks"]), AssetKey(["micro", "baseline"])])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "micro__baseline" and "samples_per_task" in str(failure.event_specific_data.error)
    assert not (tmp_path / "home" / "store" / "episodes").exists() or not any(
        (tmp_path / "home" / "store" / "episodes").glob("mining-*"))


def test_an_installed_package_files_its_runs_under_the_clones_code_location(tmp_path):
    """Installed from a wheel, the package has no workspace.yaml beside it (the clone's is not package data): `r3 run`
    must still file runs under the code location the UI lists, the one of the repository's workspace.yaml."""
    import yaml

    from r3_pipeline.defs.run import DEFAULT_WORKSPACE, WORKSPACE, job_origin

    assert WORKSPACE.exists()  # a clone: the file the UI and `make ui` load
    cloned = job_origin("micro_pipeline")
    installed = job_origin("micro_pipeline", workspace=tmp_path / "site-packages" / "workspace.yaml")
    assert installed is not None, "no code location without workspace.yaml: runs would be filed under none"
    location = lambda origin: origin.repository_origin.code_location_origin.location_name  # noqa: E731
    assert location(installed) == location(cloned) == "r3_pipeline.definitions"
    assert installed.job_name == cloned.job_name == "micro_pipeline"
    module = lambda text: yaml.safe_load(text)["load_from"][0]["python_module"]["module_name"]  # noqa: E731
    assert module(DEFAULT_WORKSPACE) == module(WORKSPACE.read_text())
