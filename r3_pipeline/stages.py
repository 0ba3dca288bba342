"""One function per pipeline stage, free of Dagster: prepare tasks, build the base model, mine failures,
prepare training, evaluate, register. The Dagster assets in `defs/` are thin wrappers over these, and the
same functions can run from a notebook or script. Each stage reads and writes the files that `layout.SpecPaths`
names; MLflow is reached only through `tracking`. Models, engines, the trajectory store and training are
imported inside the stages that use them, so importing this module (as the Dagster definitions do) stays light.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

from typing import TYPE_CHECKING

from r3_pipeline import evaluation, pass_rates, tracking
from r3_pipeline.layout import Layout, SpecPaths, read_json, read_jsonl, write_bytes, write_json, write_jsonl
from r3_pipeline.progress import Progress
from r3_pipeline.rollout.sampling import GenerationLimits, Sampling
from r3_pipeline.spec import Spec
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.base import Row
from r3_pipeline.training.job import TrainJob

if TYPE_CHECKING:
    from r3_pipeline.rollout.engines import Engine


def task_for(spec: Spec):
    return make_task(spec.task.name, spec.task.config)


def paths(spec: Spec, layout: Layout) -> SpecPaths:
    return layout.spec(spec.name)


def load_split(spec: Spec, layout: Layout, split: str) -> list[Row]:
    return read_jsonl(paths(spec, layout).split(split))


# -- tasks -------------------------------------------------------------------------------------------------

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


# -- base model --------------------------------------------------------------------------------------------

def build_base_model(spec: Spec, layout: Layout, start_from: str = "spec") -> dict:
    """`spec`: the spec's model (the embedded default is built and warm-started; a pretrained one is resolved,
    converted from GGUF once, and warm-started with `model.adapt`); `champion`: the current
    MLflow champion of this spec, so a scheduled retraining improves on the best model so far."""
    from r3_pipeline.models.loading import fingerprint
    from r3_pipeline.models.sources import resolve_model
    from r3_pipeline.training.warm_start import adapt_pretrained, train_embedded_model

    out = paths(spec, layout)
    weights = out.base_model_weights
    t0 = time.monotonic()
    if start_from not in ("spec", "champion"):
        raise ValueError(f"start_from must be 'spec' or 'champion', got {start_from!r}")
    champion = _champion_to_dir(spec, layout, weights) if start_from == "champion" else None
    if champion:
        info = champion
    elif spec.model.source == "embedded":
        rows = load_split(spec, layout, "train")[: spec.model.warm_start.num_rows]
        stats = train_embedded_model(task_for(spec), rows, spec.model.embedded, spec.model.warm_start, weights)
        # The fingerprint tells rebuilt models apart, so their episodes never share ids.
        info = {"model_id": f"{spec.name}:embedded:{fingerprint(weights)}", "path": str(weights), **stats}
    else:
        resolved = resolve_model(spec.model.source, spec.model.gguf_file, layout.models_dir)
        info = {"model_id": resolved.model_id, "path": resolved.path, "source": spec.model.source,
                **({"gguf": resolved.gguf} if resolved.gguf else {})}
        if spec.model.adapt:
            rows = load_split(spec, layout, "train")[: spec.model.warm_start.num_rows]
            stats = adapt_pretrained(task_for(spec), rows, spec.model.warm_start, resolved.path, weights)
            info = {**info, "model_id": f"{spec.name}:adapted:{fingerprint(weights)}", "path": str(weights),
                    "adapted_from": resolved.model_id, **stats}
    if start_from == "champion" and not champion:
        info["note"] = f"no champion registered for {spec.registered_name}: started from the spec's model"
    info["seconds"] = round(time.monotonic() - t0, 1)
    write_json(out.base_model_info, info)
    return info


def _champion_to_dir(spec: Spec, layout: Layout, weights: Path) -> dict | None:
    """Copy the current MLflow champion into `weights`; None when there is no champion yet."""
    from r3_pipeline.models.loading import save_model

    tracking.configure(layout.home, spec.name)
    champion = tracking.load_champion(spec.registered_name)
    if champion is None:
        return None
    save_model(champion.model, champion.tokenizer, weights)
    return {"model_id": f"{spec.registered_name}/v{champion.version}", "path": str(weights)}


def base_model_info(spec: Spec, layout: Layout) -> dict:
    return read_json(paths(spec, layout).base_model_info)


def engine_for(path: str, batch_size: int, limits: GenerationLimits, kind: str = "auto", dtype: str = "auto") -> Engine:
    """The spec's engine (`evaluation.engine`) over the checkpoint at `path`, loaded from disk as saved (a freshly
    trained model included); run_stored_episodes closes it when its episodes are stored."""
    from r3_pipeline.rollout.factory import make_engine

    return make_engine(kind, path, batch_size, limits, dtype)


def engine_maker(path: str, spec: Spec, chosen: list[str]):
    """`make_engine` for run_stored_episodes: the spec's engine over `path`, its choice noted in `chosen`."""
    def make() -> Engine:
        engine = engine_for(path, spec.evaluation.batch_size, spec.limits, spec.evaluation.engine, spec.evaluation.dtype)
        chosen.append(getattr(engine, "choice", type(engine).__name__))
        return engine
    return make


def engine_used(chosen: list[str]) -> str:
    """Which engine generated (and why), for metadata; none when every chunk was already stored."""
    return chosen[0] if chosen else "none (every chunk was already stored)"


def truncated_prompts(records: list[dict]) -> int:
    """Episodes whose prompt lost tokens to the length limits (reported, never silent)."""
    return sum(1 for r in records if r.get("truncated_tokens"))


# -- baseline: failure mining ------------------------------------------------------------------------------

def mine_failures(spec: Spec, layout: Layout, run_id: str) -> dict:
    """Sample the base model k times on train tasks it has not trained on; keep the failed tasks."""
    from r3_pipeline.rollout.episodes import EpisodeConfig
    from r3_pipeline.rollout.stored import EpisodeSource, run_stored_episodes
    from r3_pipeline.store import TrajectoryStore

    store, base = TrajectoryStore(layout.store_root), base_model_info(spec, layout)
    trained = {r[0] for r in store.sql("SELECT DISTINCT task_id FROM episodes WHERE spec = ? AND stage = 'training'", [spec.name])[1]}
    pool = [r for r in load_split(spec, layout, "train")[spec.model.warm_start.num_rows:] if r["task_id"] not in trained]
    rows = pool[: spec.mining.num_tasks]
    m = spec.mining
    cfg = EpisodeConfig(samples_per_task=m.samples_per_task,
                        attempt=Sampling(m.temperature, 1.0, m.max_new_tokens, seed=1),
                        reflection=Sampling(0.0, 1.0, m.max_new_tokens), retry=Sampling(0.0, 1.0, m.max_new_tokens))
    t0 = time.monotonic()
    source = EpisodeSource(spec.name, "mining", base["model_id"], spec.task.name, run_id)
    chosen: list[str] = []
    progress = Progress("mining", len(rows) * m.samples_per_task, "episodes")
    run = run_stored_episodes(task_for(spec), rows, engine_maker(base["path"], spec, chosen), cfg, store, source,
                              m.chunk_tasks, on_chunk=progress.update)
    failures = failure_set(run.records, {r["task_id"]: r for r in rows}, "any" if m.keep == "mixed" else m.keep)
    rates = {}
    if m.reflection_samples:
        failures, rates = pass_rates.measure(spec, failures, engine_maker(base["path"], spec, chosen), store,
                                           EpisodeSource(spec.name, "pass_rate", base["model_id"], spec.task.name, run_id))
    seconds = time.monotonic() - t0
    write_jsonl(paths(spec, layout).failure_set, failures)
    acc = evaluation.accuracy(run.records)
    return {"tasks_mined": len(rows), "tasks_excluded_as_trained": len(trained), "samples": len(run.records),
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


# -- training ----------------------------------------------------------------------------------------------

def training_job(spec: Spec, layout: Layout, run_id: str) -> TrainJob:
    """The TrainJob of this spec's training, also written to `r3_model/job.json` for the training process.

    Reuses the MLflow run of an interrupted training with the same settings (so a resume logs to one run);
    changed settings start a new run and clear the old checkpoints."""
    out = paths(spec, layout).training
    experiment = tracking.configure(layout.home, spec.name)
    base, args = base_model_info(spec, layout), spec.training_args()
    failures = paths(spec, layout).failure_set
    # What a resume must share with the interrupted training (as JSON reads it back): settings, base, failures, and
    # the process topology (the count sets the effective batch; FSDP and DDP checkpoints differ).
    settings = json.loads(json.dumps({"r3": args, "base_model": base["model_id"],
                                      "failures": hashlib.sha256(failures.read_bytes()).hexdigest(),
                                      "launch": {"num_processes": spec.training.num_processes,
                                                 "accelerate_config": spec.training.accelerate_config}}))
    previous = read_json(out.mlflow_run) if out.mlflow_run.exists() else {}
    # Reuse the MLflow run of an interrupted training in the same output dir, so a resume logs to one run. Changed
    # settings start afresh: the checkpoints were trained with the old ones.
    if previous and not out.result.exists() and previous.get("settings") == settings:
        mlflow_run_id = previous["run_id"]
    else:
        mlflow_run_id = tracking.start_run(experiment, f"{spec.name}-{run_id[:8]}",
                                           {"spec": spec.name, "dagster_run_id": run_id, "task": spec.task.name})
        write_json(out.mlflow_run, {"run_id": mlflow_run_id, "settings": settings})
        out.result.unlink(missing_ok=True)
        _clear_checkpoints(out.checkpoints)
    job = TrainJob(task=spec.task.name, task_config=spec.task.config, model_path=base["path"],
                   failures_path=str(failures),
                   output_dir=str(out.root), r3=args, mlflow_uri=tracking.tracking_uri(layout.home),
                   mlflow_run_id=mlflow_run_id, store_root=str(layout.store_root), spec=spec.name, run_id=run_id,
                   model_id=base["model_id"])
    job.write(out.job)
    return job


def _clear_checkpoints(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)


def trained_model_info(spec: Spec, layout: Layout) -> dict:
    out = paths(spec, layout).training
    result, run = read_json(out.result), read_json(out.mlflow_run)
    return {**result, "mlflow_run_id": run["run_id"], "model_id": f"{spec.name}:r3:{run['run_id'][:12]}"}


def training_integrity(spec: Spec, layout: Layout) -> dict:
    """R3's rules, checked on the stored rollouts of the last training run: every prompt comes from the failure
    set, and every reward equals the retry's verdict (1 if the retry was correct, else 0)."""
    from r3_pipeline.store import TrajectoryStore

    run_id = read_json(paths(spec, layout).training.job)["run_id"]
    failures = {f["row"]["task_id"] for f in read_jsonl(paths(spec, layout).failure_set)}
    rows = TrajectoryStore(layout.store_root).sql(
        "SELECT task_id, reward, retry_correct FROM episodes WHERE spec = ? AND stage = 'training' AND run_id = ?",
        [spec.name, run_id])[1]
    outside = sum(task_id not in failures for task_id, _, _ in rows)
    bad_reward = sum(reward != float(bool(correct)) for _, reward, correct in rows)
    return {"rollouts": len(rows), "outside_failure_set": outside, "reward_not_retry_verdict": bad_reward,
            "ok": bool(rows) and outside == 0 and bad_reward == 0}


def training_curves_png(spec: Spec, layout: Layout) -> bytes:
    """The training curves as PNG, also saved as `r3_model/training_curves.png` and logged to the MLflow run
    (`training/training_curves.png`), where the Dagster asset page shows it from."""
    from r3_pipeline.training.curves import curves_png, training_curves

    tracking.configure(layout.home, spec.name)
    out = paths(spec, layout).training
    run_id = read_json(out.mlflow_run)["run_id"]
    png = curves_png(training_curves(run_id), f"{spec.name}: R3 training")
    write_bytes(out.curves_png, png)
    tracking.log_artifact(run_id, out.curves_png, "training")
    return png


def mlflow_run_ref(spec: Spec, layout: Layout) -> dict:
    """The training run's MLflow experiment and run ids (the run that the evaluation and the model join)."""
    run_id = read_json(paths(spec, layout).training.mlflow_run)["run_id"]
    return {"experiment_id": tracking.configure(layout.home, spec.name), "run_id": run_id}


# -- evaluation --------------------------------------------------------------------------------------------

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


# -- registry ----------------------------------------------------------------------------------------------

def register(spec: Spec, layout: Layout) -> dict:
    evaluated = read_evaluation(spec, layout)
    results, gain = evaluated["results"], evaluated["gains"]["second"]
    trained = trained_model_info(spec, layout)
    experiment = tracking.configure(layout.home, spec.name)
    version = tracking.log_model_version(Path(trained["final_model"]), spec.registered_name, trained["mlflow_run_id"])
    promo = tracking.promote(spec.registered_name, version, results["trained"]["second"],
                             results["vanilla"]["second"], gain["ci"][0])
    tracking.describe(spec.registered_name, promo.version, _model_description(spec),
                      _version_description(evaluated, promo))
    info = {"registered_name": spec.registered_name, "version": promo.version, "alias": promo.alias,
            "reason": promo.reason, "previous_champion": promo.previous_champion,
            "model_uri": f"models:/{spec.registered_name}/{promo.version}", "mlflow_run_id": trained["mlflow_run_id"],
            "mlflow_experiment_id": experiment}
    write_json(paths(spec, layout).registry, info)
    return info


def _model_description(spec: Spec) -> str:
    return (f"Models trained by R3 (Reflect, Retry, Reward) for spec `{spec.name}` on the {spec.task.name} task. "
            f"{spec.description} Alias `champion`: the version that beat the previous champion on held-out "
            "second-attempt accuracy with a paired gain above noise; `challenger`: the latest that did not.")


def _version_description(evaluated: dict, promo) -> str:
    res, gain = evaluated["results"], evaluated["gains"]["second"]
    return (f"R3-trained from {evaluated['models'].get('vanilla', '?')}. Held-out second-attempt accuracy on "
            f"{evaluated['n']} tasks: vanilla {100 * res['vanilla']['second']:.1f}% -> trained "
            f"{100 * res['trained']['second']:.1f}% ({100 * gain['diff']:+.1f} points, paired 95% CI "
            f"[{100 * gain['ci'][0]:+.1f}, {100 * gain['ci'][1]:+.1f}]). Alias {promo.alias}: {promo.reason}.")
