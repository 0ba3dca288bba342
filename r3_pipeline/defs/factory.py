"""The asset factory: each spec in assets/specs/ becomes the chain
`tasks -> base_model -> baseline -> r3_model -> evaluation -> registered_model` under the spec's key prefix,
with asset checks, a job and a retraining schedule. Asset bodies only call `r3_pipeline.stages`.
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

from r3_pipeline import stages
from r3_pipeline.defs.config import BaseModelConfig, EvaluationConfig, MiningConfig
from r3_pipeline.defs.resources import R3Home
from r3_pipeline.spec import Spec


def _md_image(png: bytes) -> MetadataValue:
    return MetadataValue.md(f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})")


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
        return MaterializeResult(metadata={**counts, "task": spec.task.name})

    @asset_check(asset=key("tasks"), description="No held-out test task appears in the train split.")
    def train_test_disjoint(r3: R3Home) -> AssetCheckResult:
        n = stages.overlap(stages.load_split(spec, r3.layout, "train"), stages.load_split(spec, r3.layout, "test"))
        return AssetCheckResult(passed=n == 0, metadata={"overlapping_test_rows": n})

    @asset_check(asset=key("tasks"), description="Rows set aside as invalid stay under the task's max_reject_rate.")
    def rejection_rate(r3: R3Home) -> AssetCheckResult:
        result = stages.rejection_rate(spec, r3.layout)
        return AssetCheckResult(passed=result["ok"], metadata={k: v for k, v in result.items() if k != "ok"})

    @asset_check(asset=key("tasks"), description="Reference answers verify correct; corrupted answers verify wrong.")
    def verifier_sanity(r3: R3Home) -> AssetCheckResult:
        rows = stages.load_split(spec, r3.layout, "train")[:500] + stages.load_split(spec, r3.layout, "test")[:500]
        result = stages.verifier_sanity(spec, rows)
        return AssetCheckResult(passed=result["ok"], metadata={k: v for k, v in result.items() if k != "ok"})

    @asset(key=key("base_model"), deps=[key("tasks")], group_name=group,
           description="The model R3 starts from: the warm-started embedded default, a real model, or the champion.")
    def base_model(config: BaseModelConfig, r3: R3Home) -> MaterializeResult:
        info = stages.build_base_model(spec, r3.layout, config.start_from.value)
        return MaterializeResult(metadata={k: v for k, v in info.items() if isinstance(v, (int, float, str))})

    @asset(key=key("baseline"), deps=[key("base_model")], group_name=group,
           description="Failure mining: k samples per train task; failed tasks form the failure set.")
    def baseline(context: AssetExecutionContext, config: MiningConfig, r3: R3Home) -> MaterializeResult:
        result = stages.mine_failures(config.apply(spec), r3.layout, context.run.run_id)
        return MaterializeResult(metadata=result)

    @asset(key=key("r3_model"), deps=[key("baseline")], group_name=group, pool="training",
           description="R3 training (TRL GRPO, reward on reflection tokens only) in its own process via accelerate.")
    def r3_model(context: AssetExecutionContext, r3: R3Home, pipes_subprocess_client: PipesSubprocessClient):
        job = stages.training_job(spec, r3.layout, context.run.run_id)
        job_path = job.write(r3.layout.spec_dir(spec.name, "r3_model") / "job.json")
        command = [*_resolve(spec.training.launcher), "-m", "r3_pipeline.defs.pipes_training", "--job", str(job_path)]
        result = pipes_subprocess_client.run(command=command, context=context).get_materialize_result()
        png = stages.training_curves_png(spec, r3.layout)
        return MaterializeResult(metadata={**(result.metadata or {}), "training_curves": _md_image(png)})

    @asset_check(asset=key("r3_model"), description="Training prompts all come from the failure set, and each "
                 "reward equals the retry's verdict (R3's rules, on the stored rollouts).")
    def r3_integrity(r3: R3Home) -> AssetCheckResult:
        result = stages.training_integrity(spec, r3.layout)
        return AssetCheckResult(passed=result["ok"], metadata={k: v for k, v in result.items() if k != "ok"})

    @asset(key=key("evaluation"), deps=[key("r3_model")], group_name=group,
           description="Held-out first- and second-attempt accuracy, base vs trained, with 95% intervals.")
    def evaluation(context: AssetExecutionContext, config: EvaluationConfig, r3: R3Home) -> MaterializeResult:
        out = stages.evaluate(config.apply(spec), r3.layout, context.run.run_id)
        res, gain = out["results"], out["gains"]["second"]
        return MaterializeResult(metadata={
            "accuracy": MetadataValue.md(out["table"]), "plot": _md_image(out["plot_png"]), "n": out["n"],
            "base_second_attempt": res["base"]["second"], "trained_second_attempt": res["trained"]["second"],
            "base_first_attempt": res["base"]["first"], "trained_first_attempt": res["trained"]["first"],
            "gain_second_attempt": gain["diff"], "gain_ci_low": gain["ci"][0], "gain_ci_high": gain["ci"][1],
            "reflection_examples": MetadataValue.json(out["reflection_examples"]),
            "reflections": MetadataValue.json(out["reflections"]),
            "reflection_behaviours": MetadataValue.json(out["behaviours"]),
        })

    @asset_check(asset=key("evaluation"), description="Trained second-attempt accuracy is not below the base model's.")
    def trained_not_worse(r3: R3Home) -> AssetCheckResult:
        res = stages.read_json(r3.layout.spec_dir(spec.name, "evaluation") / "results.json")["results"]
        diff = res["trained"]["second"] - res["base"]["second"]
        return AssetCheckResult(passed=diff >= 0, severity=AssetCheckSeverity.WARN, metadata={"difference": diff})

    @asset(key=key("registered_model"), deps=[key("evaluation")], group_name=group,
           description="The trained model in the MLflow registry, alias champion only if it beats the champion.")
    def registered_model(r3: R3Home) -> MaterializeResult:
        info = stages.register(spec, r3.layout)
        return MaterializeResult(metadata={k: v for k, v in info.items() if v is not None})

    job = define_asset_job(f"{spec.name}_pipeline", selection=AssetSelection.key_prefixes(prefix),
                           description=f"Materialize every asset of spec {spec.name}.")
    schedule = ScheduleDefinition(
        name=f"{spec.name}_weekly_retraining", cron_schedule=spec.schedule.cron, job=job,
        run_config={"ops": {f"{spec.name}__base_model": {"config": {"start_from": "champion"}}}},
        default_status=DefaultScheduleStatus.RUNNING if spec.schedule.running else DefaultScheduleStatus.STOPPED,
        description="Retrain from the current champion on failures from tasks it has not trained on.",
    )
    return {"assets": [tasks, base_model, baseline, r3_model, evaluation, registered_model],
            "checks": [train_test_disjoint, rejection_rate, verifier_sanity, r3_integrity, trained_not_worse], "jobs": [job], "schedules": [schedule]}
