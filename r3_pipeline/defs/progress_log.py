"""Progress of a long asset into its Dagster run's event log, so the run page shows what step it is on.

`with progress_to_event_log(context):` around a stage sends the stage's `r3_pipeline.progress` updates to
`context.log` at a rate the event log can carry (every 5% of the stage, or every 30 s, whichever first).
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from r3_pipeline.progress import Throttle, reporting_to, throttled

EVENT_LOG_EVERY_FRACTION, EVENT_LOG_EVERY_S = 0.05, 30.0


@contextmanager
def progress_to_event_log(context) -> Iterator[None]:
    rate = Throttle(EVENT_LOG_EVERY_FRACTION, EVENT_LOG_EVERY_S)
    with reporting_to(throttled(lambda update: context.log.info(update.message()), rate)):
        yield
