"""The MLflow model registry: model versions, the champion/challenger promotion gate, rollback, descriptions.

Registry stages are deprecated in MLflow 3, so promotion uses aliases: a new version takes `champion` only
when its held-out second-attempt accuracy strictly beats the current champion's (or the base model's when
there is none), its gain over the model it was trained from survives the statistics (the paired 95%
interval on the same tasks lies above zero), and it does not forget (not significantly worse than the champion
on a regression set: held-out tasks and earlier production failures the champion fixed); otherwise, ties,
noise and NaN included, it is the `challenger`.
The score, the reason and the previous champion are recorded on the version as tags, so `rollback` knows
where to go.

Registration and promotion are read-modify-writes of the registry, so they hold a lock (`registry_lock`: a file
lock beside a SQLite store, a PostgreSQL advisory lock for a tracking server): two pipelines registering at once leave one champion, the better one, and
an unbroken previous-champion chain. Both are idempotent per training run, so an asset re-materialized
after an interruption neither adds a second version nor decides twice.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r3_pipeline.registry_lock import registry_lock as lock_for
from r3_pipeline.tracking.gate import CHALLENGER, CHAMPION, SCORE_TAG, decide, guard_forgetting

if TYPE_CHECKING:
    from mlflow import MlflowClient

ROLLED_BACK = "rolled_back"
REASON_TAG = "promotion_reason"
PREVIOUS_TAG = "previous_champion"
DECISION_TAG = "promotion_alias"  # written last: its presence means the promotion decision is complete
ROLLBACK_TAG = "rollback_reason"
RESTORED_TAG = "rolled_back_from"


@dataclass
class Champion:
    model: Any
    tokenizer: Any
    version: str


def load_champion(registered_name: str) -> Champion | None:
    """The current champion's model and tokenizer (transformers objects) and version; None without a champion."""
    import mlflow
    from mlflow import MlflowClient

    champion = _alias_version(MlflowClient(), registered_name, CHAMPION)
    if champion is None:
        return None
    parts = mlflow.transformers.load_model(f"models:/{registered_name}@{CHAMPION}", return_type="components")
    return Champion(parts["model"], parts["tokenizer"], str(champion.version))


@contextmanager
def registry_lock():
    """Serialize registry read-modify-writes across processes: a file lock beside a SQLite store, a PostgreSQL
    advisory lock for a tracking server (r3_pipeline/registry_lock.py)."""
    import mlflow

    with lock_for(mlflow.get_tracking_uri()):
        yield


@dataclass
class Promotion:
    version: str
    alias: str
    reason: str
    previous_champion: str | None


@dataclass
class Rollback:
    registered_name: str
    demoted: str
    champion: str
    note: str


def log_model_version(model_dir: Path, registered_name: str, run_id: str) -> str:
    """Log a saved transformers model directory to the run and register it; return its version.

    Idempotent per run: a model already logged to `run_id` is reused and a version already registered from
    it is returned, so a re-run after an interruption adds no second version.
    """
    import mlflow
    from mlflow import MlflowClient

    model_uri = _logged_model_uri(run_id) or _log_model(model_dir, run_id)
    with registry_lock():  # the look-up and the registration are one step for racing registrations of a run
        existing = _run_version(MlflowClient(), registered_name, run_id)
        return existing or str(mlflow.register_model(model_uri, registered_name).version)


def _log_model(model_dir: Path, run_id: str) -> str:
    import mlflow

    from r3_pipeline.models.loading import load_model

    model, tokenizer = load_model(model_dir)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer}, name="model", task="text-generation",
            pip_requirements=_requirements(),
        )
    return info.model_uri


def _logged_model_uri(run_id: str) -> str | None:
    import mlflow
    from mlflow.entities import LoggedModelStatus

    experiment = mlflow.get_run(run_id).info.experiment_id
    logged = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                         filter_string=f"source_run_id='{run_id}' AND name='model'")
    return next((m.model_uri for m in logged if m.status == LoggedModelStatus.READY), None)


def _run_version(client: MlflowClient, registered_name: str, run_id: str) -> str | None:
    found = client.search_model_versions(f"name='{registered_name}' AND run_id='{run_id}'")
    return str(min(int(v.version) for v in found)) if found else None


def _requirements() -> list[str]:
    """Explicit requirements: MLflow's defaults for the transformers flavor name torchvision, which a CPU-only
    install (and many GPU ones) does not have, and resolving it fails."""
    from importlib.metadata import version

    return [f"{p}=={version(p).split('+')[0]}" for p in ("torch", "transformers", "tokenizers", "accelerate")]


def promote(registered_name: str, version: str, score: float, baseline_score: float, gain_low: float,
            regression: dict | None = None) -> Promotion:
    """Give `version` the champion alias if `score` beats the champion's (or `baseline_score`), `gain_low`,
    the lower end of the paired 95% interval of `score - baseline_score` on the same tasks, is above zero, and
    it does not forget: on `regression` (the evaluation's regression set against the champion, see
    stages.evaluation.regression) the paired 95% interval of its difference does not lie below zero; else
    challenger. Without `regression` the forgetting guard does not apply.

    The champion is read under `registry_lock`, so a concurrent promotion is compared with the winner of the
    other. A version promoted before keeps its recorded decision.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    version = str(version)
    with registry_lock():
        champion = _alias_version(client, registered_name, CHAMPION)
        earlier = _earlier_promotion(client, client.get_model_version(registered_name, version), champion)
        if earlier:
            return earlier
        alias, reason = guard_forgetting(*decide(score, champion, baseline_score, gain_low), champion, regression)
        previous = str(champion.version) if champion is not None and alias == CHAMPION else None
        tags = {SCORE_TAG: f"{score:.6f}", REASON_TAG: reason, **({PREVIOUS_TAG: previous} if previous else {})}
        for key, value in tags.items():
            client.set_model_version_tag(registered_name, version, key, value)
        client.set_registered_model_alias(registered_name, alias, version)
        client.set_model_version_tag(registered_name, version, DECISION_TAG, alias)
    return Promotion(version, alias, reason, previous)


def _earlier_promotion(client: MlflowClient, mv, champion) -> Promotion | None:
    """The decision already made for `mv`; an interruption between moving the alias and recording the decision
    leaves `mv` champion without DECISION_TAG, and that decision is completed here."""
    decided = mv.tags.get(DECISION_TAG)
    if decided is None:
        if champion is None or str(champion.version) != str(mv.version):
            return None
        decided = CHAMPION
        client.set_model_version_tag(mv.name, mv.version, DECISION_TAG, decided)
    return Promotion(str(mv.version), decided, mv.tags.get(REASON_TAG, ""), mv.tags.get(PREVIOUS_TAG))


def rollback(registered_name: str, to_version: str | None = None, reason: str = "") -> Rollback:
    """Move `champion` back to the current champion's recorded previous champion, or to `to_version`.

    Rolling back again walks further back: the restored version's own `previous_champion` is next. The
    demoted version stays registered, takes the `rolled_back` alias (held by the latest one demoted) and a
    `rollback_reason` tag; it does not take `challenger`, which names a candidate that lost on score. The
    restored version records `rolled_back_from`. Later promotions are compared with the restored champion.
    Raises ValueError when there is no champion, no previous champion, or no such version.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    with registry_lock():
        champion = _alias_version(client, registered_name, CHAMPION)
        if champion is None:
            raise ValueError(f"{registered_name} has no champion to roll back")
        demoted = str(champion.version)
        target = str(to_version) if to_version is not None else champion.tags.get(PREVIOUS_TAG)
        if target is None:
            raise ValueError(f"champion v{demoted} of {registered_name} records no previous champion; "
                             "name the version to roll back to")
        if target == demoted:
            raise ValueError(f"v{target} of {registered_name} is already the champion")
        _require_version(client, registered_name, target)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        note = f"rolled back to v{target} at {stamp}" + (f": {reason}" if reason else "")
        client.set_model_version_tag(registered_name, demoted, ROLLBACK_TAG, note)
        client.set_model_version_tag(registered_name, target, RESTORED_TAG, demoted)
        client.set_registered_model_alias(registered_name, CHAMPION, target)
        client.set_registered_model_alias(registered_name, ROLLED_BACK, demoted)
    return Rollback(registered_name, demoted, target, note)


def _require_version(client: MlflowClient, registered_name: str, version: str) -> None:
    import mlflow

    try:
        client.get_model_version(registered_name, version)
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"{registered_name} has no version {version!r}") from None


def model_versions(registered_name: str) -> list:
    """Every version of `registered_name`, oldest first, each with its `aliases` filled in (searches leave
    them empty)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        aliases = client.get_registered_model(registered_name).aliases
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"no registered model {registered_name}") from None
    versions = sorted(client.search_model_versions(f"name='{registered_name}'"), key=lambda v: int(v.version))
    for mv in versions:
        mv.aliases = sorted(a for a, v in aliases.items() if str(v) == str(mv.version))
    return versions


def champion_version(registered_name: str) -> str | None:
    """The version holding `champion`, or None."""
    from mlflow import MlflowClient

    champion = _alias_version(MlflowClient(), registered_name, CHAMPION)
    return str(champion.version) if champion is not None else None


def champion_uri(registered_name: str) -> str | None:
    """`models:/NAME@champion` when a champion exists."""
    from mlflow import MlflowClient

    client = MlflowClient()
    return f"models:/{registered_name}@champion" if _alias_version(client, registered_name, CHAMPION) else None


def _alias_version(client: MlflowClient, name: str, alias: str):
    import mlflow

    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None


def describe(registered_name: str, version: str, model_text: str, version_text: str) -> None:
    """Descriptions on the registered model and on one version, as the MLflow registry pages show them."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.update_registered_model(registered_name, description=model_text)
    client.update_model_version(registered_name, str(version), description=version_text)
