"""What the training process is told to do (`TrainJob`, the job.json it reads), as a plain dataclass free of torch and
TRL: the stage that prepares training writes it, `r3_pipeline.training.train` reads it in its own process."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r3_pipeline.layout import write_json


@dataclass
class TrainJob:
    task: str
    task_config: dict
    model_path: str
    failures_path: str  # JSONL of {"row": {...}, "failed_attempt": "..."}
    output_dir: str
    r3: dict = field(default_factory=dict)  # R3Config fields
    mlflow_uri: str = ""
    mlflow_run_id: str = ""
    store_root: str = ""
    spec: str = ""
    run_id: str = ""
    model_id: str = "base"

    def write(self, path: Path) -> Path:
        return write_json(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> "TrainJob":
        return cls(**json.loads(Path(path).read_text()))
