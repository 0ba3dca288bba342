"""Code location entry for `dagster dev -w workspace.yaml`, `dg` and deployments."""

from r3_pipeline.defs import build_definitions

defs = build_definitions()
