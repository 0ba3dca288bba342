"""The R3 training process: `accelerate launch -m r3_pipeline.training.train --job job.json`.

Training runs in its own process so the same command scales from one CPU to many GPUs (accelerate decides
the topology). The Dagster asset launches `r3_pipeline.defs.pipes_training`, which runs `run` here with a
reporter that speaks Dagster Pipes. A re-launch with the same output directory resumes from the last checkpoint.
With several processes every one runs `run`; only the main one logs to MLflow, stores the rollouts (gathered from
all), reports, and writes the final model and result.json (`r3_pipeline.training.distributed`).
"""

from __future__ import annotations

import argparse
import logging
from contextlib import nullcontext
from pathlib import Path

import torch

from r3_pipeline import tracking
from r3_pipeline.layout import TrainingOutputs, read_jsonl, write_json
from r3_pipeline.models.loading import load_model
from r3_pipeline.precision import use_bf16
from r3_pipeline.store import TrajectoryStore, episode_id
from r3_pipeline.tasks import make_task
from r3_pipeline.training.checkpoints import CheckpointManifest, discard_incomplete, last_complete_checkpoint
from r3_pipeline.training.distributed import (RankSyncCallback, exit_with_launcher, gather_to_main, is_main_launch_process,
                                              save_final_model, weights_sharded)
from r3_pipeline.training.job import TrainJob
from r3_pipeline.training.r3_config import R3Config
from r3_pipeline.training.r3_trainer import R3Trainer, RolloutResult
from r3_pipeline.training.reporting import MetricsCallback, Reporter
from r3_pipeline.training.vllm_colocate import close_colocated


def r3_args(job: TrainJob) -> R3Config:
    cpu = not torch.cuda.is_available()
    # TRL turns gradient checkpointing on to save GPU memory; on CPU memory is plentiful and recomputing the forward
    # in the backward cost a quarter of an R3 step (docs/r3_results.md, "Step time"). A spec may turn it back on.
    defaults = dict(output_dir=str(TrainingOutputs(Path(job.output_dir)).checkpoints), report_to="none", logging_steps=1,
                    save_strategy="steps", save_total_limit=2, use_cpu=cpu, bf16=not cpu, remove_unused_columns=False,
                    gradient_checkpointing=not cpu)
    args = {**defaults, **job.r3}
    args["bf16"] = use_bf16(args["bf16"], "R3 training")
    return R3Config(**args)


def training_scope(job: TrainJob) -> str:
    """What a training's episode ids and step files are scoped by: its output dir and MLflow run (not the model,
    which changes every step). A resume shares the MLflow run, so a replayed step replaces its file, never duplicates
    it, whatever the number of processes; a new training of the spec (a new round, changed settings) gets new names
    and leaves the earlier trainings' episodes in the store."""
    return f"{job.output_dir}:{job.mlflow_run_id}"


def store_recorder(job: TrainJob, store: TrajectoryStore, tokenizer, task):
    """Write each training rollout to the trajectory store (stage "training"), one file per step. With several
    processes each rolls out its own slice; the main process gathers every slice and writes the step's one file."""
    scope = training_scope(job)

    def record(result: RolloutResult) -> None:
        # The sample index is the position in the step's batch across processes, so no two processes share an id.
        rows = [e.to_record(spec=job.spec, stage="training", run_id=job.run_id, model_id=job.model_id, task=job.task,
                            step=result.step, reward=float(e.retry_verdict.correct), behaviour_of=task.reflection_behaviour,
                            id_scope=scope)
                for e in result.episodes(task, tokenizer)]
        rows = gather_to_main(rows)
        if rows is not None:
            store.write(rows, name=f"training-{episode_id(job.spec, scope)}-step{result.step:06d}")

    return record


def run(job: TrainJob, reporter: Reporter | None = None) -> dict:
    logging.basicConfig(level=logging.INFO)
    exit_with_launcher()
    task = make_task(job.task, job.task_config)
    failures = read_jsonl(Path(job.failures_path))
    pairs = [(f["row"], f["failed_attempt"]) for f in failures]
    model, tokenizer = load_model(job.model_path)
    args = r3_args(job)
    reporter = reporter or Reporter()
    main = is_main_launch_process()
    # One writer per MLflow run: the other processes' metrics reach it gathered (TRL and the rollout reduce them).
    with tracking.active_run(job.mlflow_run_id, job.mlflow_uri) if main else nullcontext():
        if main:
            # r3.* are the spec's settings; process.* what this machine ran (bf16: the precision used, not asked).
            tracking.log_params({**{f"r3.{k}": v for k, v in job.r3.items()},
                                 "process.torch_threads": torch.get_num_threads(), "process.bf16": args.bf16})
        recorder = store_recorder(job, TrajectoryStore(Path(job.store_root)), tokenizer, task) if job.store_root else None
        trainer = R3Trainer(model, args, task, pairs, tokenizer, on_rollout=recorder, callbacks=[MetricsCallback(reporter)])
        if main != trainer.accelerator.is_main_process:
            raise RuntimeError("the launcher's rank variables (RANK, ...) disagree with accelerate's process index: "
                               "every process would write the final model and talk to MLflow")
        trainer.add_callback(RankSyncCallback(trainer.accelerator, trainer.record_metric, weights_sharded(trainer)))
        trainer.add_callback(CheckpointManifest(trainer.accelerator))
        # Only a checkpoint every process finished writing (r3_pipeline.training.checkpoints): a kill mid-save or
        # mid-rotation leaves a folder that transformers' get_last_checkpoint would pick.
        resume = last_complete_checkpoint(args.output_dir)
        if main:
            discarded = discard_incomplete(args.output_dir)
            if discarded:
                reporter.info(f"discarded incomplete checkpoint(s) {', '.join(discarded)}")
            if resume:
                reporter.info(f"resuming from {resume}")
        try:
            out = trainer.train(resume_from_checkpoint=resume)
        finally:
            close_colocated(trainer)  # with use_vllm: free vLLM's memory before the model is saved and logged
        outputs = TrainingOutputs(Path(job.output_dir))
        final = save_final_model(trainer, tokenizer, outputs.final_model, merged)
        result = {"final_model": str(final), "global_step": trainer.state.global_step, "resumed_from": resume or "",
                  "train_loss": out.training_loss, "failures": len(pairs),
                  "train_seconds": out.metrics.get("train_runtime"), "num_processes": trainer.accelerator.num_processes}
        if main:
            write_json(outputs.result, result)  # atomic: its presence tells the next run that training finished
            reporter.materialized(result)
    return result


def merged(model):
    """The model to save and register: with LoRA, the base with the adapter merged in (a plain transformers
    model that every engine loads); otherwise the model itself."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model


def parse_job() -> TrainJob:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", required=True, help="Path of the TrainJob JSON written by the r3_model asset.")
    return TrainJob.read(Path(parser.parse_args().job))


def main() -> None:
    run(parse_job())


if __name__ == "__main__":
    main()
