"""First attempts of a model on a spec's held-out tasks, by BFCL category (not part of the package).

Usage: python docs/experiments/first_attempt_by_category.py R3_HOME SPEC_YAML MODEL_DIR [PROMPTS_YAML]

Greedy first attempts on the spec's test split (the `tasks` asset must be materialized in R3_HOME), with the
spec's engine, dtype and answer length; PROMPTS_YAML replaces the spec's prompt file (the "no call" sentence of
issue 25 was measured this way). Prints the accuracy over all tasks and per category (the row id without its
number), and the share of answers that make no call."""
import collections
import sys
import time
from dataclasses import replace
from pathlib import Path

from r3_pipeline.rollout.conversation import first_turn, render
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import load_spec
from r3_pipeline.stages import engine_for, task_for
from r3_pipeline.layout import read_jsonl

home, spec_path, model = sys.argv[1:4]
spec = load_spec(spec_path)
if len(sys.argv) > 4:
    spec = replace(spec, task=replace(spec.task, config={**spec.task.config, "prompts_path": sys.argv[4]}))
task = task_for(spec)
rows = read_jsonl(Path(f"{home}/specs/{spec.name}/tasks/test.jsonl"))[: spec.evaluation.num_tasks]
engine = engine_for(model, spec.evaluation.batch_size, spec.limits, spec.evaluation.engine, spec.evaluation.dtype)
start = time.time()
turns = [first_turn(task, row, engine.tokenizer) for row in rows]
outs = engine.generate([render(engine.tokenizer, m, t) for m, t in turns],
                       Sampling(0.0, 1.0, spec.evaluation.max_new_tokens))
by = collections.defaultdict(list)
no_call = 0
for row, out in zip(rows, outs):
    verdict = task.verify(row, out.text)
    by[row["id"].split("-")[0].rstrip("0123456789").rstrip("_")].append(verdict.correct)
    no_call += "<tool_call>" not in out.text
total = [ok for oks in by.values() for ok in oks]
print(f"{len(total)} tasks: first attempt {100 * sum(total) / len(total):.1f}%, answers with no <tool_call> "
      f"{100 * no_call / len(total):.1f}%, {time.time() - start:.0f} s")
for name, oks in sorted(by.items(), key=lambda kv: -len(kv[1])):
    print(f"  {name:<24} {len(oks):4d} tasks  {100 * sum(oks) / len(oks):5.1f}%")
getattr(engine, "close", lambda: None)()
