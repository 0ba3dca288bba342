"""Dagster resources, configured once: where the pipeline's files live, and the Pipes client for training."""


from dagster import ConfigurableResource
from pydantic import Field

from r3_pipeline.layout import Layout


class R3Home(ConfigurableResource):
    home: str = Field(default="", description="Folder for models, trajectories and MLflow; empty: $R3_HOME or ./.r3")

    @property
    def layout(self) -> Layout:
        return Layout(self.home or None)
