"""MLflow runs: where the tracking store is, links into its UI, runs, parameters, metrics and artifacts.

The training process logs its steps here, the stages start the training run and log the evaluation to it, and
Dagster and the reports link to it. The store is SQLite under R3_HOME unless $R3_MLFLOW_TRACKING_URI names
another, such as a tracking server (`http://host:5000`). MLflow is imported inside the functions that call it,
so the Dagster definitions and the CLI, which only build links, load without it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

MLFLOW_UI_ENV = "R3_MLFLOW_UI"  # where `make mlflow-ui` serves the store, for links from Dagster and reports
# Another tracking store than the SQLite one under R3_HOME, e.g. a tracking server. Not MLflow's own
# MLFLOW_TRACKING_URI: mlflow.set_tracking_uri writes that variable, so it would carry one home into the next.
TRACKING_URI_ENV = "R3_MLFLOW_TRACKING_URI"


def ui_base() -> str:
    """Where links point: $R3_MLFLOW_UI, else a tracking server's own address, else `make mlflow-ui`'s."""
    server = os.environ.get(TRACKING_URI_ENV, "")
    default = server if server.startswith(("http://", "https://")) else "http://localhost:5000"
    return os.environ.get(MLFLOW_UI_ENV, default).rstrip("/")


def run_url(experiment_id: str, run_id: str) -> str:
    return f"{ui_base()}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(registered_name: str, version: str) -> str:
    return f"{ui_base()}/#/models/{registered_name}/versions/{version}"


def tracking_uri(home: Path) -> str:
    return os.environ.get(TRACKING_URI_ENV) or f"sqlite:///{(home / 'mlflow.db').resolve()}"


def configure(home: Path, experiment: str) -> str:
    """Point MLflow at the tracking store (SQLite under `home` with artifacts beside it, or $R3_MLFLOW_TRACKING_URI
    with the artifacts where its server keeps them); return the experiment id."""
    import mlflow

    home.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(home)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        local = uri.startswith("sqlite:///")
        artifacts = (home / "mlartifacts").resolve().as_uri() if local else None
        return mlflow.create_experiment(experiment, artifact_location=artifacts)
    return exp.experiment_id


def start_run(experiment_id: str, name: str, tags: dict[str, str]) -> str:
    """A new (ended) MLflow run in `experiment_id` with `tags`; its id, for the training to log to."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        mlflow.set_tags(tags)
        return run.info.run_id


@contextmanager
def active_run(run_id: str = "", uri: str = ""):
    """Log to `run_id` (a new run when empty) on the store at `uri` (the current one when empty) inside the block,
    as the training process does; `log_params` and `log_metrics` go to it."""
    import mlflow

    if uri:
        mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id or None) as run:
        yield run.info.run_id


def log_params(params: dict) -> None:
    import mlflow

    mlflow.log_params(params)


def log_metrics(metrics: dict[str, float], step: int) -> None:
    import mlflow

    mlflow.log_metrics(metrics, step=step)


def metric_history(run_id: str, name: str) -> list[tuple[int, float, int]]:
    """Every (step, value, timestamp) logged for metric `name` of the run, in logging order."""
    from mlflow import MlflowClient

    history = MlflowClient().get_metric_history(run_id, name)
    return [(m.step, m.value, m.timestamp) for m in sorted(history, key=lambda m: m.timestamp)]


def log_artifact(run_id: str, path: Path, artifact_path: str) -> None:
    """Attach the file at `path` to the run, under `artifact_path`."""
    import mlflow

    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_evaluation(run_id: str, evaluated: dict, plot_png: Path) -> None:
    """The held-out evaluation on the training run, in forms MLflow compares: one table (`evaluation.json`, one row
    per model and attempt), one bar chart of all of them on one scale, and a metric per model and attempt."""
    import mlflow

    rows = [{"model": model, "attempt": attempt, "accuracy": res[attempt], "ci_low": res[f"{attempt}_ci"][0],
             "ci_high": res[f"{attempt}_ci"][1], "n": res["n"]}
            for model, res in evaluated["results"].items() for attempt in ("first", "second")]
    with mlflow.start_run(run_id=run_id):
        mlflow.log_table({k: [r[k] for r in rows] for k in rows[0]}, artifact_file="evaluation.json")
        mlflow.log_artifact(str(plot_png), artifact_path="evaluation")
        for r in rows:
            mlflow.log_metric(f"eval_{r['model']}_{r['attempt']}_attempt", r["accuracy"])
