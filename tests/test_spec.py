"""Specs fail at load with a message naming the bad field, before any work starts."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r3_pipeline import spec as spec_module
from r3_pipeline.spec import SpecError, load_specs, parse_spec, read_preset
from r3_pipeline.training.r3_config_fields import R3_CONFIG_FIELDS
from tests.support import MICRO_SPEC, REPO


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
    ("mining.keep", "some", "spec.mining.keep: expected 'all', 'any' or 'mixed'"),
    ("model.warm_start.max_minutes", "soon", "spec.model.warm_start.max_minutes: expected float"),
    ("task.name", "chess", "spec.task.name: unknown task 'chess'"),
    ("name", "Bad-Name", "spec.name: required"),
    ("evaluation", [1, 2], "spec.evaluation: expected a mapping"),
    ("mining.chunk_tasks", 0, "spec.mining.chunk_tasks: must be >= 1"),
    ("limits.max_batch_tokens", -1, "spec.limits: GenerationLimits.max_batch_tokens must be 0"),
    ("limits.max_new_tokens", 16, "spec.mining.max_new_tokens: Sampling.max_new_tokens=24 exceeds"),
    ("training.preset", "nope", "spec.training.preset: no preset file"),
    ("training.overrides.max_step", 3, "spec.training.overrides.max_step: not an R3Config field; did you mean max_steps?"),
    ("training.overrides.lora_rank", 8, "spec.training.overrides.lora_rank: not an R3Config field"),
    ("task.config.num_trains", 10, "spec.task.config.num_trains: not a field of CountdownConfig"),
    ("task.config.num_train", -1, "spec.task.config: invalid CountdownConfig"),
    ("model.warm_start.behaviours", {"ponder": 1.0}, "spec.model.warm_start.behaviours: unknown reflection behaviour(s) ['ponder']"),
    ("model.warm_start.practice", {"generic": 0.1}, "spec.model.warm_start.practice: unknown reflection behaviour(s) ['generic']"),
    ("model.warm_start.practice", {"guess": 0.1}, "spec.model.warm_start.practice: the prompt file has no practice_guess"),
    ("task.config.prompts_path", "assets/prompts/nope.yaml", "spec.task.config.prompts_path: "),
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
    with pytest.raises(SpecError, match="training.preset"):  # when the spec is read, not when training starts
        parse_spec(spec_with("training.preset", "nope"))


def test_preset_keys_are_r3config_fields(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_module, "PRESETS_DIR", tmp_path)
    (tmp_path / "cpu.yaml").write_text("max_steps: 3\nbetta: 0.1\n")
    with pytest.raises(SpecError) as err:
        parse_spec(MICRO_SPEC)
    assert "spec.training.preset (cpu.yaml).betta: not an R3Config field; did you mean beta?" in str(err.value)
    (tmp_path / "cpu.yaml").write_text("- max_steps\n")
    with pytest.raises(SpecError, match="must be a mapping of R3Config fields"):
        parse_spec(MICRO_SPEC)


def test_shipped_presets_hold_only_r3config_fields():
    for path in sorted(spec_module.PRESETS_DIR.glob("*.yaml")):
        assert set(read_preset(path.stem)) <= R3_CONFIG_FIELDS, path.name


def test_r3config_field_list_matches_the_real_class():
    """The light list specs check against equals R3Config's fields under the pinned TRL; if not, regenerate it with
    `python -m r3_pipeline.training.r3_config_fields`."""
    import trl

    from r3_pipeline.training import r3_config_fields

    assert R3_CONFIG_FIELDS == r3_config_fields.real_fields()
    assert r3_config_fields.TRL_VERSION == trl.__version__
    assert Path(r3_config_fields.__file__).read_text() == r3_config_fields.render()


def test_spec_and_definitions_load_without_the_heavy_libraries(specs_dir):
    """Loading specs and the Dagster definitions (every code-location load, `dg check defs`) imports neither torch,
    transformers, TRL nor MLflow; the stages import them when they run."""
    code = ("import sys; from pathlib import Path\n"
            "from r3_pipeline.spec import load_specs; load_specs()\n"
            "from r3_pipeline.defs import build_definitions\n"
            f"build_definitions(Path({str(specs_dir)!r}))\n"
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'mlflow', 'peft', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_repository_specs_load():
    names = [s.name for s in load_specs()]
    assert "countdown" in names
