"""Materialize spec pipelines on the persistent Dagster instance (what `r3 run` and `make run` do), so every run
shows up in `make ui` afterwards with its logs, metadata and checks."""

from dagster import DagsterInstance

from r3_pipeline.defs import build_definitions
from r3_pipeline.spec import Spec


def materialize_specs(specs: list[Spec]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Run each spec's job in turn; returns seconds per asset by spec, and the names of failed specs."""
    defs = build_definitions()
    seconds, failed = {}, []
    with DagsterInstance.get() as instance:
        for spec in specs:
            result = defs.resolve_job_def(f"{spec.name}_pipeline").execute_in_process(instance=instance, raise_on_error=False)
            if not result.success:
                failed.append(f"{spec.name} (run {result.run_id})")
                continue
            stats = instance.get_run_step_stats(result.run_id)
            seconds[spec.name] = {s.step_key.split("__", 1)[-1]: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    return seconds, failed
