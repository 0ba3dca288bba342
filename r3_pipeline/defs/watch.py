"""Follows a Dagster run's event log as it is written and tells the terminal `Console` what happens: an asset
starts, ends (with its seconds and key figure, the `summary` metadata entry) or fails, a check passes or fails,
and progress lines (from any process, the training one through Pipes included) move the bar.

It reads the instance's event log storage from a thread, so it shows the same events the Dagster UI does,
whichever process wrote them.
"""

from __future__ import annotations

import threading

from dagster import DagsterEventType, DagsterInstance

from r3_pipeline.console import Console
from r3_pipeline.progress import MARK, parse_progress

ASSETS = ("tasks", "base_model", "baseline", "r3_model", "evaluation", "registered_model")


def _summary(metadata: dict) -> str:
    entry = metadata.get("summary")
    return str(getattr(entry, "value", entry)) if entry is not None else ""


class RunWatcher:
    """`with RunWatcher(instance, run_id, console):` around a run shows its events on `console`."""

    def __init__(self, instance: DagsterInstance, run_id: str, console: Console, poll_s: float = 0.5):
        self.instance, self.run_id, self.console, self.poll_s = instance, run_id, console, poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="r3-run-watcher", daemon=True)
        self._cursor: str | None = None
        self._figures: dict[str, str] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> "RunWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()
        self.poll()  # what was written between the last poll and the run's end

    def poll(self) -> None:
        while True:
            conn = self.instance.event_log_storage.get_records_for_run(self.run_id, cursor=self._cursor, limit=500)
            for record in conn.records:
                self.show(record.event_log_entry)
            self._cursor = conn.cursor
            if not conn.has_more:
                return

    def show(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            if entry.user_message.startswith(MARK + " "):
                update = parse_progress(entry.user_message)
                if update:
                    self.console.progress(update)
            return
        spec, _, name = (entry.step_key or "").partition("__")
        kind = event.event_type
        if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.asset_check_evaluation_data
            self.console.check(data.asset_key.path[0], data.asset_key.path[-1], data.check_name, data.passed,
                               data.description or "")
        elif name not in ASSETS:
            return
        elif kind == DagsterEventType.STEP_START:
            self._started[name] = entry.timestamp
            self.console.asset_started(spec, name)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            self._figures[name] = _summary(event.event_specific_data.materialization.metadata)
        elif kind == DagsterEventType.STEP_SUCCESS:
            self.console.asset_finished(spec, name, event.event_specific_data.duration_ms / 1000,
                                        self._figures.get(name, ""))
        elif kind == DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error
            lines = ((error.cause or error).message if error else "failed").strip().splitlines() or ["failed"]
            seconds = entry.timestamp - self._started.get(name, entry.timestamp)
            self.console.asset_failed(spec, name, seconds, lines[-1])
