"""Materialize spec pipelines on the persistent Dagster instance (what `r3 run` and `make run` do), so every run
shows up in `make ui` afterwards with its logs, metadata and checks.

A run killed with SIGKILL never records its end: it stays STARTED and keeps its slot in the `training` pool,
which would block every later training run. Runs started here carry the host and pid of their process, so
the next run can tell a dead one from one still going, mark it failed and free its slots.
"""

import os
import socket

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, Definitions, ExecuteInProcessResult, RunsFilter

from r3_pipeline.defs import build_definitions
from r3_pipeline.spec import Spec

HOST_TAG, PID_TAG = "r3/host", "r3/pid"
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def materialize_specs(specs: list[Spec]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Run each spec's job in turn; returns seconds per asset by spec, and the names of failed specs."""
    defs = build_definitions()
    seconds, failed = {}, []
    with DagsterInstance.get() as instance:
        for spec in specs:
            result = execute(defs, instance, spec.name)
            if not result.success:
                failed.append(f"{spec.name} (run {result.run_id})")
                continue
            stats = instance.get_run_step_stats(result.run_id)
            seconds[spec.name] = {s.step_key.split("__", 1)[-1]: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    return seconds, failed


def execute(defs: Definitions, instance: DagsterInstance, spec: str, assets: list[str] | None = None,
            run_config: dict | None = None) -> ExecuteInProcessResult:
    """Materialize `assets` of a spec (default: all) in this process, after reclaiming runs whose process died."""
    reclaim_dead_runs(instance)
    selection = [AssetKey([spec, a]) for a in assets] if assets else None
    return defs.resolve_job_def(f"{spec}_pipeline").execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=selection, run_config=run_config,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})


def reclaim_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs started on this host by a process that no longer exists; free their
    pool slots. Returns their run ids."""
    host, reclaimed = socket.gethostname(), []
    for run in instance.get_runs(RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid and not _alive(pid):
            instance.report_run_failed(run, f"process {pid} that ran it is gone (killed?); marked failed by r3")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reclaimed.append(run.run_id)
    return reclaimed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
