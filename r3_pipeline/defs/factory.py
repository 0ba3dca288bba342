"""The asset factory: each spec in assets/specs/ becomes the chain
`tasks -> base_model -> baseline -> r3_model -> evaluation -> registered_model` under the spec's key prefix,
with asset checks, a job and a retraining schedule, and the failure inbox's asset, job and sensor (defs/inbox.py).
Asset bodies only call `r3_pipeline.stages`.
"""

import base64
import sys
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from r3_pipeline import evaluation as eval_lib
from r3_pipeline import pass_rates, stages, tracking
from r3_pipeline.defs.config import BaseModelConfig, EvaluationConfig, MiningConfig
from r3_pipeline.defs.inbox import SPEC_TAG, inbox_definitions, inbox_file
from r3_pipeline.defs.progress_log import progress_to_event_log
from r3_pipeline.defs.resources import R3Home
from r3_pipeline.spec import Spec


# Dagster shows a markdown metadata value on the asset page only when it is under 1,000 characters; longer ones
# (any PNG as a data URI) hide behind "[Show Markdown]". So each plot comes twice: inline, as an image the MLflow
# UI serves (`make mlflow-ui`; tracking.MLFLOW_UI_ENV sets where), and embedded, which opens on a click and needs
# no server.
CHECK_FIRST = {"dagster/priority": "10"}  # checks run as soon as their asset is materialized, before the next asset


def _md_image(png: bytes) -> MetadataValue:
    return MetadataValue.md(f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})")


def _plots(name: str, png: bytes, run_id: str, artifact: str, path: Path) -> dict:
    url = f"{tracking.ui_base()}/get-artifact?path={artifact}&run_uuid={run_id}"
    return {name: MetadataValue.md(f"![{name}]({url})"), f"{name}_embedded": _md_image(png),
            f"{name}_file": MetadataValue.path(str(path))}


def _check(passed: bool, text: str, metadata: dict, warn: bool = False) -> AssetCheckResult:
    return AssetCheckResult(passed=passed, description=text, metadata={"result": text, **metadata},
                            severity=AssetCheckSeverity.WARN if warn else AssetCheckSeverity.ERROR)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _resolve(launcher: list[str]) -> list[str]:
    """Run a launcher installed beside this interpreter (the project's venv) when there is one."""
    local = Path(sys.executable).parent / launcher[0]
    return [str(local), *launcher[1:]] if local.exists() else list(launcher)


def spec_definitions(spec: Spec) -> dict:
    """Assets, checks, job and schedule for one spec."""
    prefix = [spec.name]
    key = lambda name: AssetKey([*prefix, name])  # noqa: E731
    group = spec.name

    @asset(key=key("tasks"), group_name=group, description=f"Task rows for {spec.task.name}: train/test splits.")
    def tasks(r3: R3Home) -> MaterializeResult:
        counts = stages.prepare_tasks(spec, r3.layout)
        summary = f"train {counts['train']}, test {counts['test']}, rejected {counts['rejected']}"
        return MaterializeResult(metadata={**counts, "task": spec.task.name, "summary": summary})

    @asset_check(asset=key("tasks"), op_tags=CHECK_FIRST, description="No held-out test task appears in the train split.")
    def train_test_disjoint(r3: R3Home) -> AssetCheckResult:
        test = stages.load_split(spec, r3.layout, "test")
        n = stages.overlap(stages.load_split(spec, r3.layout, "train"), test)
        text = (f"no test row in train ({len(test)} test rows)" if n == 0 else
                f"{n} of {len(test)} test rows ({_pct(n / max(len(test), 1))}) also in train")
        return _check(n == 0, text, {"overlapping_test_rows": n})

    @asset_check(asset=key("tasks"), op_tags=CHECK_FIRST,
                 description="Rows set aside as invalid stay under the task's max_reject_rate.")
    def rejection_rate(r3: R3Home) -> AssetCheckResult:
        result = stages.rejection_rate(spec, r3.layout)
        text = (f"{result['rejected']} of {result['rows']} rows rejected ({_pct(result['rate'])}), limit "
                f"{_pct(result['max_rate'])}" + ("" if result["ok"] else
                                                 f": {_pct(result['rate'] - result['max_rate'])} over"))
        return _check(result["ok"], text, {k: round(v, 4) if isinstance(v, float) else v
                                           for k, v in result.items() if k != "ok"})

    @asset_check(asset=key("tasks"), op_tags=CHECK_FIRST,
                 description="Reference answers verify correct; corrupted answers verify wrong.")
    def verifier_sanity(r3: R3Home) -> AssetCheckResult:
        rows = stages.load_split(spec, r3.layout, "train")[:500] + stages.load_split(spec, r3.layout, "test")[:500]
        result = stages.verifier_sanity(spec, rows)
        bad_ref, bad_corrupt = len(result["reference_failed"]), len(result["corrupt_passed"])
        text = (f"on {result['rows']} rows: every reference answer verified, every corrupted one refused"
                if result["ok"] else f"on {result['rows']} rows: {bad_ref} reference answers failed to verify, "
                f"{bad_corrupt} corrupted answers verified (first ids in metadata)")
        return _check(result["ok"], text, {k: v for k, v in result.items() if k != "ok"})

    @asset(key=key("base_model"), deps=[key("tasks")], group_name=group, pool="training",
           description="The vanilla model R3 starts from: the warm-started embedded default, a real model, or the champion.")
    def base_model(context: AssetExecutionContext, config: BaseModelConfig, r3: R3Home) -> MaterializeResult:
        with progress_to_event_log(context):
            info = stages.build_base_model(spec, r3.layout, config.start_from.value, config.rebuild)
        summary = (f"{info['model_id']}: warm start {info['steps']} steps, final loss {info['final_loss']:.3f}"
                   if "steps" in info and "final_loss" in info else str(info["model_id"]))
        summary += f" ({info['origin']})" if info.get("origin") else ""
        summary += "; kept from the last materialization (same recipe, weights unchanged)" if info.get("reused") else ""
        return MaterializeResult(metadata={**{k: v for k, v in info.items() if isinstance(v, (int, float, str))},
                                           "summary": summary})

    @asset(key=key("baseline"), deps=[key("base_model"), key("production_failures")], group_name=group,
           description="Failure mining: k samples per train task (in a production round, per accepted inbox row); "
                       "failed tasks form the failure set.")
    def baseline(context: AssetExecutionContext, config: MiningConfig, r3: R3Home) -> MaterializeResult:
        with progress_to_event_log(context):
            result = stages.mine_failures(config.apply(spec), r3.layout, context.run.run_id, inbox_file(context))
        summary = (f"failure set {result['failures']} of {result['tasks_mined']} tasks "
                   f"({_pct(result['failure_rate'])}); vanilla sample accuracy first {_pct(result['sample_first_accuracy'])}, "
                   f"second {_pct(result['sample_second_accuracy'])}")
        if result.get("reflection_samples"):
            summary += (f"; reflection pass rate {_pct(result['reflection_pass_rate'])} over "
                        f"{result['reflection_samples']} samples, {_pct(result['prompts_mixed'])} of "
                        f"{result['failures_before_filter']} failed prompts mixed (neither all-fail nor all-pass)")
        return MaterializeResult(metadata={**result, "summary": summary})

    @asset_check(asset=key("baseline"), op_tags=CHECK_FIRST, description="Mining, the reflection pass rates and the "
                 "failure set use train rows only: no held-out row, no row the warm start trained on.")
    def mining_train_rows_only(r3: R3Home) -> AssetCheckResult:
        result = pass_rates.mining_integrity(spec, r3.layout)
        text = (f"{result['mined_tasks']} mined tasks, {result['failure_set']} in the failure set: "
                f"{result['held_out']} held-out, {result['warm_start']} from the warm start")
        return _check(result["ok"], text, {k: v for k, v in result.items() if k != "ok"})

    @asset(key=key("r3_model"), deps=[key("baseline")], group_name=group, pool="training",
           description="R3 training (TRL GRPO, reward on reflection tokens only) in its own process via accelerate.")
    def r3_model(context: AssetExecutionContext, r3: R3Home, pipes_subprocess_client: PipesSubprocessClient):
        stages.training_job(spec, r3.layout, context.run.run_id)
        job_path = r3.layout.spec(spec.name).training.job
        command = [*_resolve(spec.training.launch_command()), "-m", "r3_pipeline.defs.pipes_training", "--job",
                   str(job_path)]
        result = pipes_subprocess_client.run(command=command, context=context).get_materialize_result()
        png = stages.training_curves_png(spec, r3.layout)
        ref = stages.mlflow_run_ref(spec, r3.layout)
        metadata = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
        summary = f"{metadata.get('global_step', '?')} steps on {metadata.get('failures', '?')} failures" + (
            f", train loss {metadata['train_loss']:.4g}" if isinstance(metadata.get("train_loss"), float) else "")
        return MaterializeResult(metadata={
            **(result.metadata or {}), "summary": summary,
            "mlflow_run": MetadataValue.url(tracking.run_url(ref["experiment_id"], ref["run_id"])),
            **_plots("training_curves", png, ref["run_id"], "training/training_curves.png",
                     r3.layout.spec(spec.name).training.curves_png)})

    @asset_check(asset=key("r3_model"), op_tags=CHECK_FIRST, description="Training prompts all come from the "
                 "failure set, and each reward equals the retry's verdict (R3's rules, on the stored rollouts).")
    def r3_integrity(r3: R3Home) -> AssetCheckResult:
        result = stages.training_integrity(spec, r3.layout)
        text = (f"{result['rollouts']} rollouts: {result['outside_failure_set']} with a prompt outside the failure set, "
                f"{result['reward_not_retry_verdict']} with a reward other than the retry's verdict")
        return _check(result["ok"], text, {k: v for k, v in result.items() if k != "ok"})

    @asset(key=key("evaluation"), deps=[key("r3_model")], group_name=group,
           description="Held-out first- and second-attempt accuracy, vanilla vs trained, with 95% intervals.")
    def evaluation(context: AssetExecutionContext, config: EvaluationConfig, r3: R3Home) -> MaterializeResult:
        with progress_to_event_log(context):
            out = stages.evaluate(config.apply(spec), r3.layout, context.run.run_id, inbox_file(context))
        res, gain = out["results"], out["gains"]["second"]
        ref = stages.mlflow_run_ref(spec, r3.layout)
        summary = (f"second attempt vanilla {_pct(res['vanilla']['second'])} -> trained {_pct(res['trained']['second'])} "
                   f"({100 * gain['diff']:+.1f} points, paired 95% CI [{100 * gain['ci'][0]:+.1f}, "
                   f"{100 * gain['ci'][1]:+.1f}], n={out['n']})")
        return MaterializeResult(metadata={
            "summary": summary, "accuracy": MetadataValue.md(eval_lib.comparison_table(out)),
            **_plots("plot", out["plot_png"], ref["run_id"], "evaluation/accuracy.png",
                     r3.layout.spec(spec.name).accuracy_png),
            "details": MetadataValue.md(out["table"]), "n": out["n"],
            "vanilla_second_attempt": res["vanilla"]["second"], "trained_second_attempt": res["trained"]["second"],
            "vanilla_first_attempt": res["vanilla"]["first"], "trained_first_attempt": res["trained"]["first"],
            "gain_second_attempt": gain["diff"], "gain_ci_low": gain["ci"][0], "gain_ci_high": gain["ci"][1],
            "mlflow_run": MetadataValue.url(tracking.run_url(ref["experiment_id"], ref["run_id"])),
            "reflection_examples": MetadataValue.json(out["reflection_examples"]),
            "reflections": MetadataValue.json(out["reflections"]),
            "reflection_behaviours": MetadataValue.json(out["behaviours"]),
        })

    @asset_check(asset=key("evaluation"), op_tags=CHECK_FIRST,
                 description="Trained second-attempt accuracy is not below the vanilla model's.")
    def trained_not_worse(r3: R3Home) -> AssetCheckResult:
        ev = stages.read_evaluation(spec, r3.layout)
        res, gain = ev["results"], ev["gains"]["second"]
        diff = res["trained"]["second"] - res["vanilla"]["second"]
        text = (f"trained second-attempt accuracy {_pct(res['trained']['second'])} "
                f"{'is not below' if diff >= 0 else 'is below'} vanilla {_pct(res['vanilla']['second'])}: "
                f"{100 * diff:+.1f} points on {ev['n']} held-out tasks (paired 95% CI "
                f"[{100 * gain['ci'][0]:+.1f}, {100 * gain['ci'][1]:+.1f}])")
        return _check(diff >= 0, text, {"difference_points": round(100 * diff, 1),
                                        "trained_second_attempt": round(res["trained"]["second"], 4),
                                        "vanilla_second_attempt": round(res["vanilla"]["second"], 4)}, warn=True)

    @asset(key=key("registered_model"), deps=[key("evaluation")], group_name=group,
           description="The trained model in the MLflow registry, alias champion only if it beats the champion.")
    def registered_model(context: AssetExecutionContext, r3: R3Home) -> MaterializeResult:
        info = stages.register(spec, r3.layout, inbox_file(context))
        links = {"mlflow_run": MetadataValue.url(tracking.run_url(info["mlflow_experiment_id"], info["mlflow_run_id"])),
                 "model_version": MetadataValue.url(tracking.model_version_url(info["registered_name"], info["version"]))}
        summary = f"{info['registered_name']} v{info['version']}, alias {info['alias']}"
        return MaterializeResult(metadata={**{k: v for k, v in info.items() if v is not None}, **links,
                                           "summary": summary})

    production = inbox_definitions(spec, key, group, _check)
    job = define_asset_job(f"{spec.name}_pipeline", tags={SPEC_TAG: spec.name},
                           selection=AssetSelection.key_prefixes(prefix) - AssetSelection.assets(key("production_failures")),
                           description=f"Materialize every asset of spec {spec.name}.")
    schedule = ScheduleDefinition(
        name=f"{spec.name}_weekly_retraining", cron_schedule=spec.schedule.cron, job=job,
        run_config={"ops": {f"{spec.name}__base_model": {"config": {"start_from": "champion"}}}},
        default_status=DefaultScheduleStatus.RUNNING if spec.schedule.running else DefaultScheduleStatus.STOPPED,
        description="Retrain from the current champion on failures from tasks it has not trained on.",
    )
    return {"assets": [tasks, base_model, baseline, r3_model, evaluation, registered_model, *production["assets"]],
            "checks": [train_test_disjoint, rejection_rate, verifier_sanity, mining_train_rows_only, r3_integrity,
                       trained_not_worse, *production["checks"]],
            "jobs": [job, *production["jobs"]], "schedules": [schedule], "sensors": production["sensors"]}
