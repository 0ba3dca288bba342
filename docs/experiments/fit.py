"""Gate 4 of docs/r3_results.md, section 0: can R3 raise the reward on a few mined prompts? Not part of the package.

Usage: python docs/experiments/fit.py EXPDIR NAME N_PROMPTS 'R3CONFIG_OVERRIDES_JSON'
Trains on the first N_PROMPTS of EXPDIR's failure set (materialized with materialize.py) in EXPDIR/NAME, with the
spec's training settings updated by the overrides, logging to a new MLflow run of the spec's experiment."""
import json
import os
import sys
from pathlib import Path

exp, name, n, overrides = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
os.environ["R3_HOME"] = f"{exp}/home"
from r3_pipeline import stages, tracking  # noqa: E402
from r3_pipeline.layout import Layout, read_jsonl, write_jsonl  # noqa: E402
from r3_pipeline.spec import load_spec  # noqa: E402
from r3_pipeline.training.train import run  # noqa: E402

spec, layout = load_spec(f"{exp}/specs/smollm2_countdown.yaml"), Layout(f"{exp}/home")
failures = read_jsonl(layout.spec(spec.name).failure_set)[:n]
out = Path(exp) / name
out.mkdir(exist_ok=True)
write_jsonl(out / "failures.jsonl", failures)
print("mined pass rates", [f.get("reflection_pass_rate") for f in failures], flush=True)
job = stages.training_job(spec, layout, name)
job.failures_path, job.output_dir, job.store_root = str(out / "failures.jsonl"), str(out), ""
job.r3 = {**job.r3, **overrides}
job.mlflow_run_id = tracking.start_run(tracking.configure(layout.home, spec.name), name, {"spec": spec.name})
job.write(out / "job.json")
print(json.dumps(run(job), default=str))
