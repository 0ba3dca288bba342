"""The training process as Dagster launches it: `r3_pipeline.training.train.run` with progress and the final
result reported through Dagster Pipes, so the r3_model asset shows step metrics in its logs and the result as
materialization metadata."""

import dagster_pipes

from r3_pipeline.training.reporting import Reporter
from r3_pipeline.training.train import parse_job, run


class PipesReporter(Reporter):
    def __init__(self, pipes: dagster_pipes.PipesContext):
        self.pipes = pipes

    def info(self, message: str) -> None:
        self.pipes.log.info(message)

    def materialized(self, metadata: dict) -> None:
        self.pipes.report_asset_materialization(metadata=metadata)


def main() -> None:
    job = parse_job()
    with dagster_pipes.open_dagster_pipes() as pipes:
        run(job, PipesReporter(pipes))


if __name__ == "__main__":
    main()
