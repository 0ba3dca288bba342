"""Progress of the long stages (warm start, mining, R3 training, evaluation), reported without knowing who listens.

A stage makes a `Progress` and calls `update(done, **figures)` as it goes; every update goes to the sinks
installed around it with `reporting_to(sink)` (the terminal display of `r3 run`, the Dagster run's event log,
Dagster Pipes in the training process). The library never imports Dagster: the Dagster layer installs sinks.
With no sink installed, updates go to the `logging` module at the rate of `Throttle()`.

Each update renders as one line (`ProgressUpdate.message`) that `parse_progress` reads back, so a progress
line in an event log, which stores text only, still carries done/total and the figures.
"""

from __future__ import annotations

import contextvars
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MARK = "progress"  # every progress message starts with this word, so readers of an event log can find them

Sink = Callable[["ProgressUpdate"], None]
_SINKS: contextvars.ContextVar[tuple[Sink, ...]] = contextvars.ContextVar("r3_progress_sinks", default=())


@dataclass(frozen=True)
class ProgressUpdate:
    """Where a stage stands: `done` of `total` `unit`, after `elapsed_s` seconds, with stage figures (loss, reward)."""

    stage: str
    done: int
    total: int
    unit: str
    elapsed_s: float
    figures: dict = field(default_factory=dict)
    start: int = 0  # units already done when timing began (a resumed training), left out of the rate

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0

    @property
    def rate(self) -> float:
        """Units per second so far."""
        return (self.done - self.start) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float:
        """Seconds left at the rate so far (inf before the first unit is done)."""
        return (self.total - self.done) / self.rate if self.rate > 0 else math.inf

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def message(self) -> str:
        """One line: `progress warm start: 120/3000 steps (4%), 2.10 steps/s, 22m 51s left | loss=1.234`."""
        text = (f"{MARK} {self.stage}: {self.done}/{self.total} {self.unit} ({100 * self.fraction:.0f}%), "
                f"{self.rate:.3g} {self.unit}/s, ")
        text += f"done in {format_seconds(self.elapsed_s)}" if self.finished else f"{format_seconds(self.eta_s)} left"
        if self.figures:
            text += " | " + ", ".join(f"{k}={_figure(v)}" for k, v in self.figures.items())
        return text


_LINE = re.compile(rf"^{MARK} (?P<stage>[^:]+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\S+) \(\d+%\), "
                   r"[^,]+/s, (?:done in (?P<took>[^|]+?)|(?P<left>[^|]+?) left)(?: \| (?P<figures>.*))?$")


def parse_progress(message: str) -> ProgressUpdate | None:
    """The update a `message()` line came from (figures as text, elapsed from the stated time); None if not one."""
    m = _LINE.match(message.strip())
    if not m:
        return None
    figures = dict(part.split("=", 1) for part in m["figures"].split(", ") if "=" in part) if m["figures"] else {}
    done, total = int(m["done"]), int(m["total"])
    took = parse_seconds(m["took"]) if m["took"] else None
    if took is None:  # elapsed from the time left and the rate implied by it
        left = parse_seconds(m["left"] or "")
        took = left * done / (total - done) if left and total > done and math.isfinite(left) else 0.0
    return ProgressUpdate(m["stage"], done, total, m["unit"], took, figures)


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def parse_seconds(text: str) -> float:
    """Inverse of `format_seconds` ("?" is inf)."""
    text = text.strip()
    if text == "?":
        return math.inf
    total = 0.0
    for number, unit in re.findall(r"(\d+)([hms])", text):
        total += int(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def _figure(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Throttle:
    """Lets an update through when the stage has moved `every_fraction` of its total or `every_s` seconds have
    passed since the last one let through; the first and the final update always pass."""

    def __init__(self, every_fraction: float = 0.05, every_s: float = 30.0):
        self.every_fraction, self.every_s = every_fraction, every_s
        self._last: dict[str, tuple[float, float]] = {}  # stage -> (fraction, monotonic time) last let through

    def due(self, update: ProgressUpdate) -> bool:
        now = time.monotonic()
        last = self._last.get(update.stage)
        if (last is None or (update.finished and last[0] < 1.0) or update.fraction - last[0] >= self.every_fraction - 1e-9
                or now - last[1] >= self.every_s):
            self._last[update.stage] = (update.fraction, now)
            return True
        return False


def throttled(sink: Sink, throttle: Throttle | None = None) -> Sink:
    throttle = throttle or Throttle()

    def send(update: ProgressUpdate) -> None:
        if throttle.due(update):
            sink(update)

    return send


_default_sink = throttled(lambda u: log.info(u.message()))


@contextmanager
def reporting_to(*sinks: Sink) -> Iterator[None]:
    """Send the progress of every stage run inside the block to `sinks` too (nested blocks add theirs)."""
    token = _SINKS.set(_SINKS.get() + sinks)
    try:
        yield
    finally:
        _SINKS.reset(token)


class Progress:
    """Progress of one stage; updates go to the installed sinks, never raise into the stage."""

    def __init__(self, stage: str, total: int, unit: str, start: int = 0):
        self.stage, self.total, self.unit = stage, max(int(total), 0), unit
        self.started_at = time.monotonic()
        self.start = self.done = int(start)

    def update(self, done: int, **figures) -> None:
        self.done = int(done)
        update = ProgressUpdate(self.stage, self.done, self.total, self.unit, time.monotonic() - self.started_at,
                                {k: v for k, v in figures.items() if v is not None}, self.start)
        for sink in _SINKS.get() or (_default_sink,):
            try:
                sink(update)
            except Exception:  # a broken display must not stop training
                log.exception("progress sink failed")
