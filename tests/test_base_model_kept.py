"""A base model trained here (warm-started or adapted) is trained once per recipe: materialized again with the same
spec, train rows and source, and with its weights untouched, it is kept (same files, same id, so stored mining chunks
and training checkpoints stay valid); any change to the recipe or to the weights, or `rebuild`, trains it again."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from r3_pipeline.layout import Layout
from r3_pipeline.models.loading import load_model
from r3_pipeline.spec import parse_spec
from r3_pipeline.stages import build_base_model, prepare_tasks
from r3_pipeline.stages.common import paths
from tests.support import MICRO_SPEC

# Bounded in steps (4), so a second build trains the same way and only the recipe check tells it apart.
STEPS = {**MICRO_SPEC, "model": {**MICRO_SPEC["model"], "warm_start": {"num_rows": 40, "max_steps": 4, "batch_size": 8}}}


def mtimes(folder: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in Path(folder).iterdir()}


def built(spec_dict: dict, layout: Layout, **kwargs) -> dict:
    spec = parse_spec(spec_dict)
    prepare_tasks(spec, layout)
    return build_base_model(spec, layout, **kwargs)


def test_the_same_recipe_keeps_the_model_and_rebuild_trains_it_again(tmp_path):
    layout = Layout(tmp_path)
    first = built(STEPS, layout)
    assert first["reused"] is False and first["steps"] == 4
    files = mtimes(first["path"])

    again = built(STEPS, layout)
    assert again["reused"] is True
    assert again["model_id"] == first["model_id"] and again["steps"] == 4
    assert mtimes(again["path"]) == files, "kept weights must not be rewritten"
    info_file = paths(parse_spec(STEPS), layout).base_model_info
    assert json.loads(info_file.read_text())["model_id"] == first["model_id"]

    rebuilt = built(STEPS, layout, rebuild=True)
    assert rebuilt["reused"] is False and rebuilt["model_id"] != first["model_id"]
    assert mtimes(rebuilt["path"]) != files


def test_a_changed_recipe_or_changed_weights_train_again(tmp_path):
    layout = Layout(tmp_path)
    first = built(STEPS, layout)

    other = copy.deepcopy(STEPS)
    other["model"]["warm_start"]["learning_rate"] = 0.01
    changed = built(other, layout)
    assert changed["reused"] is False and changed["model_id"] != first["model_id"]

    # A train row the warm start reads, changed in the stored split (the tasks asset made from another file).
    spec = parse_spec(other)
    split = paths(spec, layout).split("train")
    rows = [json.loads(line) for line in split.read_text().splitlines()]
    rows[0]["target"] = rows[0]["target"] + 1
    split.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows_changed = build_base_model(spec, layout)
    assert rows_changed["reused"] is False and rows_changed["model_id"] != changed["model_id"]

    # Weights partly rewritten, as a kill inside the next build's save leaves them: trained again, and whole.
    weights = Path(rows_changed["path"]) / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    repaired = build_base_model(spec, layout)
    assert repaired["reused"] is False
    load_model(repaired["path"])  # loads: the half-written file was replaced


def test_an_adapted_pretrained_model_is_kept_until_its_source_changes(tmp_path, tiny_model):
    """The adaptation path (what `make reproduce` runs for SmolLM2), on a local pretrained model: kept while the
    source is unchanged; a changed source model (other files: a new id) is adapted again."""
    source = tiny_model(tmp_path / "pretrained", seed=1)
    spec = {**STEPS, "model": {"source": str(source), "adapt": True,
                               "warm_start": {"num_rows": 8, "max_steps": 2, "batch_size": 4}}}
    layout = Layout(tmp_path / "home")
    first = built(spec, layout)
    assert first["reused"] is False and first["adapted_from"].startswith("pretrained:")
    again = built(spec, layout)
    assert again["reused"] is True and again["model_id"] == first["model_id"]

    tiny_model(source, seed=2)  # the source folder rewritten with other weights
    adapted = built(spec, layout)
    assert adapted["reused"] is False and adapted["adapted_from"] != first["adapted_from"]
