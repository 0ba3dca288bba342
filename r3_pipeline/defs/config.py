"""Run configuration of the assets, as Dagster Config classes (shown with help text in the launchpad).

Dagster checks types and enum values when a run is launched, before any step runs; a value out of range
(pydantic `ge`) fails the step that reads it, before that step does any work.
"""


from dataclasses import replace
from enum import Enum
from typing import Optional

from dagster import Config
from pydantic import Field

from r3_pipeline.spec import Spec


class StartFrom(Enum):
    spec = "spec"
    champion = "champion"


class BaseModelConfig(Config):
    start_from: StartFrom = Field(default=StartFrom.spec, description="'spec': the spec's model (embedded default is "
                                  "built and warm-started); 'champion': the current MLflow champion, as scheduled "
                                  "retraining does.")
    rebuild: bool = Field(default=False, description="Train the warm start or adaptation again even when the last "
                          "one had the same recipe (task, model section, train rows, source model) and its weights "
                          "are unchanged (e.g. after a change to the warm-start code, which the recipe does not "
                          "cover); by default that model is kept, with its id, stored episodes and checkpoints.")


class MiningConfig(Config):
    num_tasks: int = Field(default=0, ge=0, description="Train tasks to mine; 0 keeps the spec's mining.num_tasks.")
    samples_per_task: int = Field(default=0, ge=0, description="Samples per task (paper: up to 64); 0 keeps the spec's.")

    def apply(self, spec: Spec) -> Spec:
        mining = replace(spec.mining, num_tasks=self.num_tasks or spec.mining.num_tasks,
                         samples_per_task=self.samples_per_task or spec.mining.samples_per_task)
        return replace(spec, mining=mining)


class EvaluationConfig(Config):
    num_tasks: int = Field(default=0, ge=0, description="Held-out tasks to evaluate; 0 keeps the spec's "
                           "evaluation.num_tasks.")
    bare_retry: Optional[bool] = Field(default=None, description="Also evaluate the base model retrying after a bare "
                                       "'try again' (no reflection), the control; unset keeps the spec's.")

    def apply(self, spec: Spec) -> Spec:
        bare = spec.evaluation.bare_retry if self.bare_retry is None else self.bare_retry
        return replace(spec, evaluation=replace(spec.evaluation, num_tasks=self.num_tasks or spec.evaluation.num_tasks,
                                                bare_retry=bare))
