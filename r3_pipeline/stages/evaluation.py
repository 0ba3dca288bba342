"""The `evaluation` asset: vanilla against trained on held-out tasks, the figure R3 is judged by.

The paper reports first- and second-attempt accuracy of the vanilla and the trained model on held-out data; so
does this stage, greedy, on the test split, with 95% intervals, the paired gain on the same tasks, and what the
reflections looked like. Its results file, plot and MLflow table are what the registry's promotion gate and the
`trained_not_worse` check read. The statistics themselves live in `r3_pipeline.evaluation`.
"""

from __future__ import annotations

import time

from r3_pipeline import evaluation, tracking
from r3_pipeline.layout import Layout, read_json, write_bytes, write_json
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import Spec
from r3_pipeline.stages.base_model import base_model_info
from r3_pipeline.stages.common import engine_maker, engine_used, load_split, paths, task_for, truncated_prompts
from r3_pipeline.stages.r3_model import trained_model_info


def evaluate(spec: Spec, layout: Layout, run_id: str) -> dict:
    """Vanilla vs trained on the held-out test split, first and second attempt, greedy decoding; with
    `evaluation.bare_retry`, also the vanilla model retrying after a bare "try again" (no reflection)."""
    from r3_pipeline.rollout.episodes import BARE, REFLECTION, EpisodeConfig
    from r3_pipeline.rollout.stored import EpisodeSource, run_stored_episodes
    from r3_pipeline.store import TrajectoryStore

    rows = load_split(spec, layout, "test")
    rows = rows[: spec.evaluation.num_tasks] if spec.evaluation.num_tasks else rows
    greedy = Sampling(0.0, 1.0, spec.evaluation.max_new_tokens)
    store, task = TrajectoryStore(layout.store_root), task_for(spec)
    vanilla, trained = evaluation.VANILLA, evaluation.TRAINED
    models = {vanilla: base_model_info(spec, layout), trained: trained_model_info(spec, layout)}
    runs = [(vanilla, vanilla, REFLECTION), (trained, trained, REFLECTION)]
    if spec.evaluation.bare_retry:
        runs.append((evaluation.VANILLA_BARE, vanilla, BARE))
    records, timing, chunks = {}, {}, {}
    progress = Progress("evaluation", len(runs) * len(rows), "episodes")
    for i, (label, model, mode) in enumerate(runs):
        info = models[model]
        path = info["path"] if model == vanilla else info["final_model"]
        cfg = EpisodeConfig(attempt=greedy, reflection=greedy, retry=greedy, retry_mode=mode)
        t0 = time.monotonic()
        source = EpisodeSource(spec.name, "evaluation", info["model_id"], spec.task.name, run_id)
        chosen: list[str] = []
        run = run_stored_episodes(task, rows, engine_maker(path, spec, chosen), cfg, store, source,
                                  spec.evaluation.chunk_tasks,
                                  on_chunk=lambda n, i=i, label=label: progress.update(i * len(rows) + n, model=label))
        timing[label] = round(time.monotonic() - t0, 1)
        chunks[label] = {"generated": run.chunks_generated, "reused": run.chunks_reused,
                         "truncated_prompts": truncated_prompts(run.records), "engine": engine_used(chosen)}
        records[label] = run.records
    results = {label: evaluation.accuracy(recs) for label, recs in records.items()}
    gains = {attempt: evaluation.paired_difference(records[vanilla], records[trained], attempt).as_dict()
             for attempt in ("first", "second")}
    reflections = {label: evaluation.reflection_summary(records[label]) for label in (vanilla, trained)}
    behaviours = {label: evaluation.behaviour_summary(records[label]) for label in (vanilla, trained)}
    out = {"spec": spec.name, "task": spec.task.name, "n": len(rows), "seconds": timing, "chunks": chunks,
           "models": {k: v["model_id"] for k, v in models.items()},
           "results": {k: v.as_dict() for k, v in results.items()}, "gains": gains, "reflections": reflections,
           "behaviours": behaviours,
           "reflection_examples": evaluation.reflection_examples(records[vanilla], records[trained]),
           "reflection_lengths": {label: [r["reflection_tokens"] for r in records[label] if r.get("reflection") is not None]
                                  for label in (vanilla, trained)}}
    files = paths(spec, layout)
    write_json(files.evaluation_results, out)
    plot = evaluation.accuracy_plot_png(results, f"{spec.name}: held-out accuracy")
    write_bytes(files.accuracy_png, plot)
    tracking.configure(layout.home, spec.name)
    tracking.log_evaluation(models[trained]["mlflow_run_id"], out, files.accuracy_png)
    return {**out, "table": evaluation.comparison_markdown(out), "plot_png": plot}


def read_evaluation(spec: Spec, layout: Layout) -> dict:
    """The spec's last evaluation (results.json), in today's vanilla/trained vocabulary."""
    return evaluation.with_vanilla(read_json(paths(spec, layout).evaluation_results))
