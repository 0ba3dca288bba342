"""Where everything lives on disk under one home folder (R3_HOME, default `.r3` in the working directory), named
once: `Layout` for the home, `SpecPaths` for each file a stage hands to the next, `TrainingOutputs` for what the
training process writes. Reading a path never creates anything (`r3 compare --spec typo` leaves the home as it
was); the writers below create the parent folder and replace files atomically (a temporary file renamed over the
old one), so a reader, resume decisions included, sees a whole file or none.

    <home>/specs/<spec>/tasks/{train,test,rejected}.jsonl, counts.json     prepared task rows (tasks)
    <home>/specs/<spec>/base_model/info.json, model/         the base model (model/ when warm-started or adapted)
    <home>/specs/<spec>/baseline/failure_set.jsonl           mined failures (baseline)
    <home>/specs/<spec>/r3_model/job.json                    the TrainJob the training process reads
    <home>/specs/<spec>/r3_model/mlflow_run.json             the training's MLflow run and the settings it ran with
    <home>/specs/<spec>/r3_model/{checkpoints/,final/,result.json}   written by the training process
    <home>/specs/<spec>/r3_model/training_curves.png
    <home>/specs/<spec>/evaluation/{results.json,accuracy.png}
    <home>/specs/<spec>/registry.json                        the registered version and its alias
    <home>/specs/<spec>/report.html                          `r3 report`
    <home>/models/<gguf name>-<fingerprint>/                 GGUF weights converted to safetensors, shared by specs
    <home>/store/                                            trajectory Parquet files (query with `r3 sql`)
    <home>/inbox/<spec>/                                     the failure inbox (unless the spec's inbox.path says)
    <home>/mlflow.db, <home>/mlartifacts/, <home>/registry.lock   MLflow tracking store, artifacts, registry lock
    <home>/dagster/                                          DAGSTER_HOME (unless set)
    <home>/logs/run-*.log                                    Dagster's log of each `r3 run` without --verbose
    <home>/summary.json                                      what the last `r3 run` achieved
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("R3_HOME", ".r3")).resolve()


@dataclass(frozen=True)
class TrainingOutputs:
    """The training folder (`r3_model/`): what the pipeline hands the training process and what it writes back."""

    root: Path

    @property
    def job(self) -> Path:
        return self.root / "job.json"

    @property
    def mlflow_run(self) -> Path:
        return self.root / "mlflow_run.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final_model(self) -> Path:
        return self.root / "final"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def curves_png(self) -> Path:
        return self.root / "training_curves.png"


@dataclass(frozen=True)
class SpecPaths:
    """Every file of one spec under `<home>/specs/<spec>/`; pure paths, nothing is created."""

    root: Path

    @property
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    def split(self, name: str) -> Path:
        """`train`, `test` or `rejected` task rows."""
        return self.tasks_dir / f"{name}.jsonl"

    @property
    def task_counts(self) -> Path:
        return self.tasks_dir / "counts.json"

    @property
    def base_model_dir(self) -> Path:
        return self.root / "base_model"

    @property
    def base_model_info(self) -> Path:
        return self.base_model_dir / "info.json"

    @property
    def base_model_weights(self) -> Path:
        return self.base_model_dir / "model"

    @property
    def failure_set(self) -> Path:
        return self.root / "baseline" / "failure_set.jsonl"

    @property
    def training(self) -> TrainingOutputs:
        return TrainingOutputs(self.root / "r3_model")

    @property
    def evaluation_dir(self) -> Path:
        return self.root / "evaluation"

    @property
    def evaluation_results(self) -> Path:
        return self.evaluation_dir / "results.json"

    @property
    def accuracy_png(self) -> Path:
        return self.evaluation_dir / "accuracy.png"

    @property
    def registry(self) -> Path:
        return self.root / "registry.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"


class Layout:
    def __init__(self, home: str | Path | None = None):
        self.home = Path(home).resolve() if home else default_home()

    def spec(self, name: str) -> SpecPaths:
        return SpecPaths(self.home / "specs" / name)

    @property
    def store_root(self) -> Path:
        return self.home / "store"

    @property
    def models_dir(self) -> Path:
        """Converted GGUF models, shared by specs."""
        return self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def summary_path(self) -> Path:
        return self.home / "summary.json"


def write_bytes(path: Path, data: bytes) -> Path:
    """Replace `path` with `data` atomically, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def write_json(path: Path, data) -> Path:
    return write_bytes(path, json.dumps(data, indent=2, default=str).encode())


def read_json(path: Path):
    return json.loads(path.read_text())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    return write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
