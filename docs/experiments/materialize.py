"""Materialize assets of one spec in an experiment folder (docs/r3_results.md, "Reproduce"); not part of the package.

Usage: python docs/experiments/materialize.py EXPDIR SPEC ASSET [ASSET ...]
EXPDIR holds specs/ (the spec YAML) and dagster/ (a copy of dagster.yaml); the R3 home is EXPDIR/home."""
import os
import sys
from pathlib import Path

exp = sys.argv[1]
os.environ["DAGSTER_HOME"], os.environ["R3_HOME"] = f"{exp}/dagster", f"{exp}/home"
from dagster import DagsterInstance  # noqa: E402

from r3_pipeline.defs import build_definitions  # noqa: E402
from r3_pipeline.defs.run import execute  # noqa: E402

with DagsterInstance.get() as instance:
    defs = build_definitions(Path(f"{exp}/specs"), home=f"{exp}/home")
    print(execute(defs, instance, sys.argv[2], sys.argv[3:]).success)
