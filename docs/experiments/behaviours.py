"""The experiment script behind docs/r3_results.md, section 7 (not part of the package).

Usage: python docs/experiments/behaviours.py SPEC_YAML R3_HOME [NUM_TASKS] [K]

Warm-starts the spec's embedded model (or reuses the one already in R3_HOME), then measures on held-out greedy
failures what R3 could amplify: the share of each reflection behaviour among k sampled (T=1) and greedy
reflections, and the retry's success after each behaviour (the headroom: R3 gains only when the behaviour it
can find pays far more than the vanilla model's usual one)."""
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from r3_pipeline import stages
from r3_pipeline.layout import Layout
from r3_pipeline.rollout.engines import Sampling
from r3_pipeline.rollout.conversation import first_turn, reflection_conversation, render, retry_conversation
from r3_pipeline.rollout.factory import make_engine
from r3_pipeline.spec import load_spec

spec, layout = load_spec(sys.argv[1]), Layout(sys.argv[2])
n_tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
k = int(sys.argv[4]) if len(sys.argv) > 4 else 4
t0 = time.time()
if not layout.spec(spec.name).split("test").exists():
    stages.prepare_tasks(spec, layout)
info_path = layout.spec(spec.name).base_model_info
if not info_path.exists():
    print("warm start", stages.build_base_model(spec, layout), flush=True)
info = json.loads(info_path.read_text())
task = stages.task_for(spec)
rows = stages.load_split(spec, layout, "test")[:n_tasks]
eng = make_engine("transformers", info["path"], 256)
tok = eng.tokenizer
T = spec.evaluation.max_new_tokens
R = 96
firsts = eng.generate([render(tok, first_turn(task, r, tok)[0]) for r in rows], Sampling(0.0, 1.0, T, 0))
fails = [(r, g.text) for r, g in zip(rows, firsts) if not task.verify(r, g.text).correct]
out = {"warm_start_s": info.get("seconds"), "first_acc": 1 - len(fails) / len(rows), "failures": len(fails)}
convs = [reflection_conversation(task, first_turn(task, r, tok)[0], a) for r, a in fails]


def retries(reflections, conv_rows):
    rc = [retry_conversation(task, c, x) for (c, _), x in zip(conv_rows, reflections)]
    gens = eng.generate([render(tok, c) for c in rc], Sampling(0.0, 1.0, T, 0))
    return [task.verify(r, g.text).correct for (_, r), g in zip(conv_rows, gens)]


def by_behaviour(texts, ok):
    counts, wins = defaultdict(int), defaultdict(int)
    for text, good in zip(texts, ok):
        b = task.reflection_behaviour(text)
        counts[b] += 1
        wins[b] += good
    return {b: {"share": round(counts[b] / len(texts), 3), "retry_success": round(wins[b] / counts[b], 3),
                "n": counts[b]} for b in sorted(counts)}


pairs = [(c, r) for c, (r, _) in zip(convs, fails)]
greedy = [g.text for g in eng.generate([render(tok, c) for c in convs], Sampling(0.0, 1.0, R, 0))]
ok = retries(greedy, pairs)
out["greedy"] = {"retry_success": sum(ok) / len(ok), "second_acc": out["first_acc"] + sum(ok) / len(rows),
                 "by_behaviour": by_behaviour(greedy, ok), "example": greedy[0]}
sampled = [g.text for g in eng.generate([render(tok, c) for c in convs] * k, Sampling(1.0, 1.0, R, 1))]
ok = retries(sampled, pairs * k)
out["sampled"] = {"retry_success": sum(ok) / len(ok), "by_behaviour": by_behaviour(sampled, ok),
                  "examples": {task.reflection_behaviour(s): s for s in sampled}}
teacher = {}
for b in task.reflection_behaviours:
    texts = [task.teacher_reflection(r, a, behaviour=b, rng=random.Random(i)) for i, (r, a) in enumerate(fails)]
    ok = retries(texts, pairs)
    teacher[b] = round(sum(ok) / len(ok), 3)
out["teacher_retry_success"] = teacher
out["seconds"] = round(time.time() - t0, 1)
print(json.dumps(out, indent=1))
Path(sys.argv[2], "behaviours.json").write_text(json.dumps(out, indent=1))
