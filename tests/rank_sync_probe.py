"""Run by tests/test_multiprocess.py under `accelerate launch --multi_gpu --num_processes 2` (CPU processes over
gloo), not collected by pytest: each process builds the same small model and runs the per-step weight check of
`RankSyncCallback` twice, first with equal weights, then after rank 1 moved one weight by one unit in the last
place. Each writes what it saw to <out>/rank<N>.json: the check must pass, then fail on every rank."""

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import TrainerState

from r3_pipeline.training.distributed import RankSyncCallback, RanksOutOfSync


def main() -> None:
    out = Path(sys.argv[1])
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
    recorded: list[tuple[str, float]] = []
    callback = RankSyncCallback(accelerator, lambda name, value: recorded.append((name, value)))
    seen = {"rank": accelerator.process_index, "processes": accelerator.num_processes, "active": callback.active}
    callback.on_step_end(None, TrainerState(global_step=1), None, model=model)
    seen["recorded"] = list(recorded)
    if accelerator.process_index == 1:
        with torch.no_grad():
            w = model[1].weight
            w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(float("inf")))
    try:
        callback.on_step_end(None, TrainerState(global_step=2), None, model=model)
        seen["error"] = None
    except RanksOutOfSync as exc:
        seen["error"] = str(exc)
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
