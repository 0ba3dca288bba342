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


def test_the_wheel_holds_every_package_and_every_asset():
    """An installed wheel (not only an editable install) must have every subpackage and every file of assets/
    (prompts, specs, presets, SQL views, the tool catalog), which r3_pipeline.prompts.ASSETS_DIR finds inside the
    package there; benchmarks stay out."""
    import tomllib

    setuptools = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert set(setuptools["packages"]) == packages | {"r3_pipeline.assets"}
    assert setuptools["package-dir"] == {"r3_pipeline.assets": "assets"}
    assets = PACKAGE.parent / "assets"
    shipped = {p for pattern in setuptools["package-data"]["r3_pipeline.assets"] for p in assets.glob(pattern)}
    assert shipped == {p for p in assets.rglob("*") if p.is_file()}
