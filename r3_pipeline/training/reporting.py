"""Progress reporting from the training process: to MLflow always, and to Dagster through Pipes when the
process was launched by a Dagster asset (the `dagster-pipes` package is Dagster's dependency-free protocol for
external processes; the library itself never imports Dagster). Outside Dagster, progress goes to the log.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

import mlflow
from transformers import TrainerCallback

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, pipes=None):
        self.pipes = pipes

    def info(self, message: str) -> None:
        (self.pipes.log.info if self.pipes else log.info)(message)

    def materialized(self, metadata: dict) -> None:
        if self.pipes:
            self.pipes.report_asset_materialization(metadata=metadata)
        else:
            log.info("training done: %s", metadata)


@contextmanager
def open_reporter():
    if "DAGSTER_PIPES_CONTEXT" not in os.environ:
        yield Reporter()
        return
    import dagster_pipes

    with dagster_pipes.open_dagster_pipes() as pipes:
        yield Reporter(pipes)


class MetricsCallback(TrainerCallback):
    """Forward every trainer log (loss, reward, KL, retry success, reflection length) to MLflow and the reporter."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def on_log(self, args, state, control, logs=None, **kwargs):
        numeric = {k.replace("/", "_"): float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if numeric and state.is_world_process_zero:
            mlflow.log_metrics(numeric, step=state.global_step)
            keys = ("reward", "r3_retry_success", "r3_reflection_tokens", "loss", "kl")
            shown = ", ".join(f"{k}={numeric[k]:.4g}" for k in keys if k in numeric)
            self.reporter.info(f"step {state.global_step}/{state.max_steps}: {shown}")
