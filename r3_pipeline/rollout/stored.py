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
from r3_pipeline.rollout.episodes import Episode, EpisodeConfig, ReflectionSamples, reflect_on_failures, run_episodes
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
    return _run_stored(task, rows, lambda r: r["task_id"], lambda chunk, engine: run_episodes(task, chunk, engine, cfg),
                       make_engine, json.dumps(asdict(cfg), sort_keys=True), store, source, chunk_tasks, on_chunk)


def run_stored_reflections(task: Task, failures: list[tuple[Row, str]], make_engine: Callable[[], Engine],
                           cfg: ReflectionSamples, store: TrajectoryStore, source: EpisodeSource,
                           chunk_tasks: int = 64, on_chunk: Callable[[int], None] | None = None) -> StoredEpisodes:
    """`cfg.samples` reflections on each (row, failed attempt), each followed by a retry, stored and resumed in
    chunks as `run_stored_episodes` does (a chunk's name also covers the failed attempts' text)."""
    return _run_stored(task, failures, lambda f: f"{f[0]['task_id']}:{f[1]}",
                       lambda chunk, engine: reflect_on_failures(task, chunk, engine, cfg),
                       make_engine, json.dumps(asdict(cfg), sort_keys=True), store, source, chunk_tasks, on_chunk)


def _run_stored(task: Task, items: list, key_of: Callable[[object], str],
                generate: Callable[[list, Engine], list[Episode]], make_engine: Callable[[], Engine], settings: str,
                store: TrajectoryStore, source: EpisodeSource, chunk_tasks: int,
                on_chunk: Callable[[int], None] | None) -> StoredEpisodes:
    if chunk_tasks < 1:
        raise ValueError(f"chunk_tasks must be >= 1, got {chunk_tasks}")
    engine: Engine | None = None
    records: list[dict] = []
    generated = reused = 0
    try:
        for start in range(0, len(items), chunk_tasks):
            chunk = items[start : start + chunk_tasks]
            key = episode_id(source.spec, source.stage, source.model_id, settings, *map(key_of, chunk))
            name = f"{source.stage}-{source.spec}-{key}"
            stored = store.read_batch(name)
            if stored is None:
                engine = engine or make_engine()
                stored = [e.to_record(spec=source.spec, stage=source.stage, run_id=source.run_id,
                                      model_id=source.model_id, task=source.task,
                                      behaviour_of=task.reflection_behaviour)
                          for e in generate(chunk, engine)]
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
