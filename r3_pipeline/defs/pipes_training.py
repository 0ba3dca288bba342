"""The training process as Dagster launches it: `r3_pipeline.training.train.run` with progress and the final
result reported through Dagster Pipes, so the r3_model asset's run shows the training step, reward and retry
success in its event log as training goes, and the result as materialization metadata.

With several training processes only the main one opens Pipes: every process that did would send each message,
and the materialization, once more (the others train in lockstep and report nothing)."""

import dagster_pipes

from r3_pipeline.progress import Throttle, reporting_to, throttled
from r3_pipeline.training.distributed import is_main_launch_process
from r3_pipeline.training.reporting import Reporter
from r3_pipeline.training.train import parse_job, run

# Training steps are slow and few: a line every 5% of the steps, or every 10 s, whichever comes first.
TRAINING_LOG_RATE = Throttle(every_fraction=0.05, every_s=10)


class PipesReporter(Reporter):
    def __init__(self, pipes: dagster_pipes.PipesContext):
        self.pipes = pipes

    def info(self, message: str) -> None:
        self.pipes.log.info(message)

    def materialized(self, metadata: dict) -> None:
        self.pipes.report_asset_materialization(metadata=metadata)


def main() -> None:
    job = parse_job()
    if not is_main_launch_process():
        run(job)
        return
    with dagster_pipes.open_dagster_pipes() as pipes:
        reporter = PipesReporter(pipes)
        with reporting_to(throttled(lambda update: reporter.info(update.message()), TRAINING_LOG_RATE)):
            run(job, reporter)


if __name__ == "__main__":
    main()
