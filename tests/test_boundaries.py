"""The library's boundaries, read from its source: Dagster only in `r3_pipeline/defs/`, MLflow only in
`r3_pipeline/tracking.py`, and no module that has outgrown one screenful of purpose (about 400 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "r3_pipeline"
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Top-level package names imported anywhere in the module (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_only_the_dagster_layer_imports_dagster():
    outside = [_relative(p) for p in _modules()
               if {"dagster", "dagster_pipes"} & _imported(p) and "defs" not in p.relative_to(PACKAGE).parts]
    assert outside == []


def test_only_tracking_imports_mlflow():
    assert [_relative(p) for p in _modules() if "mlflow" in _imported(p)] == ["r3_pipeline/tracking.py"]


def test_no_library_module_exceeds_the_size_bound():
    long = {_relative(p): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
