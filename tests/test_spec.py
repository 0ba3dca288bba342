"""Specs fail at load with a message naming the bad field, before any work starts."""

import copy

import pytest

from r3_pipeline.spec import SpecError, load_specs, parse_spec
from tests.conftest import MICRO_SPEC


def spec_with(path: str, value):
    data = copy.deepcopy(MICRO_SPEC)
    node = data
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


@pytest.mark.parametrize("path,value,message", [
    ("mining.samples", 3, "spec.mining: unknown field(s) samples"),
    ("mining.samples_per_task", "four", "spec.mining.samples_per_task: expected int"),
    ("mining.keep", "some", "spec.mining.keep: expected 'all' or 'any'"),
    ("model.warm_start.max_minutes", "soon", "spec.model.warm_start.max_minutes: expected float"),
    ("task.name", "chess", "spec.task.name: unknown task 'chess'"),
    ("name", "Bad-Name", "spec.name: required"),
    ("evaluation", [1, 2], "spec.evaluation: expected a mapping"),
    ("mining.chunk_tasks", 0, "spec.mining.chunk_tasks: must be >= 1"),
    ("limits.max_batch_tokens", -1, "spec.limits: GenerationLimits.max_batch_tokens must be 0"),
    ("limits.max_new_tokens", 16, "spec.mining.max_new_tokens: Sampling.max_new_tokens=24 exceeds"),
])
def test_invalid_spec_names_the_field(path, value, message):
    with pytest.raises(SpecError) as err:
        parse_spec(spec_with(path, value))
    assert message in str(err.value)


def test_micro_spec_parses_to_typed_values():
    spec = parse_spec(MICRO_SPEC)
    assert spec.model.embedded.hidden_size == 64 and spec.model.warm_start.max_minutes == 0.25
    assert spec.training_args()["max_steps"] == 3  # override wins over the cpu preset
    assert spec.training_args()["beta"] == 0.001  # from the preset
    assert spec.registered_name == "r3-micro-test"


def test_missing_preset_is_reported():
    spec = parse_spec(spec_with("training.preset", "nope"))
    with pytest.raises(SpecError, match="training.preset"):
        spec.training_args()


def test_repository_specs_load():
    names = [s.name for s in load_specs()]
    assert "countdown" in names
