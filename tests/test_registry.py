"""The promotion gate on a real MLflow SQLite store: a better model takes `champion`, a worse one is only the
`challenger` (the champion stays), reasons and the previous champion are recorded, and a retraining run can
start from the champion."""

from pathlib import Path

import mlflow
from mlflow import MlflowClient

from r3_pipeline import stages, tracking
from r3_pipeline.layout import Layout
from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
from r3_pipeline.models.loading import load_model, save_model
from r3_pipeline.models.tokenizer import train_tokenizer


def _tiny_model(path: Path, seed: int) -> Path:
    tok = train_tokenizer(["Numbers: 1, 2, 3. Target: 6. <answer>1 + 2 + 3</answer>"], 280)
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=32, seed=seed), tok)
    return save_model(model, tok, path)


def _register(home: Path, model_dir: Path, score: float, baseline: float) -> tracking.Promotion:
    experiment = tracking.configure(home, "micro")
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    version = tracking.log_model_version(model_dir, "r3-micro-test", run.info.run_id)
    return tracking.promote("r3-micro-test", version, score, baseline)


def test_promotion_gate_and_start_from_champion(tmp_path, micro_spec):
    home = tmp_path / "home"
    first = _register(home, _tiny_model(tmp_path / "m1", 1), score=0.30, baseline=0.20)
    assert first.alias == "champion" and "beats the base model" in first.reason
    worse = _register(home, _tiny_model(tmp_path / "m2", 2), score=0.25, baseline=0.20)
    assert worse.alias == "challenger" and f"does not beat champion v{first.version}" in worse.reason
    better = _register(home, _tiny_model(tmp_path / "m3", 3), score=0.40, baseline=0.20)
    assert better.alias == "champion" and better.previous_champion == first.version

    client = MlflowClient()
    assert client.get_model_version_by_alias("r3-micro-test", "champion").version == better.version
    assert client.get_model_version_by_alias("r3-micro-test", "challenger").version == worse.version
    assert client.get_model_version("r3-micro-test", worse.version).tags["promotion_reason"] == worse.reason

    info = stages.build_base_model(micro_spec, Layout(home), start_from="champion")
    assert info["model_id"] == f"r3-micro-test/v{better.version}"
    model, _ = load_model(info["path"])
    expected, _ = load_model(tmp_path / "m3")
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), expected.state_dict().values()))


def test_start_from_champion_without_one_falls_back_to_the_spec_model(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    stages.prepare_tasks(micro_spec, layout)
    info = stages.build_base_model(micro_spec, layout, start_from="champion")
    assert info["model_id"] == "micro:embedded" and "no champion registered" in info["note"]
