"""The thin Dagster layer: definitions built from the specs in assets/specs/ (or $R3_SPECS_DIR) over the
r3_pipeline library."""


import os
from pathlib import Path

from dagster import Definitions, PipesSubprocessClient

from r3_pipeline.defs.factory import spec_definitions
from r3_pipeline.defs.resources import R3Home
from r3_pipeline.spec import SPECS_DIR, load_specs


SPECS_DIR_ENV = "R3_SPECS_DIR"  # another folder of specs for `r3 run` and the code location (tests, experiments)


def default_specs_dir() -> Path:
    return Path(os.environ.get(SPECS_DIR_ENV) or SPECS_DIR)


def build_definitions(specs_dir: Path | None = None, home: str = "") -> Definitions:
    parts = [spec_definitions(s) for s in load_specs(specs_dir or default_specs_dir())]
    return Definitions(
        assets=[a for p in parts for a in p["assets"]],
        asset_checks=[c for p in parts for c in p["checks"]],
        jobs=[j for p in parts for j in p["jobs"]],
        schedules=[s for p in parts for s in p["schedules"]],
        sensors=[s for p in parts for s in p["sensors"]],
        resources={"r3": R3Home(home=home), "pipes_subprocess_client": PipesSubprocessClient(forward_stdio=True)},
    )
