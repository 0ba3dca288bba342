"""docs/r3_results.md, section 0: a training checkpoint against the vanilla model on held-out tasks, greedy, with the
spec's engine and dtype, first and second attempt, paired differences with 95% intervals. Not part of the package.

Usage: python docs/experiments/evaluate_checkpoint.py SPEC_YAML R3_HOME CHECKPOINT_DIR NUM_TASKS
(for when training stops before its end; a finished run is evaluated by the pipeline's evaluation asset)."""
import json
import re
import sys
from pathlib import Path

from r3_pipeline import evaluation, stages
from r3_pipeline.layout import Layout
from r3_pipeline.rollout.episodes import EpisodeConfig, run_episodes
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import load_spec

spec, layout, checkpoint, n = load_spec(sys.argv[1]), Layout(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = stages.load_split(spec, layout, "test")[:n]
greedy = Sampling(0.0, 1.0, spec.evaluation.max_new_tokens)
records = {}
for label, path in (("vanilla", stages.base_model_info(spec, layout)["path"]), ("trained", checkpoint)):
    engine = stages.engine_for(path, spec.evaluation.batch_size, spec.limits, spec.evaluation.engine,
                               spec.evaluation.dtype)
    episodes = run_episodes(stages.task_for(spec), rows, engine, EpisodeConfig(attempt=greedy, reflection=greedy,
                                                                              retry=greedy))
    engine.close()
    records[label] = [e.to_record(spec=spec.name, stage="evaluation", run_id="", model_id=label, task=spec.task.name)
                      for e in episodes]
out = {label: evaluation.accuracy(r).as_dict() for label, r in records.items()}
out["gains"] = {a: evaluation.paired_difference(records["vanilla"], records["trained"], a).as_dict()
                for a in ("first", "second")}


def repeats(recs: list[dict]) -> float:
    """Share of reflections whose "Try <equation>." proposes the failed first attempt again."""
    pairs = [(re.search(r"Try (.*?)\.?$", r["reflection"].strip()),
              re.search(r"<answer>(.*)</answer>", r["first_attempt"])) for r in recs if r["reflection"] is not None]
    return sum(bool(t and a and t[1].strip() == a[1].strip()) for t, a in pairs) / max(1, len(pairs))


out["repeats"] = {label: repeats(recs) for label, recs in records.items()}
print(json.dumps(out, indent=1, default=str))
Path(checkpoint, "heldout_eval.json").write_text(json.dumps(out, default=str))
