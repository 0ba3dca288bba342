"""Progress as a user reads it: one line per update that reads back into the same numbers, at a rate the
event log can carry, and a terminal display that redraws a bar on a terminal and prints plain lines elsewhere."""

import io
import math

from r3_pipeline.console import Console
from r3_pipeline.progress import Progress, ProgressUpdate, Throttle, parse_progress, reporting_to, throttled


def test_a_progress_line_reads_back_into_the_same_update():
    update = ProgressUpdate("warm start", 120, 3000, "steps", 60.0, {"loss": 1.23456})
    line = update.message()
    assert line == "progress warm start: 120/3000 steps (4%), 2 steps/s, 24m 00s left | loss=1.235"
    back = parse_progress(line)
    assert (back.stage, back.done, back.total, back.unit, back.figures) == ("warm start", 120, 3000, "steps",
                                                                             {"loss": "1.235"})
    assert math.isclose(back.elapsed_s, 60.0, rel_tol=0.01)
    done = parse_progress(ProgressUpdate("R3 training", 3, 3, "steps", 75.0, {"reward": 0.5}).message())
    assert done.finished and done.elapsed_s == 75.0 and done.figures == {"reward": "0.5"}
    assert parse_progress("step 3/3: reward=0.5") is None


def test_throttle_lets_through_first_last_and_every_five_percent():
    sent = []
    sink = throttled(sent.append, Throttle(every_fraction=0.05, every_s=3600))
    with reporting_to(sink):
        progress = Progress("mining", 1000, "episodes")
        for done in range(1, 1001):
            progress.update(done)
        progress.update(1000)  # a repeated final update (the trainer logs its end twice) is not sent again
    assert [u.done for u in sent] == [1, *range(51, 1001, 50), 1000]


def test_sinks_nest_and_see_every_update():
    outer, inner = [], []
    with reporting_to(outer.append):
        Progress("a", 2, "steps").update(1)
        with reporting_to(inner.append):
            Progress("b", 2, "steps").update(2, loss=0.5, unused=None)
    assert [u.stage for u in outer] == ["a", "b"] and [u.stage for u in inner] == ["b"]
    assert inner[0].figures == {"loss": 0.5}


def test_console_prints_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    console = Console(out, tty=False, every_s=3600)
    console.asset_started("micro", "base_model")
    for done in (10, 20, 30):
        console.progress(ProgressUpdate("warm start", done, 100, "steps", done / 10))
    console.asset_finished("micro", "base_model", 12.3, "loss 0.5")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("[micro] base_model") and lines[0].endswith("started")
    assert lines[1].strip().startswith("warm start: 10/100 steps (10%)")  # then nothing for an hour
    assert lines[2] == "[micro] base_model        done in 12s: loss 0.5"
    assert len(lines) == 3


def test_console_redraws_one_bar_on_a_terminal():
    out = io.StringIO()
    console = Console(out, tty=True, redraw_s=0)
    console.progress(ProgressUpdate("mining", 24, 48, "episodes", 6.0, {"model": "vanilla"}))
    console.line("[micro] tasks check train_test_disjoint: passed")
    text = out.getvalue()
    assert "[############............] 24/48 episodes  50%" in text and "4 episodes/s" in text
    assert "\r\x1b[2K[micro] tasks check" in text  # the bar is cleared, the line printed, the bar redrawn
    assert text.endswith(console.bar(ProgressUpdate("mining", 24, 48, "episodes", 6.0, {"model": "vanilla"})))
