"""The `tasks` asset: the spec's task rows, split into train, test and rejected, and the checks on them.

Everything downstream trains, mines or evaluates on these files, so this is where a bad dataset must stop: the
checks say whether train and test share a problem, whether too many input rows were refused, and whether the
verifier accepts every reference answer and refuses a corrupted one.
"""

from __future__ import annotations

import json
import random

from r3_pipeline.layout import Layout, read_json, write_json, write_jsonl
from r3_pipeline.spec import Spec
from r3_pipeline.stages.common import load_split, paths, task_for
from r3_pipeline.tasks.base import Row


def prepare_tasks(spec: Spec, layout: Layout) -> dict:
    from r3_pipeline.store import TrajectoryStore

    splits, out = task_for(spec).build_splits(), paths(spec, layout)
    for name in ("train", "test", "rejected"):
        write_jsonl(out.split(name), getattr(splits, name))
    write_json(out.task_counts, {"rows_read": splits.total_read})
    if splits.rejected:
        TrajectoryStore(layout.store_root).write_table("rejected_rows", [
            {"spec": spec.name, "task": spec.task.name, "reason": r.get("reject_reason", ""),
             "row": json.dumps(r, default=str)}
            for r in splits.rejected])
    return {"train": len(splits.train), "test": len(splits.test), "rejected": len(splits.rejected),
            "rows_read": splits.total_read}


def overlap(train: list[Row], test: list[Row]) -> int:
    """Test rows whose task id or problem content also appears in train."""
    def key(r: Row) -> str:
        return str(sorted((k, str(v)) for k, v in r.items() if k not in ("task_id", "id", "solution")))

    train_ids, train_keys = {r["task_id"] for r in train}, {key(r) for r in train}
    return sum(r["task_id"] in train_ids or key(r) in train_keys for r in test)


def rejection_rate(spec: Spec, layout: Layout) -> dict:
    """Share of input rows set aside as invalid, against the task's `max_reject_rate` (0 when it has none)."""
    rejected = len(load_split(spec, layout, "rejected"))
    total = read_json(paths(spec, layout).task_counts)["rows_read"]
    rate = rejected / total if total else 0.0
    limit = task_for(spec).config.max_reject_rate
    return {"rejected": rejected, "rows": total, "rate": rate, "max_rate": limit, "ok": rate <= limit}


def verifier_sanity(spec: Spec, rows: list[Row], seed: int = 0) -> dict:
    """Every reference answer must verify correct and every corrupted one wrong."""
    task, rng = task_for(spec), random.Random(seed)
    bad_reference = [r["task_id"] for r in rows if not task.verify(r, task.reference_response(r)).correct]
    bad_corrupt = [r["task_id"] for r in rows if task.verify(r, task.corrupt_response(r, rng)).correct]
    return {"rows": len(rows), "reference_failed": bad_reference[:20], "corrupt_passed": bad_corrupt[:20],
            "ok": not bad_reference and not bad_corrupt}
