"""The pipeline's stages, free of Dagster: one module per asset of the chain
`tasks -> base_model -> baseline -> r3_model -> evaluation -> registered_model` (and `production_failures`, which
feeds `baseline` in a production round), named after it.

    common.py            the spec's task, its files under R3_HOME, its splits, the generation engine
    tasks.py             prepare the train/test/rejected splits; overlap, rejection rate, verifier sanity
    production_failures.py  one failure-inbox file's rows, checked and recorded; the rows a production round uses
    base_model.py        build, adapt or fetch (the champion) the model R3 starts from
    baseline.py          mine failures: the failure set R3 trains on
    r3_model.py          the training job for the training process; what it left (model, curves, integrity)
    evaluation.py        vanilla vs trained on held-out tasks
    registered_model.py  the trained model in the MLflow registry, champion or challenger

The Dagster assets in `defs/` are thin wrappers over these, and the same functions run from a notebook or script
(`from r3_pipeline import stages; stages.load_split(...)`), so every stage function is importable from here.
A stage module imports only `common` and the stages before it. Each stage reads and writes the files that
`layout.SpecPaths` names; MLflow is reached only through `tracking`. Models, engines, the trajectory store and
training are imported inside the stages that use them, so importing this package (as the Dagster definitions
do) stays light.
"""

from r3_pipeline.stages.base_model import base_model_info, build_base_model
from r3_pipeline.stages.baseline import failure_set, mine_failures
from r3_pipeline.stages.common import engine_for, engine_maker, engine_used, load_split, paths, task_for, truncated_prompts
from r3_pipeline.stages.evaluation import evaluate, read_evaluation, regression
from r3_pipeline.stages.production_failures import earlier_rows, record_inbox_file, round_rows, trained_task_ids
from r3_pipeline.stages.r3_model import (
    mlflow_run_ref,
    trained_model_info,
    training_curves_png,
    training_integrity,
    training_job,
)
from r3_pipeline.stages.registered_model import register
from r3_pipeline.stages.tasks import overlap, prepare_tasks, rejection_rate, verifier_sanity

__all__ = [
    "base_model_info", "build_base_model", "earlier_rows", "engine_for", "engine_maker", "engine_used", "evaluate",
    "failure_set", "load_split", "mine_failures", "mlflow_run_ref", "overlap", "paths", "prepare_tasks",
    "read_evaluation", "record_inbox_file", "register", "regression", "rejection_rate", "round_rows", "task_for",
    "trained_model_info", "trained_task_ids", "training_curves_png", "training_integrity", "training_job",
    "truncated_prompts", "verifier_sanity",
]
