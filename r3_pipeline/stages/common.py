"""What every stage shares: the spec's task, its files under R3_HOME, its splits, and the generation engine.

The stages read and write the files that `layout.SpecPaths` names, so these helpers are the one place that
says where a spec's files are and how a stage gets a model to generate with. The engine is imported inside
`engine_for`, so importing the stages (as the Dagster definitions do) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from r3_pipeline.layout import Layout, SpecPaths, read_jsonl
from r3_pipeline.rollout.sampling import GenerationLimits
from r3_pipeline.spec import Spec
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.base import Row

if TYPE_CHECKING:
    from r3_pipeline.rollout.engines import Engine


def task_for(spec: Spec):
    return make_task(spec.task.name, spec.task.config)


def paths(spec: Spec, layout: Layout) -> SpecPaths:
    return layout.spec(spec.name)


def load_split(spec: Spec, layout: Layout, split: str) -> list[Row]:
    return read_jsonl(paths(spec, layout).split(split))


def engine_for(path: str, batch_size: int, limits: GenerationLimits, kind: str = "auto", dtype: str = "auto") -> Engine:
    """The spec's engine (`evaluation.engine`) over the checkpoint at `path`, loaded from disk as saved (a freshly
    trained model included); run_stored_episodes closes it when its episodes are stored."""
    from r3_pipeline.rollout.factory import make_engine

    return make_engine(kind, path, batch_size, limits, dtype)


def engine_maker(path: str, spec: Spec, chosen: list[str]):
    """`make_engine` for run_stored_episodes: the spec's engine over `path`, its choice noted in `chosen`."""
    def make() -> Engine:
        engine = engine_for(path, spec.evaluation.batch_size, spec.limits, spec.evaluation.engine, spec.evaluation.dtype)
        chosen.append(getattr(engine, "choice", type(engine).__name__))
        return engine
    return make


def engine_used(chosen: list[str]) -> str:
    """Which engine generated (and why), for metadata; none when every chunk was already stored."""
    return chosen[0] if chosen else "none (every chunk was already stored)"


def truncated_prompts(records: list[dict]) -> int:
    """Episodes whose prompt lost tokens to the length limits (reported, never silent)."""
    return sum(1 for r in records if r.get("truncated_tokens"))
