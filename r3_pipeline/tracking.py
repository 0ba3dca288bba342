"""MLflow: runs, model logging, registry aliases and the promotion gate.

Registry stages are deprecated in MLflow 3, so promotion uses aliases: a new version takes `champion` only
when its held-out second-attempt accuracy beats the current champion's (or the base model's when there is
none); otherwise it is the `challenger`. The reason and the previous champion are recorded on the version
as tags, so a rollback knows where to go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

SCORE_TAG = "second_attempt_accuracy"


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


def configure(home: Path, experiment: str) -> str:
    """Point MLflow at the SQLite store under `home` (artifacts beside it); return the experiment id."""
    home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(home))
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return mlflow.create_experiment(experiment, artifact_location=(home / "mlartifacts").resolve().as_uri())
    return exp.experiment_id


@dataclass
class Promotion:
    version: str
    alias: str
    reason: str
    previous_champion: str | None


def log_model_version(model_dir: Path, registered_name: str, run_id: str) -> str:
    """Log a saved transformers model directory to the run and register it; returns the new version."""
    from r3_pipeline.models.loading import load_model

    model, tokenizer = load_model(model_dir)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer}, name="model", task="text-generation",
            pip_requirements=_requirements(),
        )
    return mlflow.register_model(info.model_uri, registered_name).version


def _requirements() -> list[str]:
    """Explicit requirements: MLflow's defaults for the transformers flavor name torchvision, which a CPU-only
    install (and many GPU ones) does not have, and resolving it fails."""
    from importlib.metadata import version

    return [f"{p}=={version(p).split('+')[0]}" for p in ("torch", "transformers", "tokenizers", "accelerate")]


def promote(registered_name: str, version: str, score: float, baseline_score: float) -> Promotion:
    """Give `version` the champion alias if `score` beats the champion's (or `baseline_score`), else challenger."""
    client = MlflowClient()
    client.set_model_version_tag(registered_name, version, SCORE_TAG, f"{score:.6f}")
    champion = _alias_version(client, registered_name, "champion")
    if champion is not None and champion.version != version:
        bar, against = float(champion.tags.get(SCORE_TAG, "0")), f"champion v{champion.version}"
    else:
        bar, against = baseline_score, "the base model"
    if score > bar:
        alias, verb = "champion", "beats"
    else:
        alias, verb = "challenger", "does not beat"
    reason = f"second-attempt accuracy {score:.4f} {verb} {against} ({bar:.4f})"
    previous = champion.version if champion is not None and alias == "champion" else None
    if previous:
        client.set_model_version_tag(registered_name, version, "previous_champion", previous)
    client.set_model_version_tag(registered_name, version, "promotion_reason", reason)
    client.set_registered_model_alias(registered_name, alias, version)
    return Promotion(version, alias, reason, previous)


def champion_uri(registered_name: str) -> str | None:
    """`models:/NAME@champion` when a champion exists."""
    client = MlflowClient()
    return f"models:/{registered_name}@champion" if _alias_version(client, registered_name, "champion") else None


def _alias_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None
