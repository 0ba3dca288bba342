"""The experiment script behind docs/r3_results.md, section 1 (not part of the package).

Usage: python docs/experiments/headroom.py MODEL_DIR R3_HOME K ENGINE SPEC_YAML NUM_TASKS

Headroom of R3 on a model: for held-out greedy failures, retry success after (a) greedy reflection,
(b) teacher reflection (correct first step), (c) k sampled reflections (mean and pass@k)."""
import json, sys, time
from r3_pipeline.rollout.factory import make_engine
from r3_pipeline.rollout.engines import Sampling
from r3_pipeline.rollout.conversation import first_turn, reflection_conversation, render, retry_conversation
from r3_pipeline.tasks import make_task
import yaml
model, home, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = yaml.safe_load(open(sys.argv[5]))
task = make_task(spec["task"]["name"], spec["task"]["config"])
rows = [json.loads(l) for l in open(f"{home}/specs/{spec['name']}/tasks/test.jsonl")][:int(sys.argv[6]) if len(sys.argv) > 6 else 1000]
MAXT = 64 if spec["name"] != "countdown" else 40
eng = make_engine(sys.argv[4] if len(sys.argv) > 4 else "auto", model, 256)
tok = eng.tokenizer
t0 = time.time()
firsts = eng.generate([render(tok, first_turn(task, r, tok)[0]) for r in rows], Sampling(0.0, 1.0, MAXT, 0))
fails = [(r, g.text) for r, g in zip(rows, firsts) if not task.verify(r, g.text).correct]
print("first acc", 1 - len(fails) / len(rows), "failures", len(fails))
convs = [reflection_conversation(task, first_turn(task, r, tok)[0], a) for r, a in fails]
def retry_success(reflections):
    rc = [retry_conversation(task, c, x) for c, x in zip(convs * (len(reflections) // len(convs)), reflections)]
    gens = eng.generate([render(tok, c) for c in rc], Sampling(0.0, 1.0, MAXT, 0))
    return [task.verify(r, g.text).correct for (r, _), g in zip(fails * (len(reflections) // len(convs)), gens)]
greedy = eng.generate([render(tok, c) for c in convs], Sampling(0.0, 1.0, 48, 0))
ok = retry_success([g.text for g in greedy])
print("greedy reflection retry success", sum(ok) / len(ok))
teach = [task.teacher_reflection(r, a) for r, a in fails]
ok = retry_success(teach)
print("teacher reflection retry success", sum(ok) / len(ok), "example", teach[0])
samp = eng.generate([render(tok, c) for c in convs] * k, Sampling(1.0, 1.0, 48, 1))
ok = retry_success([g.text for g in samp])
n = len(fails)
per = [[ok[j * n + i] for j in range(k)] for i in range(n)]
print(f"T=1 reflection retry success mean", sum(ok) / len(ok), f"pass@{k}", sum(any(p) for p in per) / n,
      "frac tasks with variance", sum(0 < sum(p) < k for p in per) / n)
print("second-attempt if greedy reflection matched pass@k:", 1 - len(fails)/len(rows) + sum(any(p) for p in per)/len(rows))
print("seconds", time.time() - t0)
