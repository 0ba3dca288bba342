"""The `production_failures` asset: one failure-inbox file's rows, checked and recorded, and the rows a production
round mines and guards against forgetting.

A production round retrains the champion on the requests users saw it fail (r3_pipeline.inbox says how they
arrive). This stage reads one inbox file, sets bad rows aside with their reasons (in `rejected_rows`, as the
`tasks` stage does), and records every row, accepted or not, in the store table `production_rows`, which
`r3 sql` reads (view `production_fates`). Mining reads a round's accepted rows from there; the evaluation reads
earlier rounds' rows for its regression set. A rerun of the same file replaces its records rather than adding
a second copy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime, timezone

from r3_pipeline import inbox
from r3_pipeline.layout import Layout, read_json
from r3_pipeline.spec import Spec
from r3_pipeline.stages.common import load_split, paths, task_for
from r3_pipeline.tasks.base import Row

PRODUCTION_ROWS = "production_rows"


def record_inbox_file(spec: Spec, layout: Layout, file_name: str, run_id: str) -> dict:
    """Check every row of inbox file `file_name` and record them; counts, reasons and the first rejected rows."""
    from r3_pipeline.store import TrajectoryStore

    path = inbox.inbox_dir(spec, layout) / file_name
    if "/" in file_name or not path.is_file():
        raise FileNotFoundError(f"no inbox file {file_name!r} in {path.parent}")
    if not paths(spec, layout).split("test").exists():
        raise FileNotFoundError(f"spec {spec.name} has no prepared tasks: materialize {spec.name}/tasks first")
    test = load_split(spec, layout, "test")
    rows = inbox.read_inbox_file(task_for(spec), path, test)
    store, batch = TrajectoryStore(layout.store_root), _batch(spec, file_name)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_table(PRODUCTION_ROWS, [
        {"spec": spec.name, "task": spec.task.name, "file": file_name, "line": r.line, "label": r.label,
         "task_id": r.task_id, "status": "accepted" if r.row is not None else "rejected", "reason": r.reason,
         "response_correct": r.response_correct, "row": json.dumps(r.row) if r.row is not None else None,
         "dagster_run_id": run_id, "recorded_at": now} for r in rows], batch=batch)
    rejected = [r for r in rows if r.row is None]
    store.write_table("rejected_rows", [
        {"spec": spec.name, "task": spec.task.name, "reason": r.reason.removeprefix("bad_row:"),
         "row": json.dumps(r.raw, default=str)[:20_000], "source": f"inbox:{file_name}", "line": r.line}
        for r in rejected], batch=batch)
    accepted = {r.task_id for r in rows if r.row is not None}
    trained = trained_task_ids(spec, layout) & accepted
    return {"file": file_name, "rows": len(rows), "accepted": len(rows) - len(rejected), "rejected": len(rejected),
            "distinct_accepted": len(accepted), "already_trained_on": len(trained),
            "responses_correct": sum(r.response_correct is True for r in rows),
            "reasons": dict(Counter(r.reason for r in rejected)),
            "first_rejected": [{"line": r.line, "label": r.label, "reason": r.reason} for r in rejected[:5]]}


def trained_task_ids(spec: Spec, layout: Layout) -> set[str]:
    """Task ids of every row some R3 training of this spec has used, except an interrupted training's that the
    next materialization resumes: its rows are the current round's, and excluding them would change what mining
    picks, hence the failure set, and the training would start over instead of resuming."""
    from r3_pipeline.store import TrajectoryStore

    query, params = "SELECT DISTINCT task_id FROM episodes WHERE spec = ? AND stage = 'training'", [spec.name]
    resumable = interrupted_training_runs(spec, layout)
    if resumable:
        query += f" AND run_id NOT IN ({', '.join('?' * len(resumable))})"
    return {r[0] for r in TrajectoryStore(layout.store_root).sql(query, params + resumable)[1]}


def interrupted_training_runs(spec: Spec, layout: Layout) -> list[str]:
    """The Dagster runs that worked on this spec's training while it has not finished (no result yet)."""
    out = layout.spec(spec.name).training
    if out.result.exists() or not out.mlflow_run.exists():
        return []
    return list(read_json(out.mlflow_run).get("dagster_runs", []))


def round_rows(spec: Spec, layout: Layout, file_name: str) -> list[Row]:
    """The accepted rows of inbox file `file_name`, one per distinct task id, in file order."""
    return _rows(spec, layout, "file = ?", [file_name])


def earlier_rows(spec: Spec, layout: Layout, file_name: str, limit: int) -> list[Row]:
    """Up to `limit` accepted rows of other inbox files than `file_name` (newest first), one per task id, none
    of them a row of `file_name`."""
    if limit <= 0:
        return []
    current = {r["task_id"] for r in round_rows(spec, layout, file_name)}
    return [r for r in _rows(spec, layout, "file <> ?", [file_name], newest_first=True)
            if r["task_id"] not in current][:limit]


def _rows(spec: Spec, layout: Layout, where: str, params: list, newest_first: bool = False) -> list[Row]:
    from r3_pipeline.store import TrajectoryStore

    order = "recorded_at DESC, file DESC, line" if newest_first else "line"
    found = TrajectoryStore(layout.store_root).sql(
        f"SELECT task_id, row FROM {PRODUCTION_ROWS} WHERE spec = ? AND status = 'accepted' AND {where} "
        f"ORDER BY {order}", [spec.name, *params])[1]
    seen: dict[str, Row] = {}
    for task_id, row in found:
        seen.setdefault(task_id, json.loads(row))
    return list(seen.values())


def _batch(spec: Spec, file_name: str) -> str:
    """A store batch name per (spec, file): rerunning a file replaces its records."""
    digest = hashlib.sha256(file_name.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    return f"{spec.name}-" + re.sub(r"[^A-Za-z0-9_.=-]", "_", file_name) + f"-{digest}"
