"""Pipeline specs: one YAML file in assets/specs/ per pipeline (task x model x mining/training/evaluation).

A spec is parsed into typed dataclasses before any work starts; an unknown or ill-typed key fails with a
message naming the field. Training settings are a preset from assets/presets/ plus overrides: the preset must
exist and every key of both must be an R3Config field, checked here against the names in
`r3_pipeline.training.r3_config_fields` (R3Config itself, a TRL GRPOConfig, is imported only by the training
process). The task's config keys are checked against the task's config dataclass. The sections of a spec
(task, model, mining, training, ...) are dataclasses of their own, in spec_sections.py.

This module and the config dataclasses it takes import no torch, transformers, TRL or MLflow: loading the
specs (every Dagster code-location load, `r3 registry`) stays cheap.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from r3_pipeline.prompts import ASSETS_DIR, load_prompts
from r3_pipeline.rollout.sampling import GenerationLimits, Sampling
from r3_pipeline.spec_sections import (
    ACCELERATE_DIR,
    EvaluationSpec,
    InboxSpec,
    MiningSpec,
    ModelSpec,
    RegistrySpec,
    ScheduleSpec,
    TaskSpec,
    TrainingSpec,
)
from r3_pipeline.training.r3_config_fields import R3_CONFIG_FIELDS
from r3_pipeline.training.warm_start_config import GENERIC

SPECS_DIR = ASSETS_DIR / "specs"
PRESETS_DIR = ASSETS_DIR / "presets"


class SpecError(ValueError):
    pass


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
    inbox: InboxSpec = field(default_factory=InboxSpec)
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
    if spec.inbox.poll_seconds < 1 or spec.inbox.regression_rows < 0:
        raise SpecError(f"{where}.inbox: poll_seconds must be >= 1 and regression_rows >= 0")
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
    if spec.model.shipped and spec.model.source != "embedded":
        raise SpecError(f"{where}.model.shipped: shipped warm-started weights are for the embedded default; a "
                        f"pretrained source ({spec.model.source!r}) is adapted with model.adapt")
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
