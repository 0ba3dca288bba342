"""Trajectory store: R3 episodes as Parquet files with DuckDB views, safe to query while the pipeline writes."""

from r3_pipeline.store.schema import COLUMN_DOCS, EPISODE_SCHEMA, episode_id
from r3_pipeline.store.trajectories import TrajectoryStore

__all__ = ["COLUMN_DOCS", "EPISODE_SCHEMA", "TrajectoryStore", "episode_id"]
