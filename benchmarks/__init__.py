"""Benchmarks that print figures (speed targets live here, not in timed tests).

Each benchmark module has `figures(**kwargs) -> dict`, `format_table(figures) -> str` and `main() -> int`.
Speeds are compared as ratios to a peer measured in the same process and run, interleaved where possible,
because the machines they run on are shared: absolute numbers drift with load, ratios much less. The helpers
below are the only timing code the benchmarks share.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(fn's result, seconds it took)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def interleaved_best(peers: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Best seconds per peer over `rounds` rounds, each round running every peer once (in rotating order), so
    load from other processes on a shared machine hits all peers alike."""
    best = {name: float("inf") for name in peers}
    names = list(peers)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            best[name] = min(best[name], timed(peers[name])[1])
    return best


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio(ours: float, peer: float) -> float:
    """ours / peer (of rates: above 1 means ours is faster); 0 when the peer measured nothing."""
    return ours / peer if peer else 0.0
