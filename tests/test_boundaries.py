"""The library's boundaries, read from its source: Dagster only in `r3_pipeline/defs/`, MLflow only in
`r3_pipeline/tracking/`, no module that has outgrown what a reader takes in at once (300 lines), imports that
only run down the layers, each task in its own folder apart from the others, and each stage module importing
only the stages before it in the asset chain."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "r3_pipeline"
MAX_LINES = 300
# The library's layers, lowest first: a module imports only from its own layer or lower ones. Every module must
# be in one (a new module is placed here on purpose). Names are module names or package prefixes.
LAYERS = [
    ("foundations", ["r3_pipeline", "r3_pipeline.layout", "r3_pipeline.progress", "r3_pipeline.prompts",
                     "r3_pipeline.evaluation", "r3_pipeline.registry_lock"]),
    ("tasks, store, models", ["r3_pipeline.tasks", "r3_pipeline.store", "r3_pipeline.models"]),
    ("rollout, tracking", ["r3_pipeline.rollout", "r3_pipeline.tracking"]),
    ("training", ["r3_pipeline.training"]),
    ("spec", ["r3_pipeline.spec", "r3_pipeline.spec_sections"]),
    ("stage helpers and outputs", ["r3_pipeline.pass_rates", "r3_pipeline.headroom", "r3_pipeline.verify_file",
                                   "r3_pipeline.inbox",
                                   "r3_pipeline.summary", "r3_pipeline.report", "r3_pipeline.console"]),
    ("stages", ["r3_pipeline.stages"]),
    ("Dagster", ["r3_pipeline.defs", "r3_pipeline.definitions"]),
    ("commands", ["r3_pipeline.cli", "r3_pipeline.registry_cli", "r3_pipeline.verify_cli"]),
]
TASK_SHARED = {"r3_pipeline.tasks", "r3_pipeline.tasks.base", "r3_pipeline.tasks.rows", "r3_pipeline.tasks.strict_json"}
STAGE_CHAIN = ["common", "tasks", "production_failures", "base_model", "baseline", "r3_model", "evaluation", "registered_model"]


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in _modules()}


def _library_imports(path: Path) -> set[str]:
    """The r3_pipeline modules a module imports anywhere (functions included): `from a.b import c` counts as
    a.b.c when that is a module, else as a.b."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "r3_pipeline"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "r3_pipeline":
            names |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}
    return names - {_module_name(path)}


def _layer(module: str) -> int | None:
    """The layer of the longest prefix naming it."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best and best[0]


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_only_the_dagster_layer_imports_dagster():
    outside = [_relative(p) for p in _modules()
               if {"dagster", "dagster_pipes"} & _imported(p) and "defs" not in p.relative_to(PACKAGE).parts]
    assert outside == []


def test_only_tracking_imports_mlflow():
    outside = [_relative(p) for p in _modules()
               if "mlflow" in _imported(p) and p.relative_to(PACKAGE).parts[0] != "tracking"]
    assert outside == []
    assert any("mlflow" in _imported(p) for p in (PACKAGE / "tracking").glob("*.py"))


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
    assert setuptools["package-dir"] == {"": "."}  # r3_pipeline/assets is assets/ itself (a link): no mapped folders
    assets = PACKAGE.parent / "assets"
    assert (PACKAGE / "assets").resolve() == assets.resolve()
    shipped = {p for pattern in setuptools["package-data"]["r3_pipeline.assets"] for p in assets.glob(pattern)}
    assert shipped == {p for p in assets.rglob("*") if p.is_file()}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_imports_run_down_the_layers_only():
    upward = [f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
              for module, path in MODULES.items() for target in sorted(_library_imports(path))
              if _layer(target) is not None and _layer(target) > _layer(module)]
    assert upward == []


def test_each_task_folder_stands_alone():
    """A task's package imports only itself and what the tasks share (the Task protocol, row rules, strict JSON),
    never another task, and the shared modules import no task: adding a task is adding a folder."""
    tasks = {p.parent.name for p in (PACKAGE / "tasks").glob("*/__init__.py")}
    assert tasks >= {"countdown", "function_calling"}
    crossing = []
    for module, path in MODULES.items():
        parts = module.split(".")
        if parts[:2] != ["r3_pipeline", "tasks"]:
            continue
        own = f"r3_pipeline.tasks.{parts[2]}" if len(parts) > 2 and parts[2] in tasks else None
        for target in _library_imports(path):
            if not target.startswith("r3_pipeline.tasks"):
                continue
            if own is None and target not in TASK_SHARED and module != "r3_pipeline.tasks":
                crossing.append(f"{module} (shared) imports {target}")
            elif own and target not in TASK_SHARED - {"r3_pipeline.tasks"} \
                    and not (target == own or target.startswith(own + ".")):
                crossing.append(f"{module} imports {target}")
    assert crossing == []


def test_stage_modules_follow_the_asset_chain():
    """One module per asset, named after it; each imports only `common` and the stages before it."""
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__"}
    assert stages == set(STAGE_CHAIN)
    backwards = []
    for stage in STAGE_CHAIN:
        for target in _library_imports(PACKAGE / "stages" / f"{stage}.py"):
            if target.startswith("r3_pipeline.stages"):
                name = target.removeprefix("r3_pipeline.stages").lstrip(".")
                if name not in STAGE_CHAIN or STAGE_CHAIN.index(name) >= STAGE_CHAIN.index(stage):
                    backwards.append(f"stages.{stage} imports {target}")
    assert backwards == []
