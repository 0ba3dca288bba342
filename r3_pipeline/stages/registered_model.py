"""The `registered_model` asset: the trained model as a version in the MLflow registry, with its alias.

A trained model is worth serving only if it beats the current champion on held-out tasks by more than noise, so
this stage logs the model as a new version of `r3-<spec>` and lets the promotion gate (r3_pipeline.tracking)
decide `champion` or `challenger` from the evaluation's numbers (its held-out gain, and its regression set
against the champion: the forgetting guard); the descriptions say why, in the registry.
"""

from __future__ import annotations

from pathlib import Path

from r3_pipeline import tracking
from r3_pipeline.layout import Layout, write_json
from r3_pipeline.spec import Spec
from r3_pipeline.stages.common import paths
from r3_pipeline.stages.evaluation import read_evaluation
from r3_pipeline.stages.r3_model import trained_model_info


def register(spec: Spec, layout: Layout, inbox_file: str = "") -> dict:
    """Register the trained model and decide its alias; the version also goes to the store's
    `registered_versions` table, which the `production_fates` view reads ("fixed by vN")."""
    from r3_pipeline.store import TrajectoryStore

    evaluated = read_evaluation(spec, layout)
    results, gain = evaluated["results"], evaluated["gains"]["second"]
    trained = trained_model_info(spec, layout)
    experiment = tracking.configure(layout.home, spec.name)
    version = tracking.log_model_version(Path(trained["final_model"]), spec.registered_name, trained["mlflow_run_id"])
    promo = tracking.promote(spec.registered_name, version, results["trained"]["second"],
                             results["vanilla"]["second"], gain["ci"][0], evaluated.get("regression"))
    tracking.describe(spec.registered_name, promo.version, _model_description(spec),
                      _version_description(evaluated, promo))
    info = {"registered_name": spec.registered_name, "version": promo.version, "alias": promo.alias,
            "reason": promo.reason, "previous_champion": promo.previous_champion,
            "model_uri": f"models:/{spec.registered_name}/{promo.version}", "mlflow_run_id": trained["mlflow_run_id"],
            "mlflow_experiment_id": experiment}
    write_json(paths(spec, layout).registry, info)
    TrajectoryStore(layout.store_root).write_table("registered_versions", [
        {"spec": spec.name, "version": str(promo.version), "alias": promo.alias, "model_id": trained["model_id"],
         "reason": promo.reason, "inbox_file": inbox_file}], batch=f"{spec.name}-v{promo.version}")
    return info


def _model_description(spec: Spec) -> str:
    return (f"Models trained by R3 (Reflect, Retry, Reward) for spec `{spec.name}` on the {spec.task.name} task. "
            f"{spec.description} Alias `champion`: the version that beat the previous champion on held-out "
            "second-attempt accuracy with a paired gain above noise; `challenger`: the latest that did not.")


def _version_description(evaluated: dict, promo) -> str:
    res, gain = evaluated["results"], evaluated["gains"]["second"]
    return (f"R3-trained from {evaluated['models'].get('vanilla', '?')}. Held-out second-attempt accuracy on "
            f"{evaluated['n']} tasks: vanilla {100 * res['vanilla']['second']:.1f}% -> trained "
            f"{100 * res['trained']['second']:.1f}% ({100 * gain['diff']:+.1f} points, paired 95% CI "
            f"[{100 * gain['ci'][0]:+.1f}, {100 * gain['ci'][1]:+.1f}]). Alias {promo.alias}: {promo.reason}.")
