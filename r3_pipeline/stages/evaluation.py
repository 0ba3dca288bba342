"""The `evaluation` asset: vanilla against trained on held-out tasks, the figure R3 is judged by.

The paper reports first- and second-attempt accuracy of the vanilla and the trained model on held-out data; so
does this stage, greedy, on the test split, with 95% intervals, the paired gain on the same tasks, and what the
reflections looked like. Its results file, plot and MLflow table are what the registry's promotion gate and the
`trained_not_worse` check read. The statistics themselves live in `r3_pipeline.evaluation`.
"""

from __future__ import annotations

import time

from r3_pipeline import evaluation, tracking
from r3_pipeline.layout import Layout, read_json, read_jsonl, write_bytes, write_json
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import Spec
from r3_pipeline.stages.base_model import base_model_info, champion_to_dir
from r3_pipeline.stages.common import engine_maker, engine_used, load_split, paths, task_for, truncated_prompts
from r3_pipeline.stages.production_failures import earlier_rows
from r3_pipeline.stages.r3_model import trained_model_info


def evaluate(spec: Spec, layout: Layout, run_id: str, inbox_file: str = "") -> dict:
    """Vanilla vs trained on the held-out test split, first and second attempt, greedy decoding; with
    `evaluation.bare_retry`, also the vanilla model retrying after a bare "try again" (no reflection). Then the
    forgetting guard's regression set (`regression`) and, in a production round (`inbox_file`), the trained
    model on the round's mined failures (`production_round`)."""
    from r3_pipeline.rollout.episodes import BARE, REFLECTION, EpisodeConfig
    from r3_pipeline.rollout.stored import EpisodeSource, run_stored_episodes
    from r3_pipeline.store import TrajectoryStore

    rows = load_test(spec, layout)
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
    out["regression"] = regression(spec, layout, run_id, records, models, inbox_file)
    if inbox_file:
        out["production_round"] = production_round(spec, layout, run_id, models[trained], inbox_file)
    files = paths(spec, layout)
    write_json(files.evaluation_results, out)
    plot = evaluation.accuracy_plot_png(results, f"{spec.name}: held-out accuracy")
    write_bytes(files.accuracy_png, plot)
    tracking.configure(layout.home, spec.name)
    tracking.log_evaluation(models[trained]["mlflow_run_id"], out, files.accuracy_png)
    return {**out, "table": evaluation.comparison_markdown(out), "plot_png": plot}


def regression(spec: Spec, layout: Layout, run_id: str, held_out: dict[str, list[dict]], models: dict,
               inbox_file: str) -> dict:
    """The trained model against the current champion on the regression set: the held-out tasks, and the rows of
    earlier inbox files (at most `inbox.regression_rows`) that the champion answers correctly at the second
    attempt. `ok` is false when the trained model is significantly worse there (the paired 95% interval of
    trained minus champion lies below zero)."""
    tracking.configure(layout.home, spec.name)
    version = tracking.champion_version(spec.registered_name)
    if version is None:
        return {"champion": None, "ok": True, "note": "no champion yet: nothing to forget"}
    vanilla, trained = models[evaluation.VANILLA], models[evaluation.TRAINED]
    champion = {"model_id": f"{spec.registered_name}/v{version}"}
    if vanilla["model_id"] == champion["model_id"]:
        champion["path"], champion_held = vanilla["path"], held_out[evaluation.VANILLA]
    else:  # trained from another model than the champion: the champion answers the held-out tasks itself
        champion["path"] = str(champion_to_dir(spec, layout, paths(spec, layout).evaluation_dir / "champion")["path"])
        champion_held = _greedy(spec, layout, run_id, champion, load_test(spec, layout), "regression")
    earlier = earlier_rows(spec, layout, inbox_file, spec.inbox.regression_rows)
    fixed = [r for r in _greedy(spec, layout, run_id, champion, earlier, "regression")
             if r["first_correct"] or r["retry_correct"]]
    fixed_ids = {r["task_id"] for r in fixed}
    trained_fixed = _greedy(spec, layout, run_id, {"model_id": trained["model_id"], "path": trained["final_model"]},
                            [r for r in earlier if r["task_id"] in fixed_ids], "regression")
    a, b = champion_held + fixed, held_out[evaluation.TRAINED] + trained_fixed
    diff = evaluation.paired_difference(a, b, "second")
    return {"champion": version, "n": diff.n, "held_out": len(champion_held), "production": len(fixed),
            "production_checked": len(earlier), "champion_second": evaluation.accuracy(a).second,
            "trained_second": evaluation.accuracy(b).second, "diff": diff.diff, "ci": list(diff.ci),
            "ok": not diff.ci[1] < 0}


def production_round(spec: Spec, layout: Layout, run_id: str, trained: dict, inbox_file: str) -> dict:
    """The trained model on this round's mined failures (stage 'production'): how many it now fixes."""
    failures = [f["row"] for f in read_jsonl(paths(spec, layout).failure_set)]
    records = _greedy(spec, layout, run_id, {"model_id": trained["model_id"], "path": trained["final_model"]},
                      failures, "production")
    fixed = sum(bool(r["first_correct"] or r["retry_correct"]) for r in records)
    return {"inbox_file": inbox_file, "failures": len(records), "fixed": fixed, "failed_again": len(records) - fixed}


def _greedy(spec: Spec, layout: Layout, run_id: str, model: dict, rows: list[dict], stage: str) -> list[dict]:
    """Greedy episodes (reflection retry) of `model` ({"model_id", "path"}) on `rows`, stored as `stage`."""
    from r3_pipeline.rollout.episodes import EpisodeConfig
    from r3_pipeline.rollout.stored import EpisodeSource, run_stored_episodes
    from r3_pipeline.store import TrajectoryStore

    if not rows:
        return []
    greedy = Sampling(0.0, 1.0, spec.evaluation.max_new_tokens)
    source = EpisodeSource(spec.name, stage, model["model_id"], spec.task.name, run_id)
    return run_stored_episodes(task_for(spec), rows, engine_maker(model["path"], spec, []),
                               EpisodeConfig(attempt=greedy, reflection=greedy, retry=greedy),
                               TrajectoryStore(layout.store_root), source, spec.evaluation.chunk_tasks).records


def load_test(spec: Spec, layout: Layout) -> list[dict]:
    rows = load_split(spec, layout, "test")
    return rows[: spec.evaluation.num_tasks] if spec.evaluation.num_tasks else rows


def read_evaluation(spec: Spec, layout: Layout) -> dict:
    """The spec's last evaluation (results.json), in today's vanilla/trained vocabulary."""
    return evaluation.with_vanilla(read_json(paths(spec, layout).evaluation_results))
