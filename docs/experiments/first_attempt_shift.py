"""docs/r3_results.md, section 0: where an R3-trained model's first attempt went. Greedy first attempts of several
model directories on the same held-out tasks; for each, accuracy, the share of first attempts identical to the
first model's, and the operator patterns of its equations ("++" for "3 + 5 + 7"), read as characters, never
evaluated. Not part of the package.

Usage: python docs/experiments/first_attempt_shift.py SPEC_YAML R3_HOME NUM_TASKS MODEL_DIR [MODEL_DIR ...]
(the first MODEL_DIR is the reference, normally the vanilla model: <home>/specs/NAME/base_model/model)."""
import re
import sys
from collections import Counter

from r3_pipeline import stages
from r3_pipeline.layout import Layout
from r3_pipeline.rollout.episodes import EpisodeConfig, run_episodes
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import load_spec

spec, layout, n, models = load_spec(sys.argv[1]), Layout(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = stages.load_split(spec, layout, "test")[:n]
greedy = Sampling(0.0, 1.0, spec.evaluation.max_new_tokens)


def pattern(text: str) -> str:
    m = re.search(r"<answer>(.*?)</answer>", text)
    return "".join(c for c in m[1] if c in "+-*/()") if m else "no answer"


reference = None
for path in models:
    engine = stages.engine_for(path, spec.evaluation.batch_size, spec.limits, spec.evaluation.engine,
                               spec.evaluation.dtype)
    episodes = run_episodes(stages.task_for(spec), rows, engine, EpisodeConfig(attempt=greedy, reflection=greedy,
                                                                              retry=greedy))
    engine.close()
    firsts = [e.first.text for e in episodes]
    reference = reference or firsts
    correct = sum(e.first_verdict.correct for e in episodes)
    same = sum(a == b for a, b in zip(firsts, reference))
    top = ", ".join(f"{p} {c}" for p, c in Counter(map(pattern, firsts)).most_common(6))
    print(f"{path}\n  first attempt {correct}/{len(rows)} ({100 * correct / len(rows):.1f}%), identical to the "
          f"reference's {same}/{len(rows)}; operator patterns: {top}", flush=True)
