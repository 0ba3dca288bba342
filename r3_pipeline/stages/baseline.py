"""The `baseline` asset: failure mining, the set of train tasks the base model fails, which R3 trains on.

R3 trains only on prompts the model gets wrong (the paper samples each query several times and keeps the failed
ones), so this stage samples the base model on train tasks it has not trained on yet, stores every episode,
and keeps the failed tasks with one failed attempt each; with `mining.reflection_samples` it also measures each
failure's reflection pass rate (r3_pipeline.pass_rates) and can keep only the prompts that give GRPO a signal.
"""

from __future__ import annotations

import time

from r3_pipeline import evaluation, pass_rates
from r3_pipeline.layout import Layout, write_jsonl
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import Spec
from r3_pipeline.stages.base_model import base_model_info
from r3_pipeline.stages.common import engine_maker, engine_used, load_split, paths, task_for, truncated_prompts
from r3_pipeline.stages.production_failures import round_rows, trained_task_ids
from r3_pipeline.tasks.base import Row


def mine_failures(spec: Spec, layout: Layout, run_id: str, inbox_file: str = "") -> dict:
    """Sample the base model k times on train tasks it has not trained on (in a production round, on the
    accepted rows of `inbox_file` it has not trained on); keep the failed tasks."""
    from r3_pipeline.rollout.episodes import EpisodeConfig
    from r3_pipeline.rollout.stored import EpisodeSource, run_stored_episodes
    from r3_pipeline.store import TrajectoryStore

    store, base = TrajectoryStore(layout.store_root), base_model_info(spec, layout)
    trained = trained_task_ids(spec, layout)
    source = (round_rows(spec, layout, inbox_file) if inbox_file
              else load_split(spec, layout, "train")[spec.model.warm_start.num_rows:])
    pool = [r for r in source if r["task_id"] not in trained]
    rows = pool[: spec.mining.num_tasks]
    if inbox_file and not rows:
        raise ValueError(f"nothing to retrain on: the {len(source)} accepted rows of inbox file {inbox_file!r} "
                         "were all trained on before (or none was accepted)")
    m = spec.mining
    cfg = EpisodeConfig(samples_per_task=m.samples_per_task,
                        attempt=Sampling(m.temperature, 1.0, m.max_new_tokens, seed=1),
                        reflection=Sampling(0.0, 1.0, m.max_new_tokens), retry=Sampling(0.0, 1.0, m.max_new_tokens))
    t0 = time.monotonic()
    episodes = EpisodeSource(spec.name, "mining", base["model_id"], spec.task.name, run_id)
    chosen: list[str] = []
    progress = Progress("mining", len(rows) * m.samples_per_task, "episodes")
    run = run_stored_episodes(task_for(spec), rows, engine_maker(base["path"], spec, chosen), cfg, store, episodes,
                              m.chunk_tasks, on_chunk=progress.update)
    failures = failure_set(run.records, {r["task_id"]: r for r in rows}, "any" if m.keep == "mixed" else m.keep)
    rates = {}
    if m.reflection_samples:
        failures, rates = pass_rates.measure(spec, failures, engine_maker(base["path"], spec, chosen), store,
                                           EpisodeSource(spec.name, "pass_rate", base["model_id"], spec.task.name, run_id))
    seconds = time.monotonic() - t0
    write_jsonl(paths(spec, layout).failure_set, failures)
    acc = evaluation.accuracy(run.records)
    return {"mined_from": f"inbox file {inbox_file}" if inbox_file else "train split", "tasks_mined": len(rows),
            "tasks_excluded_as_trained": len(source) - len(pool) if inbox_file else len(trained),
            "samples": len(run.records),
            "failures": len(failures), "failure_rate": len(failures) / max(len(rows), 1), **rates,
            "sample_first_accuracy": acc.first, "sample_second_accuracy": acc.second,
            "chunks_generated": run.chunks_generated, "chunks_reused": run.chunks_reused,
            "truncated_prompts": truncated_prompts(run.records), "seconds": round(seconds, 1),
            "engine": engine_used(chosen)}


def failure_set(records: list[dict], rows: dict[str, Row], keep: str) -> list[dict]:
    """One entry per failed task with one of its failed attempts. keep='all': every sample failed; 'any': one did."""
    by_task: dict[str, list[dict]] = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
    out = []
    for task_id, group in by_task.items():
        failed = sorted((r for r in group if not r["first_correct"]), key=lambda r: r["sample_idx"])
        if failed and (keep == "any" or len(failed) == len(group)):
            out.append({"row": rows[task_id], "failed_attempt": failed[0]["first_attempt"], "samples": len(group),
                        "failed_samples": len(failed)})
    return out
