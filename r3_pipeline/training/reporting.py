"""Progress reporting from the training process: metrics to MLflow always, step progress to the progress sinks
(`r3_pipeline.progress`), and messages to a `Reporter`.

The base Reporter logs; the Dagster layer passes one that speaks Dagster Pipes and installs a progress sink
that does (`r3_pipeline.defs.pipes_training`), so the library never imports Dagster.
"""

from __future__ import annotations

import logging

from transformers import TrainerCallback

from r3_pipeline import tracking
from r3_pipeline.progress import Progress

log = logging.getLogger(__name__)


class Reporter:
    """Where the training process reports progress and its final result; this one writes to the log."""

    def info(self, message: str) -> None:
        log.info(message)

    def materialized(self, metadata: dict) -> None:
        log.info("training done: %s", metadata)


class MetricsCallback(TrainerCallback):
    """Forward every trainer log (loss, reward, KL, retry success, reflection length) to MLflow, and the step
    with reward, retry success and reflection length to progress."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.progress: Progress | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress = Progress("R3 training", state.max_steps, "steps", start=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        numeric = {k.replace("/", "_"): float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if numeric and state.is_world_process_zero:
            tracking.log_metrics(numeric, step=state.global_step)
            if self.progress is None:
                self.progress = Progress("R3 training", state.max_steps, "steps")
            # frac_reward_zero_std (TRL's): the share of groups whose rewards are all equal, which carry no signal.
            shown = {"reward": "reward", "frac_reward_zero_std": "zero_variance_groups",
                     "r3_retry_success": "retry_success", "r3_reflection_tokens": "reflection_tokens", "loss": "loss"}
            self.progress.update(state.global_step, **{v: numeric[k] for k, v in shown.items() if k in numeric})
