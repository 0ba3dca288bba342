"""Episodes generated in chunks and stored as each chunk finishes, so interrupted mining or evaluation resumes.

Each chunk of task rows becomes one Parquet batch in the trajectory store. The batch name is a hash of
everything that determines its episodes: spec, stage, model, decoding settings and the chunk's task ids.
A re-run finds the chunks already stored and generates only the missing ones. Chunks are written atomically,
so a run killed at any moment leaves whole chunks or none, and no episode is stored twice or lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from r3_pipeline.rollout.engines import Engine
from r3_pipeline.rollout.episodes import EpisodeConfig, run_episodes
from r3_pipeline.store import TrajectoryStore, episode_id
from r3_pipeline.tasks.base import Row, Task


@dataclass(frozen=True)
class EpisodeSource:
    """Who generates the episodes, and under which names they are recorded."""

    spec: str
    stage: str
    model_id: str
    task: str
    run_id: str


@dataclass
class StoredEpisodes:
    records: list[dict]
    chunks_generated: int
    chunks_reused: int


def run_stored_episodes(task: Task, rows: list[Row], make_engine: Callable[[], Engine], cfg: EpisodeConfig,
                        store: TrajectoryStore, source: EpisodeSource, chunk_tasks: int = 64,
                        on_chunk: Callable[[int], None] | None = None) -> StoredEpisodes:
    """Store records for `rows` (samples_per_task each), reusing chunks a previous run already stored;
    `on_chunk` hears the number of episodes done after each chunk (progress).

    `make_engine` is called only when some chunk is missing, so a fully stored run loads no model. The engine
    made here is closed here (its `close()`, when it has one), so the next model's engine finds its memory free.
    """
    if chunk_tasks < 1:
        raise ValueError(f"chunk_tasks must be >= 1, got {chunk_tasks}")
    settings = json.dumps(asdict(cfg), sort_keys=True)
    engine: Engine | None = None
    records: list[dict] = []
    generated = reused = 0
    try:
        for start in range(0, len(rows), chunk_tasks):
            chunk = rows[start : start + chunk_tasks]
            key = episode_id(source.spec, source.stage, source.model_id, settings, *(r["task_id"] for r in chunk))
            name = f"{source.stage}-{source.spec}-{key}"
            stored = store.read_batch(name)
            if stored is None:
                engine = engine or make_engine()
                stored = [e.to_record(spec=source.spec, stage=source.stage, run_id=source.run_id,
                                      model_id=source.model_id, task=source.task,
                                      behaviour_of=task.reflection_behaviour)
                          for e in run_episodes(task, chunk, engine, cfg)]
                store.write(stored, name=name)
                generated += 1
            else:
                reused += 1
            records.extend(stored)
            if on_chunk:
                on_chunk(len(records))
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    return StoredEpisodes(records, generated, reused)
