"""Materialize spec pipelines on the persistent Dagster instance (what `r3 run` and `make run` do), so every run
shows up in `make ui` afterwards with its logs, metadata and checks.

Runs execute in this process (in-process executor, as `execute_in_process` would) but are created the way the
UI creates them: with the origin of the job in the workspace's code location (`workspace.yaml`). Without it
Dagster files a run under no code location, and the job's Runs tab and the Overview timeline leave it out.
Dagster has no public call for "execute in process with this origin", so `execute` creates the run with
`instance.create_run_for_job(remote_job_origin=...)` and executes it with `execute_run`, both of Dagster's
execution API (pinned version; tests/test_run_progress.py checks the runs carry the origin).

A run killed with SIGKILL never records its end: it stays STARTED and keeps its slot in the `training` pool,
which would block every later training run. Runs started here carry the host and pid of their process, so
the next run can tell a dead one from one still going, mark it failed and free its slots.
"""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, Definitions, RunsFilter
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.load import location_origins_from_yaml_paths

from r3_pipeline.console import Console
from r3_pipeline.defs import build_definitions
from r3_pipeline.progress import reporting_to
from r3_pipeline.spec import Spec

HOST_TAG, PID_TAG = "r3/host", "r3/pid"
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def materialize_specs(specs: list[Spec], console: Console | None = None) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Run each spec's job in turn, showing its progress on `console`; returns seconds per asset by spec, and the
    names of failed specs."""
    defs = build_definitions()
    seconds, failed = {}, []
    with DagsterInstance.get() as instance:
        for spec in specs:
            result = execute(defs, instance, spec.name, console=console)
            if not result.success:
                failed.append(f"{spec.name} (run {result.run_id})")
                continue
            stats = instance.get_run_step_stats(result.run_id)
            seconds[spec.name] = {s.step_key.split("__", 1)[-1]: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    return seconds, failed


# The code location of the repository's workspace.yaml, for an installed package, which has no workspace.yaml (it is
# not package data: it names the repository as its working directory); tests/test_definitions.py keeps them equal.
DEFAULT_WORKSPACE = "load_from:\n  - python_module:\n      module_name: r3_pipeline.definitions\n"


def job_origin(job_name: str, workspace: Path = WORKSPACE) -> RemoteJobOrigin | None:
    """The origin the Dagster UI gives `job_name`: the first code location of the workspace file, or, where the
    package runs installed rather than from a clone (no workspace.yaml beside it), of `DEFAULT_WORKSPACE`."""
    if workspace.exists():
        origins = location_origins_from_yaml_paths([str(workspace)])
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="r3-workspace-") as tmp:
            generated = Path(tmp) / "workspace.yaml"
            generated.write_text(DEFAULT_WORKSPACE)
            origins = location_origins_from_yaml_paths([str(generated)])
    return RemoteRepositoryOrigin(origins[0], REPOSITORY).get_job_origin(job_name) if origins else None


def execute(defs: Definitions, instance: DagsterInstance, spec: str, assets: list[str] | None = None,
            run_config: dict | None = None, console: Console | None = None) -> JobExecutionResult:
    """Materialize `assets` of a spec (default: all) in this process, after reclaiming runs whose process died;
    with a `console`, show the run's progress on it as it goes."""
    from dagster._core.utils import make_new_run_id

    reclaim_dead_runs(instance)
    job_def = defs.resolve_job_def(f"{spec}_pipeline")
    selection = frozenset(AssetKey([spec, a]) for a in assets) if assets else None
    in_process = job_def.as_ephemeral_job(resource_defs={}, input_values={})  # the in-process executor
    selected = in_process.get_subset(asset_selection=selection) if selection else in_process
    plan = create_execution_plan(InMemoryJob(selected), run_config=run_config or {}, instance_ref=instance.get_ref())
    run = instance.create_run_for_job(
        job_def=selected, execution_plan=plan, run_id=make_new_run_id(), run_config=run_config or {},
        asset_selection=selection, remote_job_origin=job_origin(job_def.name),
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})
    with ExitStack() as stack:
        if console is not None:
            from r3_pipeline.defs.watch import RunWatcher

            stack.enter_context(RunWatcher(instance, run.run_id, console))
            stack.enter_context(reporting_to(console))
        return execute_run(InMemoryJob(in_process), run, instance)


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
