"""Does a checkout's code warm-start the Countdown default to the same weights as another's? Not part of the package.

Usage: python docs/experiments/warm_start_prefix.py CHECKOUT STEPS
Runs the first STEPS steps of CHECKOUT's own countdown spec warm start with CHECKOUT's code (its r3_pipeline first on
sys.path) and prints the sha256 of every file it saves. README, "Where R3 stands on the embedded default": the code of
02b2fe9 (`git worktree add /tmp/old 02b2fe9`) and today's print the same hashes at 30 and 200 steps."""
import dataclasses
import hashlib
import pathlib
import sys
import tempfile

root = sys.argv[1]
sys.path.insert(0, root)
from r3_pipeline.spec import load_spec  # noqa: E402
from r3_pipeline.training.warm_start import train_embedded_model  # noqa: E402

try:
    from r3_pipeline.stages.common import task_for  # noqa: E402
except ImportError:  # the code of 2026-11-27: stages in one module
    from r3_pipeline.stages import task_for  # noqa: E402

spec = load_spec(f"{root}/assets/specs/countdown.yaml")
task = task_for(spec)
rows = task.build_splits().train[: spec.model.warm_start.num_rows]
with tempfile.TemporaryDirectory() as out:
    stats = train_embedded_model(task, rows, spec.model.embedded,
                                 dataclasses.replace(spec.model.warm_start, max_steps=int(sys.argv[2])), out)
    for f in sorted(pathlib.Path(out).iterdir()):
        print(f.name, hashlib.sha256(f.read_bytes()).hexdigest())
    print("final loss", stats.get("final_loss"))
