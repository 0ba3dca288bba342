"""Mining's reflection pass rates and the pass-rate filter, and the check that mining saw train rows only.

A failed prompt whose sampled reflections all fail (or all succeed) gives GRPO a group with no reward spread: no
signal, and in TRL's token normalisation it still dilutes the step. Mining can sample `mining.reflection_samples`
reflections on each failed attempt, as training will sample them, record the prompt's pass rate, and with
`mining.keep: mixed` keep only prompts strictly between 0 and 1 (pass-rate filtering, as DAPO's dynamic sampling;
a departure from the paper's failure set, which keeps every failure).
"""

from __future__ import annotations

from r3_pipeline.layout import Layout, read_jsonl
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import Spec
from r3_pipeline.tasks import make_task


def mining_integrity(spec: Spec, layout: Layout) -> dict:
    """Mining, its pass rates and so the pass-rate filter saw train rows only: no held-out row and no row of the
    warm start, in the failure set or in any stored mining or pass-rate episode of this spec."""
    from r3_pipeline.store import TrajectoryStore

    train = read_jsonl(layout.spec(spec.name).split("train"))
    adapted = spec.model.source == "embedded" or spec.model.adapt
    warm = {r["task_id"] for r in train[: spec.model.warm_start.num_rows]} if adapted else set()
    test = {r["task_id"] for r in read_jsonl(layout.spec(spec.name).split("test"))}
    failures = {f["row"]["task_id"] for f in read_jsonl(layout.spec(spec.name).failure_set)}
    mined = {r[0] for r in TrajectoryStore(layout.store_root).sql(
        "SELECT DISTINCT task_id FROM episodes WHERE spec = ? AND stage IN ('mining', 'pass_rate')", [spec.name])[1]}
    seen = failures | mined
    return {"mined_tasks": len(mined), "failure_set": len(failures), "held_out": len(seen & test),
            "warm_start": len(seen & warm), "ok": not (seen & test) and not (seen & warm)}


# R3Config's defaults for how a reflection and its retry are sampled (R3Config itself imports TRL).
R3_SAMPLING_DEFAULTS = {"reflection_temperature": 1.0, "max_reflection_tokens": 64, "retry_temperature": 0.0,
                        "max_retry_tokens": 48}


def measure(spec: Spec, failures: list[dict], make_engine, store, source) -> tuple[list[dict], dict]:
    """Sample mining.reflection_samples reflections on each failure's failed attempt, each with a greedy retry
    (stored as stage 'pass_rate', resumable), then `pass_rate_filter`."""
    from r3_pipeline.rollout.episodes import ReflectionSamples
    from r3_pipeline.rollout.stored import run_stored_reflections

    m, args = spec.mining, {**R3_SAMPLING_DEFAULTS, **spec.training_args()}
    cfg = ReflectionSamples(m.reflection_samples,
                            Sampling(args["reflection_temperature"], 1.0, args["max_reflection_tokens"], seed=2),
                            Sampling(args["retry_temperature"], 1.0, args["max_retry_tokens"], seed=3))
    progress = Progress("reflection pass rates", len(failures) * m.reflection_samples, "episodes")
    pairs = [(f["row"], f["failed_attempt"]) for f in failures]
    run = run_stored_reflections(make_task(spec.task.name, spec.task.config), pairs, make_engine, cfg, store, source,
                                 m.chunk_tasks, on_chunk=progress.update)
    kept, stats = pass_rate_filter(failures, run.records, m.reflection_samples, m.keep)
    return kept, {**stats, "pass_rate_chunks_generated": run.chunks_generated,
                  "pass_rate_chunks_reused": run.chunks_reused}


def pass_rate_filter(failures: list[dict], records: list[dict], k: int, keep: str) -> tuple[list[dict], dict]:
    """Each failure's reflection successes and pass rate from its `k` pass-rate `records`, added to its entry; with
    keep 'mixed', only the failures whose rate lies strictly between 0 and 1. Returns them and their statistics."""
    wins: dict[str, int] = {}
    for r in records:
        wins[r["task_id"]] = wins.get(r["task_id"], 0) + bool(r["retry_correct"])
    failures = [{**f, "reflection_successes": wins.get(f["row"]["task_id"], 0)} for f in failures]
    for f in failures:
        f["reflection_pass_rate"] = f["reflection_successes"] / k
    histogram = [sum(f["reflection_successes"] == j for f in failures) for j in range(k + 1)]
    kept = [f for f in failures if 0 < f["reflection_successes"] < k] if keep == "mixed" else failures
    n = max(len(failures), 1)
    return kept, {"failures_before_filter": len(failures), "reflection_samples": k,
                  "reflection_pass_rate": sum(f["reflection_pass_rate"] for f in failures) / n,
                  "prompts_all_fail": histogram[0] / n, "prompts_all_pass": histogram[k] / n,
                  "prompts_mixed": sum(histogram[1:k]) / n,
                  "pass_rate_histogram": {str(j): c for j, c in enumerate(histogram)}}
