"""The failure inbox in Dagster: per spec, the `production_failures` asset (one inbox file's rows, checked and
recorded), the job that retrains the champion on them (`<spec>_production_retraining`), the sensor that starts
it once per complete file (`<spec>_failure_inbox`), and the `no_forgetting` check on the evaluation.

Each file is consumed exactly once: the sensor's cursor (kept by the Dagster instance, so across daemon restarts)
lists the file names it has started a run for, and each run request carries the run key `inbox:<name>`, which
Dagster never launches twice for one sensor, should the cursor be lost between a run and its tick's end. The file
travels to the run's assets as the run tag `r3/inbox_file`, which a re-execution keeps. Runs of one spec queue
behind each other (run tag `r3/spec`, limited to one at a time in dagster.yaml): they share the spec's files.
"""

import json

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSelection,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    sensor,
)

from r3_pipeline import inbox, stages
from r3_pipeline.defs.resources import R3Home
from r3_pipeline.spec import Spec

INBOX_FILE_TAG = "r3/inbox_file"
SPEC_TAG = "r3/spec"
RETRAINED = ("base_model", "baseline", "r3_model", "evaluation", "registered_model")


def inbox_file(context) -> str:
    """The inbox file a run retrains on (its `r3/inbox_file` tag); empty outside a production round."""
    return context.run.tags.get(INBOX_FILE_TAG, "")


def inbox_definitions(spec: Spec, key, group: str, check) -> dict:
    """The asset, check, job and sensor of `spec`'s failure inbox; `key(name)` makes the spec's asset keys and
    `check(passed, text, metadata, warn)` an AssetCheckResult as the factory's checks make them."""

    @asset(key=key("production_failures"), deps=[key("tasks")], group_name=group,
           description="Production failures: one failure-inbox file's rows (the run's r3/inbox_file tag), checked "
                       "by the task's row rules; bad rows set aside with reasons in rejected_rows. One "
                       "materialization per file; query them with `r3 sql` (production_fates).")
    def production_failures(context: AssetExecutionContext, r3: R3Home) -> MaterializeResult:
        name = inbox_file(context)
        if not name:
            return MaterializeResult(metadata={"summary": f"no inbox file in this run (tag {INBOX_FILE_TAG})"})
        result = stages.record_inbox_file(spec, r3.layout, name, context.run.run_id)
        summary = (f"{name}: {result['accepted']} of {result['rows']} rows accepted, {result['rejected']} set aside"
                   f", {result['already_trained_on']} already trained on")
        return MaterializeResult(metadata={
            **{k: v for k, v in result.items() if isinstance(v, (int, str))}, "summary": summary,
            "rejected_reasons": MetadataValue.json(result["reasons"]),
            "first_rejected": MetadataValue.json(result["first_rejected"])})

    @asset_check(asset=key("evaluation"), op_tags={"dagster/priority": "10"},
                 description="No forgetting: the trained model is not significantly worse than the champion on the "
                             "regression set (held-out tasks and earlier production failures the champion fixed).")
    def no_forgetting(r3: R3Home) -> AssetCheckResult:
        reg = stages.read_evaluation(spec, r3.layout).get("regression") or {"champion": None, "ok": True}
        if reg.get("champion") is None:
            return check(True, reg.get("note", "no champion yet: nothing to forget"), {})
        text = (f"trained {100 * reg['trained_second']:.1f}% vs champion v{reg['champion']} "
                f"{100 * reg['champion_second']:.1f}% second attempt on {reg['n']} regression tasks "
                f"({reg['held_out']} held-out, {reg['production']} earlier production rows it fixed): "
                f"{100 * reg['diff']:+.1f} points, paired 95% CI [{100 * reg['ci'][0]:+.1f}, "
                f"{100 * reg['ci'][1]:+.1f}]" + ("" if reg["ok"] else ": significantly worse, not promoted"))
        return check(reg["ok"], text, {k: reg[k] for k in ("n", "held_out", "production", "production_checked",
                                                             "diff", "champion_second", "trained_second")}
                     | {"ci_low": reg["ci"][0], "ci_high": reg["ci"][1], "champion": str(reg["champion"])})

    start_from_champion = {"ops": {f"{spec.name}__base_model": {"config": {"start_from": "champion"}}}}
    job = define_asset_job(
        f"{spec.name}_production_retraining", tags={SPEC_TAG: spec.name},
        selection=AssetSelection.assets(key("production_failures"), *(key(n) for n in RETRAINED)),
        description=f"Retrain {spec.name}'s champion on one failure-inbox file (the run tag {INBOX_FILE_TAG}).")

    @sensor(name=f"{spec.name}_failure_inbox", job=job, minimum_interval_seconds=spec.inbox.poll_seconds,
            default_status=DefaultSensorStatus.RUNNING if spec.inbox.sensor_running else DefaultSensorStatus.STOPPED,
            description=f"Starts one retraining run from the champion per new complete file in {spec.name}'s "
                        "failure inbox (*.jsonl, *.parquet; write under a hidden or .part name, then rename).")
    def failure_inbox(context: SensorEvaluationContext, r3: R3Home):
        consumed = set(json.loads(context.cursor)) if context.cursor else set()
        folder = inbox.inbox_dir(spec, r3.layout)
        new = [name for name in inbox.complete_files(folder) if name not in consumed]
        if not new:
            return SkipReason(f"no new complete file in {folder}")
        return SensorResult(
            run_requests=[RunRequest(run_key=f"inbox:{name}", run_config=start_from_champion,
                                     tags={INBOX_FILE_TAG: name, SPEC_TAG: spec.name}) for name in new],
            cursor=json.dumps(sorted(consumed | set(new))))

    return {"assets": [production_failures], "checks": [no_forgetting], "jobs": [job], "sensors": [failure_inbox]}
