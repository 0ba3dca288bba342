"""Each file a stage hands to the next is named once (`Layout.spec`), reading never creates folders, and writes
replace files whole."""

from __future__ import annotations

import json

import pytest

from r3_pipeline import cli, stages
from r3_pipeline.layout import Layout, read_json, read_jsonl, write_bytes, write_json, write_jsonl


def _tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_spec_paths_are_pure_and_under_the_spec_folder(tmp_path):
    layout = Layout(tmp_path / "home")
    paths = layout.spec("micro")
    named = [paths.split("train"), paths.task_counts, paths.base_model_info, paths.base_model_weights,
             paths.failure_set, paths.training.job, paths.training.mlflow_run, paths.training.checkpoints,
             paths.training.final_model, paths.training.result, paths.training.curves_png,
             paths.evaluation_results, paths.accuracy_png, paths.registry, paths.report]
    assert all(p.is_relative_to(tmp_path / "home" / "specs" / "micro") for p in named)
    assert len(set(named)) == len(named)
    assert not (tmp_path / "home").exists()  # naming a path creates nothing


def test_compare_of_an_unknown_spec_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("R3_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert cli.main(["compare", "--spec", "typo"]) == 1
    assert "no evaluation of spec 'typo'" in capsys.readouterr().err
    assert cli.main(["summary"]) == 1
    assert cli.main(["report", "--spec", "typo"]) != 0
    assert _tree(tmp_path / "home") == []


def test_stage_readers_create_nothing(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    for read in (stages.base_model_info, stages.trained_model_info, stages.read_evaluation):
        with pytest.raises(FileNotFoundError):
            read(micro_spec, layout)
    with pytest.raises(FileNotFoundError):
        stages.load_split(micro_spec, layout, "train")
    assert not (tmp_path / "home").exists()


def test_writes_create_the_folder_and_replace_the_file_whole(tmp_path):
    path = tmp_path / "a" / "b" / "result.json"
    write_json(path, {"step": 1})
    write_json(path, {"step": 2})
    assert read_json(path) == {"step": 2}
    write_jsonl(tmp_path / "rows" / "train.jsonl", [{"x": 1}, {"x": 2}])
    assert read_jsonl(tmp_path / "rows" / "train.jsonl") == [{"x": 1}, {"x": 2}]
    write_bytes(tmp_path / "plot.png", b"\x89PNG")
    assert (tmp_path / "plot.png").read_bytes() == b"\x89PNG"
    # No temporary file is left beside what was written.
    assert _tree(tmp_path) == ["a", "a/b", "a/b/result.json", "plot.png", "rows", "rows/train.jsonl"]


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    write_json(path, {"final_model": "old"})

    class Unserializable:
        def __str__(self):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_json(path, {"final_model": Unserializable()})
    assert json.loads(path.read_text()) == {"final_model": "old"}


def test_prepare_tasks_writes_the_splits_where_the_layout_names_them(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    counts = stages.prepare_tasks(micro_spec, layout)
    paths = layout.spec("micro")
    assert len(read_jsonl(paths.split("train"))) == counts["train"]
    assert len(read_jsonl(paths.split("test"))) == counts["test"]
    assert read_json(paths.task_counts) == {"rows_read": counts["rows_read"]}
    assert stages.load_split(micro_spec, layout, "test") == read_jsonl(paths.split("test"))
