"""The episode schema: one row per (task item, sample) attempt of the R3 loop, in every stage.

Mining, training rollouts and evaluation all record the same shape of row, so one set of SQL views answers
"how often does a reflection turn a failure into a success" for any stage, spec or model. The schema is a
pyarrow schema because episodes are stored as Parquet files (see `trajectories.py`).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

_TS = pa.timestamp("us", tz="UTC")

# (name, type, nullable, doc)
_COLUMNS: list[tuple[str, pa.DataType, bool, str]] = [
    ("episode_id", pa.string(), False, "Stable id (see `episode_id()`); the primary key of the `episodes` view."),
    ("spec", pa.string(), False, "Pipeline spec name the episode was produced under."),
    ("stage", pa.string(), False, 'Pipeline stage: "mining" | "training" | "evaluation".'),
    ("run_id", pa.string(), False, 'Dagster run id, or "" outside Dagster.'),
    ("model_id", pa.string(), False, 'Model that generated: "base", an MLflow model URI or a checkpoint path.'),
    ("task", pa.string(), False, "Task name, e.g. countdown."),
    ("task_id", pa.string(), False, "Stable id of the task row."),
    ("sample_idx", pa.int32(), False, "Index of the sample for this task row (several samples per row)."),
    ("step", pa.int32(), True, "Training step; null outside training."),
    ("prompt", pa.string(), False, "Rendered first-attempt prompt text."),
    ("first_attempt", pa.string(), False, "Model output of the first attempt."),
    ("first_correct", pa.bool_(), False, "Verifier verdict on the first attempt."),
    ("first_reason", pa.string(), False, 'Verifier reason for the first attempt ("correct" or a failure code).'),
    ("reflection", pa.string(), True, "Self-reflection text; null when the first attempt succeeded."),
    ("retry", pa.string(), True, "Second attempt output; null when there was no retry."),
    ("retry_correct", pa.bool_(), True, "Verifier verdict on the retry; null when there was no retry."),
    ("retry_reason", pa.string(), True, "Verifier reason for the retry; null when there was no retry."),
    ("reward", pa.float64(), True, "Reward credited to the reflection tokens; null when not computed."),
    ("prompt_tokens", pa.int32(), False, "Token count of `prompt`."),
    ("first_tokens", pa.int32(), False, "Token count of `first_attempt`."),
    ("reflection_tokens", pa.int32(), True, "Token count of `reflection`; null without a reflection."),
    ("retry_tokens", pa.int32(), True, "Token count of `retry`; null without a retry."),
    ("truncated_tokens", pa.int32(), True,
     "Prompt tokens dropped (oldest first) to fit generation limits, over all turns; null when not recorded."),
    ("retry_mode", pa.string(), True,
     'Retry protocol of the run: "reflection" (reflect, then retry; R3) or "bare" (retry after a bare "try '
     'again", the control); null in rows written before this column.'),
    ("reflection_behaviour", pa.string(), True,
     "The reflection's behaviour by its form (the task's `reflection_behaviours`, e.g. Countdown search, guess, "
     "restate); null without a reflection or in rows written before this column."),
    ("started_at", _TS, False, "When the episode started (UTC)."),
    ("finished_at", _TS, False, "When the episode finished (UTC); the latest wins when an id is recorded twice."),
]

EPISODE_SCHEMA: pa.Schema = pa.schema([pa.field(name, typ, nullable=nullable) for name, typ, nullable, _ in _COLUMNS])

# (column, doc) pairs, in schema order, for documentation and CLI help.
COLUMN_DOCS: list[tuple[str, str]] = [(name, doc) for name, _, _, doc in _COLUMNS]

REQUIRED_COLUMNS: frozenset[str] = frozenset(f.name for f in EPISODE_SCHEMA if not f.nullable)


def episode_id(*parts: str | int) -> str:
    """Stable id from identifying parts, e.g. episode_id(spec, stage, model_id, task_id, sample_idx).

    The unit separator cannot appear in normal text, so ("a", "bc") and ("ab", "c") give different ids.
    """
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


# Auxiliary tables that SQL files in assets/sql/ read (production_fates.sql), with their columns' DuckDB types: the
# store defines each as an empty view until its first file is written, so a fresh home's views still load.
DECLARED_TABLES: dict[str, dict[str, str]] = {
    "production_rows": {"spec": "VARCHAR", "task": "VARCHAR", "file": "VARCHAR", "line": "BIGINT",
                        "label": "VARCHAR", "task_id": "VARCHAR", "status": "VARCHAR", "reason": "VARCHAR",
                        "response_correct": "BOOLEAN", "row": "VARCHAR", "dagster_run_id": "VARCHAR",
                        "recorded_at": "VARCHAR"},
    "registered_versions": {"spec": "VARCHAR", "version": "VARCHAR", "alias": "VARCHAR", "model_id": "VARCHAR",
                            "reason": "VARCHAR", "inbox_file": "VARCHAR"},
}
