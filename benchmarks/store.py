"""Trajectory store benchmark: ingest rows/s against a plain Parquet write, and the time of the documented views
and of typical analytical queries.

A full pipeline run writes up to millions of episodes, so `TrajectoryStore.write` (validation + Arrow
conversion + an atomic zstd Parquet write) must not be the bottleneck, and the SQL a user runs over the store
(`r3 sql`) must answer interactively. The peer is the floor for the same rows: `pa.Table.from_pylist` with the
episode schema and `pq.write_table` with the same compression, no validation, no atomic rename. Ours and the
peer write each batch alternately (order swapped every batch), so machine load hits both alike.

Targets (2 CPU cores): ingest >= 200,000 rows/s; every view and query (a fresh `TrajectoryStore.sql`
connection each, as `r3 sql` does) < 1 s, the median of `repeats` runs.

Rows are synthetic but realistically sized: prompts ~300 characters, attempts ~60, reflections ~150, with a mix
of stages, models, training steps, correct and failed attempts, failure reasons and retries.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import mark, median, ratio, timed
from r3_pipeline.inbox import PRODUCTION_PREFIX
from r3_pipeline.store import EPISODE_SCHEMA, TrajectoryStore

INGEST_TARGET = 200_000  # rows/s
QUERY_TARGET_S = 1.0
BATCHES = 10
BATCH_ROWS = 100_000
REPEATS = 3

MODELS = ("base", "runs:/4f1c2a/model", "runs:/9be07d/model", "/ckpt/checkpoint-500")
STAGES = ("mining", "training", "training", "evaluation", "production")
PRODUCTION_EVERY = 7  # one task in 7 is a failure-inbox row (the production_fates view)
REASONS = ("wrong_value", "wrong_value", "wrong_numbers", "syntax", "no_answer", "disallowed:Pow", "too_long")
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
_PROMPT = ("Using the numbers [{a}, {b}, {c}, {d}], create an equation that equals {t}. You can use basic arithmetic "
           "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags "
           "and return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>. "
           "Think step by step.")  # ~300 characters once formatted
_ATTEMPT = "<think>{a} * {b} - {c}</think> <answer>({a} * {b}) - {c} + {d}</answer> done"  # ~60
_REFLECTION = ("I used {c} twice and never used {d}, so the numbers were wrong. The product {a} * {b} overshoots "
               "the target {t}; I should subtract {d} and divide instead of adding.")  # ~150

_VIEW = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)", re.IGNORECASE)
QUERIES = {
    "retry success by step": (
        "SELECT step, count(*) AS failures, avg(retry_correct::INTEGER) AS retry_success_rate "
        "FROM episodes WHERE stage = 'training' AND NOT first_correct GROUP BY step ORDER BY step"),
    "failure reasons top-5": (
        "SELECT first_reason, count(*) AS failures, count(*) FILTER (WHERE retry_correct) AS fixed "
        "FROM episodes WHERE NOT first_correct GROUP BY first_reason ORDER BY failures DESC LIMIT 5"),
    "reflection length p50/p90/p99 by model": (
        "SELECT model_id, quantile_cont(reflection_tokens, [0.5, 0.9, 0.99]) AS reflection_tokens_pct "
        "FROM episodes WHERE reflection_tokens IS NOT NULL GROUP BY model_id ORDER BY model_id"),
}
# Not targets: what reading the episode files costs without and with the `episodes` view's deduplication.
DIAGNOSTICS = {
    "count(*) episodes_raw (no dedupe)": "SELECT count(*) FROM episodes_raw",
    "count(*) episodes (dedupe only)": "SELECT count(*) FROM episodes",
}


# -- synthetic rows ---------------------------------------------------------------------------------------------

def synthetic_rows(batch: int, size: int) -> list[dict[str, Any]]:
    """`size` distinct episodes for batch number `batch` (ids unique across batches); about 40% first-correct."""
    return [_episode(batch * size + i) for i in range(size)]


def _episode(n: int) -> dict[str, Any]:
    a, b, c, d, t = n % 97, n % 13 + 1, n % 31, n % 7 + 2, n % 1000
    stage = STAGES[n % len(STAGES)]
    first_correct = n % 5 < 2
    started = T0 + timedelta(seconds=n)
    row = {
        "episode_id": f"ep{n:022d}", "spec": "bench", "stage": stage, "run_id": f"run-{n // 250_000}",
        "model_id": MODELS[(n // 7) % len(MODELS)], "task": "countdown", "task_id": _task_id(n % 50_000),
        "sample_idx": n % 8, "step": (n // 8) % 200 if stage == "training" else None,
        "prompt": _PROMPT.format(a=a, b=b, c=c, d=d, t=t), "first_attempt": _ATTEMPT.format(a=a, b=b, c=c, d=d),
        "first_correct": first_correct, "first_reason": "correct" if first_correct else REASONS[n % len(REASONS)],
        "prompt_tokens": 96 + n % 17, "first_tokens": 20 + n % 9, "started_at": started,
        "finished_at": started + timedelta(milliseconds=800 + n % 400),
    }
    if not first_correct:
        retry_correct = n % 3 == 0
        row.update(reflection=_REFLECTION.format(a=a, b=b, c=c, d=d, t=t), retry=_ATTEMPT.format(a=b, b=a, c=d, d=c),
                   retry_correct=retry_correct, retry_reason="correct" if retry_correct else REASONS[n % 4],
                   reward=float(retry_correct), reflection_tokens=30 + n % 41, retry_tokens=18 + n % 11,
                   truncated_tokens=0)
    return row


def _task_id(task: int) -> str:
    return f"{PRODUCTION_PREFIX}{task:016x}" if task % PRODUCTION_EVERY == 0 else f"countdown-{task:012x}"


def write_production_tables(store: TrajectoryStore, tasks: int = 50_000) -> None:
    """The failure-inbox tables the production_fates view joins: a recorded row per production task (1 in 200
    rejected), spread over 20 files, and a registered version for two of the models."""
    now = T0.isoformat()
    store.write_table("production_rows", [
        {"spec": "bench", "task": "countdown", "file": f"inbox-{task % 20:02d}.jsonl", "line": task // 20,
         "label": f"line:{task // 20}", "task_id": _task_id(task),
         "status": "rejected" if task % 200 == 0 else "accepted",
         "reason": "bad_row:not_json" if task % 200 == 0 else "accepted", "response_correct": False,
         "row": '{"numbers": [1, 2, 3], "target": 6}', "dagster_run_id": "run-0", "recorded_at": now}
        for task in range(0, tasks, PRODUCTION_EVERY)])
    store.write_table("registered_versions", [
        {"spec": "bench", "version": str(v), "alias": "champion" if v == 2 else "challenger", "model_id": MODELS[v],
         "reason": "bench", "inbox_file": "inbox-00.jsonl"} for v in (1, 2)])


# -- ingest -----------------------------------------------------------------------------------------------------

def plain_write(rows: list[dict[str, Any]], path: Path) -> tuple[float, float]:
    """The peer: rows to an Arrow table with the episode schema, then one Parquet file; (build s, write s)."""
    table, build_s = timed(pa.Table.from_pylist, rows, schema=EPISODE_SCHEMA)
    return build_s, timed(pq.write_table, table, path, compression="zstd")[1]


def ingest(store: TrajectoryStore, peer_dir: Path, batches: int, batch_rows: int) -> dict[str, Any]:
    """Write `batches` x `batch_rows` rows through the store and through the peer, alternating per batch."""
    ours_s = build_s = write_s = 0.0
    store.connect().close()  # opening the store creates its layout: a one-off, not part of ingest
    peer_dir.mkdir(parents=True, exist_ok=True)
    for b in range(batches):
        rows = synthetic_rows(b, batch_rows)
        run_ours = lambda: timed(store.write, rows, name=f"bench-{b:03d}")[1]  # noqa: E731
        run_peer = lambda: plain_write(rows, peer_dir / f"bench-{b:03d}.parquet")  # noqa: E731
        if b % 2:
            peer, ours = run_peer(), run_ours()
        else:
            ours, peer = run_ours(), run_peer()
        ours_s, build_s, write_s = ours_s + ours, build_s + peer[0], write_s + peer[1]
    rows = batches * batch_rows
    ours_rate, peer_rate = rows / ours_s, rows / (build_s + write_s)
    return {"rows": rows, "batches": batches, "ours_s": ours_s, "ours_rows_per_s": ours_rate,
            "peer_build_s": build_s, "peer_write_s": write_s, "peer_rows_per_s": peer_rate,
            "ratio": ratio(ours_rate, peer_rate), "pass": ours_rate >= INGEST_TARGET}


# -- queries ----------------------------------------------------------------------------------------------------

def documented_views(store: TrajectoryStore) -> dict[str, str]:
    """`SELECT *` from every view the store's SQL files define (assets/sql/*.sql unless configured)."""
    names = [name for path in sorted(store.views_dir.glob("*.sql")) for name in _VIEW.findall(path.read_text())]
    return {f"view {name}": f"SELECT * FROM {name}" for name in names}


def time_queries(store: TrajectoryStore, queries: dict[str, str], repeats: int) -> dict[str, dict[str, Any]]:
    """Median seconds of each query over `repeats` runs, on a fresh connection each time (as `r3 sql` runs)."""
    figures = {}
    for name, query in queries.items():
        runs = [timed(store.sql, query) for _ in range(repeats)]
        seconds = median([s for _, s in runs])
        figures[name] = {"seconds": seconds, "rows": len(runs[0][0][1]), "pass": seconds < QUERY_TARGET_S}
    return figures


def stored_counts(store: TrajectoryStore) -> dict[str, int]:
    """Row counts read back: raw rows, deduplicated episodes, and episodes summed over the retry_success view."""
    (raw,), (episodes,), (in_view,) = (store.sql(q)[1][0] for q in (
        "SELECT count(*) FROM episodes_raw", "SELECT count(*) FROM episodes",
        "SELECT coalesce(sum(episodes), 0) FROM retry_success"))
    return {"episodes_raw": raw, "episodes": episodes, "retry_success_episodes": int(in_view)}


def figures(batches: int = BATCHES, batch_rows: int = BATCH_ROWS, repeats: int = REPEATS,
            root: Path | str | None = None) -> dict[str, Any]:
    """Ingest `batches` x `batch_rows` rows into a fresh store (under `root`, else a temporary directory), then
    time the views and queries on it."""
    with tempfile.TemporaryDirectory(prefix="r3-bench-store-", dir=root) as tmp:
        store = TrajectoryStore(Path(tmp) / "store")
        written = ingest(store, Path(tmp) / "peer", batches, batch_rows)
        write_production_tables(store)
        queries = time_queries(store, {**documented_views(store), **QUERIES}, repeats)
        diagnostics = time_queries(store, DIAGNOSTICS, repeats)
        counts = stored_counts(store)
    return {"ingest": written, "queries": queries, "diagnostics": diagnostics, "counts": counts,
            "ingest_target": INGEST_TARGET,
            "query_target_s": QUERY_TARGET_S, "repeats": repeats,
            "pass": written["pass"] and all(q["pass"] for q in queries.values())}


def format_table(figures: dict[str, Any]) -> str:
    ing = figures["ingest"]
    lines = [
        f"ingest: {ing['rows']:,} rows in {ing['batches']} batches",
        f"  {'TrajectoryStore.write':<42}{ing['ours_rows_per_s']:>12,.0f} rows/s  {ing['ours_s']:>7.2f} s  "
        f"{mark(ing['pass'])} (>= {figures['ingest_target']:,} rows/s)",
        f"  {'peer: from_pylist + pq.write_table':<42}{ing['peer_rows_per_s']:>12,.0f} rows/s  "
        f"{ing['peer_build_s'] + ing['peer_write_s']:>7.2f} s  (build {ing['peer_build_s']:.2f} s, "
        f"write {ing['peer_write_s']:.2f} s)",
        f"  {'ratio ours / peer':<42}{ing['ratio']:>12.2f}x",
        f"queries on {figures['counts']['episodes']:,} episodes (median of {figures['repeats']}, fresh connection):",
    ]
    for name, q in figures["queries"].items():
        lines.append(f"  {name:<42}{q['seconds']:>10.3f} s  {q['rows']:>5} rows  "
                     f"{mark(q['pass'])} (< {figures['query_target_s']:g} s)")
    for name, q in figures["diagnostics"].items():
        lines.append(f"  {name:<42}{q['seconds']:>10.3f} s  (diagnostic, no target)")
    lines.append(f"overall: {mark(figures['pass'])}")
    return "\n".join(lines)


def main() -> int:
    print(format_table(figures()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
