"""Progress reporting from the training process: metrics to MLflow always, and messages to a `Reporter`.

The base Reporter logs; the Dagster layer passes one that speaks Dagster Pipes
(`r3_pipeline.defs.pipes_training`), so the library never imports Dagster.
"""

from __future__ import annotations

import logging

import mlflow
from transformers import TrainerCallback

log = logging.getLogger(__name__)


class Reporter:
    """Where the training process reports progress and its final result; this one writes to the log."""

    def info(self, message: str) -> None:
        log.info(message)

    def materialized(self, metadata: dict) -> None:
        log.info("training done: %s", metadata)


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
