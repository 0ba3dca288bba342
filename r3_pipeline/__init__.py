"""r3_pipeline: Reflect, Retry, Reward (arXiv 2505.24726) as a library plus a thin Dagster layer (`defs/`)."""
