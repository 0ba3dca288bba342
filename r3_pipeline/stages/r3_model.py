"""The `r3_model` asset: R3 training of the base model on its failure set, prepared here and run elsewhere.

Training runs in its own process (`accelerate launch`, started by the Dagster layer through Pipes), so this
stage only writes what that process needs (the TrainJob, with the MLflow run it logs to, reused when an
interrupted training resumes with the same settings) and reads back what it left: the trained model's info,
its training curves, and the check that R3's rules held on the stored rollouts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from r3_pipeline import tracking
from r3_pipeline.layout import Layout, read_json, read_jsonl, write_bytes, write_json
from r3_pipeline.spec import Spec
from r3_pipeline.stages.base_model import base_model_info
from r3_pipeline.stages.common import paths
from r3_pipeline.training.job import TrainJob


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
        # Every Dagster run that worked on this training: until it finishes, mining does not count its rows as
        # trained on (stages.trained_task_ids), so a rerun mines the same failure set and resumes.
        runs = previous.get("dagster_runs", [])
        write_json(out.mlflow_run, {**previous, "dagster_runs": runs + [run_id] * (run_id not in runs)})
    else:
        mlflow_run_id = tracking.start_run(experiment, f"{spec.name}-{run_id[:8]}",
                                           {"spec": spec.name, "dagster_run_id": run_id, "task": spec.task.name,
                                            "base_model": base["model_id"],
                                            "base_model_origin": base.get("origin", "")})
        write_json(out.mlflow_run, {"run_id": mlflow_run_id, "settings": settings, "dagster_runs": [run_id]})
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
