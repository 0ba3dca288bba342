"""MLflow, and the only place in the library that imports it: runs, metrics and artifacts (runs.py), and the
model registry with its champion/challenger promotion gate and rollback (registry.py).

The rest of the library reaches MLflow only through this package, as `from r3_pipeline import tracking;
tracking.configure(...)`, so every public name of both modules is importable from here. The store is SQLite
under R3_HOME unless $R3_MLFLOW_TRACKING_URI names another, such as a tracking server (`http://host:5000`).
MLflow is imported inside the functions that call it, so the Dagster definitions and the CLI, which only build
links, load without it.
"""

from r3_pipeline.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PREVIOUS_TAG,
    REASON_TAG,
    RESTORED_TAG,
    ROLLBACK_TAG,
    ROLLED_BACK,
    SCORE_TAG,
    Champion,
    Promotion,
    Rollback,
    champion_uri,
    champion_version,
    describe,
    load_champion,
    log_model_version,
    model_versions,
    promote,
    registry_lock,
    rollback,
)
from r3_pipeline.tracking.runs import (
    MLFLOW_UI_ENV,
    TRACKING_URI_ENV,
    active_run,
    configure,
    log_artifact,
    log_evaluation,
    log_metrics,
    log_params,
    metric_history,
    model_version_url,
    run_url,
    start_run,
    tracking_uri,
    ui_base,
)

__all__ = [
    "CHALLENGER", "CHAMPION", "DECISION_TAG", "MLFLOW_UI_ENV", "PREVIOUS_TAG", "REASON_TAG", "RESTORED_TAG",
    "ROLLBACK_TAG", "ROLLED_BACK", "SCORE_TAG", "TRACKING_URI_ENV", "Champion", "Promotion", "Rollback",
    "active_run", "champion_uri", "champion_version", "configure", "describe", "load_champion", "log_artifact",
    "log_evaluation", "log_metrics", "log_model_version", "log_params", "metric_history", "model_version_url",
    "model_versions", "promote", "registry_lock", "rollback", "run_url", "start_run", "tracking_uri", "ui_base",
]
