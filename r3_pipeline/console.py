"""What `r3 run` shows in the terminal: a line per asset as it starts and ends, and live progress of long stages.

On a terminal, progress is one bar line redrawn in place (at most every `redraw_s`); anywhere else (CI, a pipe,
a file) it becomes a plain line per stage at most every `every_s` seconds, never a wall of carriage returns.
Asset lines always print in full. The display is fed from two places: the Dagster run's event log (asset
starts, ends, checks, and progress from the training process) and, in-process, the progress sinks of
`r3_pipeline.progress` (so a bar moves every step, faster than the event log's rate).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from r3_pipeline.progress import ProgressUpdate, format_seconds

BAR_WIDTH = 24


class Console:
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, every_s: float = 30.0,
                 redraw_s: float = 0.2):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s, self.redraw_s = every_s, redraw_s
        self._lock = threading.Lock()
        self._bar = ""  # the bar line currently drawn (tty)
        self._drawn_at = 0.0
        self._printed_at: dict[str, float] = {}  # stage -> when its last plain progress line printed
        self._latest: dict[str, ProgressUpdate] = {}

    # -- asset lines -------------------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A line that stays (asset start/end, checks); a bar being drawn is redrawn below it."""
        with self._lock:
            self._clear_bar()
            self.stream.write(text + "\n")
            if self._bar:
                self._write_bar(self._bar)
            self.stream.flush()

    def asset_started(self, spec: str, asset: str) -> None:
        self.line(f"[{spec}] {asset:<17} started")

    def asset_finished(self, spec: str, asset: str, seconds: float, figure: str = "") -> None:
        self.end_progress()
        self.line(f"[{spec}] {asset:<17} done in {format_seconds(seconds)}" + (f": {figure}" if figure else ""))

    def asset_failed(self, spec: str, asset: str, seconds: float, error: str) -> None:
        self.end_progress()
        self.line(f"[{spec}] {asset:<17} FAILED after {format_seconds(seconds)}: {error}")

    def check(self, spec: str, asset: str, name: str, passed: bool, text: str = "") -> None:
        self.line(f"[{spec}] {asset:<17} check {name}: {'passed' if passed else 'FAILED'}" + (f" ({text})" if text else ""))

    # -- progress ----------------------------------------------------------------------------------------

    def __call__(self, update: ProgressUpdate) -> None:
        """A progress sink (`r3_pipeline.progress.reporting_to(console)`)."""
        self.progress(update)

    def progress(self, update: ProgressUpdate) -> None:
        with self._lock:
            previous = self._latest.get(update.stage)
            if previous is not None and previous.done >= update.done and previous.total == update.total:
                return  # seen already: the same update from the event log, which lags the in-process sink
            self._latest[update.stage] = update
            now = time.monotonic()
            if self.tty:
                if now - self._drawn_at >= self.redraw_s or update.finished:
                    self._clear_bar()
                    self._bar = self.bar(update)
                    self._write_bar(self._bar)
                    self._drawn_at = now
                    self.stream.flush()
            elif update.stage not in self._printed_at or now - self._printed_at[update.stage] >= self.every_s:
                self._printed_at[update.stage] = now
                self.stream.write("  " + self.plain(update) + "\n")
                self.stream.flush()

    def end_progress(self) -> None:
        """The stage's asset ended: drop its bar and forget its stages (a next run starts them afresh)."""
        with self._lock:
            self._clear_bar()
            self._bar = ""
            self._latest.clear()
            self._printed_at.clear()
            self.stream.flush()

    @staticmethod
    def plain(update: ProgressUpdate) -> str:
        return update.message().removeprefix("progress ")

    def bar(self, update: ProgressUpdate) -> str:
        filled = int(round(BAR_WIDTH * update.fraction))
        left = f"done in {format_seconds(update.elapsed_s)}" if update.finished else f"{format_seconds(update.eta_s)} left"
        figures = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in update.figures.items())
        text = (f"  {update.stage} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {update.done}/{update.total} "
                f"{update.unit} {100 * update.fraction:3.0f}%  {update.rate:.3g} {update.unit}/s  {left}  {figures}")
        width = shutil.get_terminal_size((120, 20)).columns
        return text[: width - 1]

    def _clear_bar(self) -> None:
        if self.tty and self._bar:
            self.stream.write("\r\x1b[2K")

    def _write_bar(self, text: str) -> None:
        self.stream.write(text)


@contextmanager
def terminal(log_path: Path | None, every_s: float = 30.0) -> Iterator[Console]:
    """A Console on this process's stderr. With `log_path`, everything else written to stdout and stderr inside
    the block (Dagster's debug stream, library logs and warnings, the training process's output) goes to that
    file instead, down to the file descriptors, so subprocesses and C extensions follow too."""
    sys.stdout.flush()
    sys.stderr.flush()
    if log_path is None:
        yield Console(sys.stderr, every_s=every_s)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    stream = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield Console(stream, every_s=every_s)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            stream.close()
