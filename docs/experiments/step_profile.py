"""docs/r3_results.md, section 0, "Step time": where an R3 step's seconds go. Not part of the package.

Usage (from .venv-vllm): python docs/experiments/step_profile.py EXPDIR NAME STEPS ['R3CONFIG_OVERRIDES_JSON']
Trains STEPS steps of EXPDIR's spec (materialized with materialize.py) on its whole failure set in process, in
EXPDIR/NAME, and prints the seconds of each phase per step. The table's rows:
  as the seeds ran:               R3_TRL_SCORING=1 ... '{"gradient_checkpointing": true}'
  completion tokens only:         ... '{"gradient_checkpointing": true}'
  and no gradient checkpointing:  ... (today's defaults)
R3_TRL_SCORING=1: TRL's own choice on CPU (every position through the LM head). R3_ATTN=eager: eager attention.
R3_PROFILE=1: torch.profiler's table of the third backward."""
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

exp, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
os.environ["R3_HOME"] = f"{exp}/home"
import torch  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

import r3_pipeline.training.r3_trainer as r3_trainer  # noqa: E402
import r3_pipeline.training.train as train  # noqa: E402
import r3_pipeline.training.vllm_colocate as vllm_colocate  # noqa: E402
from r3_pipeline import stages, tracking  # noqa: E402
from r3_pipeline.layout import Layout, read_jsonl, write_jsonl  # noqa: E402
from r3_pipeline.rollout.vllm_engine import VLLMEngine  # noqa: E402
from r3_pipeline.spec import load_spec  # noqa: E402

seconds = defaultdict(list)


def timed(owner, attr, label):
    f = getattr(owner, attr)

    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            seconds[label].append(time.perf_counter() - t)
    setattr(owner, attr, wrapper)


if os.environ.get("R3_TRL_SCORING"):
    r3_trainer.score_completion_tokens_only = lambda: None
if os.environ.get("R3_ATTN"):
    load = train.load_model

    def load_with_attention(*a, **k):
        model, tok = load(*a, **k)
        model.set_attn_implementation(os.environ["R3_ATTN"])
        return model, tok
    train.load_model = load_with_attention
timed(vllm_colocate, "reload_weights", "weight sync")
timed(VLLMEngine, "generate", "vLLM generate")
timed(GRPOTrainer, "_generate_and_score_completions", "rollout")
timed(GRPOTrainer, "_compute_loss", "loss forward")
timed(r3_trainer.R3Trainer, "anchor_kl", "anchor")
timed(GRPOTrainer, "training_step", "step")
backward = torch.Tensor.backward


def timed_backward(self, *a, **k):
    t = time.perf_counter()
    try:
        if os.environ.get("R3_PROFILE") and len(seconds["backward"]) == 2:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as p:
                out = backward(self, *a, **k)
            print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=20), flush=True)
            return out
        return backward(self, *a, **k)
    finally:
        seconds["backward"].append(time.perf_counter() - t)


torch.Tensor.backward = timed_backward

spec, layout = load_spec(f"{exp}/specs/smollm2_countdown.yaml"), Layout(f"{exp}/home")
out = Path(exp) / name
out.mkdir(exist_ok=True, parents=True)
write_jsonl(out / "failures.jsonl", read_jsonl(layout.spec(spec.name).failure_set))
job = stages.training_job(spec, layout, name)
job.failures_path, job.output_dir, job.store_root = str(out / "failures.jsonl"), str(out), ""
job.r3 = {**job.r3, "max_steps": steps, "save_steps": 10_000, **overrides}
job.mlflow_run_id = tracking.start_run(tracking.configure(layout.home, spec.name), f"step-profile-{name}", {"spec": spec.name})
job.write(out / "job.json")
train.run(job)
print("torch threads", torch.get_num_threads())
for label, values in seconds.items():
    print(f"{label:14s} calls {len(values):3d}  total {sum(values):7.1f} s  each {[round(v, 2) for v in values]}")
