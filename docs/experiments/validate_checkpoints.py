"""docs/r3_results.md, section 0: pick an R3 checkpoint on validation rows, never on the test split. Greedy first and
second attempt of several model directories on train rows FIRST..FIRST+N-1 (default FIRST 2000: rows that neither
adaptation, rows 0 to warm_start.num_rows-1, nor mining, the next mining.num_tasks rows, used). A LoRA checkpoint
(a folder with adapter_config.json) is merged over the spec's base model first. Not part of the package.

Usage: python docs/experiments/validate_checkpoints.py SPEC_YAML R3_HOME N MODEL_DIR [MODEL_DIR ...]
(R3_VALIDATION_FIRST sets FIRST)."""
import os
import sys
import tempfile
import time
from pathlib import Path

from r3_pipeline import evaluation, stages
from r3_pipeline.layout import Layout
from r3_pipeline.rollout.episodes import EpisodeConfig, run_episodes
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.spec import load_spec

spec, layout, n = load_spec(sys.argv[1]), Layout(sys.argv[2]), int(sys.argv[3])
first = int(os.environ.get("R3_VALIDATION_FIRST", "2000"))
used = spec.model.warm_start.num_rows + spec.mining.num_tasks
if first < used:
    sys.exit(f"validation rows start at {first}, inside the rows adaptation and mining used (0 to {used - 1})")
rows = stages.load_split(spec, layout, "train")[first:first + n]
base = stages.base_model_info(spec, layout)["path"]
greedy = Sampling(0.0, 1.0, spec.evaluation.max_new_tokens)


def merged_dir(path: str, into: str) -> str:
    """`path` itself, or for a LoRA checkpoint the base with it merged in (as training saves its final model)."""
    if not Path(path, "adapter_config.json").exists():
        return path
    from peft import PeftModel

    from r3_pipeline.models.loading import load_model, save_model
    from r3_pipeline.training.train import merged

    model, tokenizer = load_model(base, dtype="float32")
    return str(save_model(merged(PeftModel.from_pretrained(model, path)), tokenizer, into))


for path in sys.argv[4:]:
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        engine = stages.engine_for(merged_dir(path, tmp), spec.evaluation.batch_size, spec.limits, spec.evaluation.engine,
                                   spec.evaluation.dtype)
        episodes = run_episodes(stages.task_for(spec), rows, engine,
                                EpisodeConfig(attempt=greedy, reflection=greedy, retry=greedy))
        engine.close()
    acc = evaluation.accuracy([e.to_record(spec=spec.name, stage="validation", run_id="", model_id=path,
                                           task=spec.task.name) for e in episodes])
    print(f"{path}: first {acc.first:.3f} second {acc.second:.3f} on {acc.n} validation rows "
          f"({time.time() - start:.0f} s)", flush=True)
