"""Where everything lives on disk under one home folder (R3_HOME, default `.r3` in the working directory).

    <home>/specs/<spec>/tasks/{train,test,rejected}.jsonl   prepared task rows
    <home>/specs/<spec>/base_model/                         info.json; model/ when warm-started or adapted
    <home>/models/<gguf name>-<fingerprint>/                GGUF weights converted to safetensors, shared by specs
    <home>/specs/<spec>/baseline/failure_set.jsonl          mined failures
    <home>/specs/<spec>/r3_model/{job.json,checkpoints,final}
    <home>/specs/<spec>/evaluation/results.json
    <home>/specs/<spec>/registry.json
    <home>/store/                                           trajectory Parquet files (query with `r3 sql`)
    <home>/mlflow.db, <home>/mlartifacts/                   MLflow tracking store and artifacts
    <home>/dagster/                                         DAGSTER_HOME
    <home>/summary.json                                     what the last `r3 run` achieved
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("R3_HOME", ".r3")).resolve()


class Layout:
    def __init__(self, home: str | Path | None = None):
        self.home = Path(home).resolve() if home else default_home()

    def spec_dir(self, spec: str, stage: str = "") -> Path:
        path = self.home / "specs" / spec / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def store_root(self) -> Path:
        return self.home / "store"

    @property
    def summary_path(self) -> Path:
        return self.home / "summary.json"


def write_json(path: Path, data) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)
    return path


def read_json(path: Path):
    return json.loads(path.read_text())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
