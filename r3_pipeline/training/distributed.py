"""What the training process does differently when `accelerate launch` starts several of them (DDP on GPUs, or CPU
processes over gloo): which process is the main one before the trainer exists, dying with the launcher, gathering
rollouts to the main process, saving the final model once, and checking after every step that the ranks still hold
the same weights.

Every process runs the same `r3_pipeline.training.train.run`; TRL hands each its own slice of every batch. Only
the main process talks to MLflow, Dagster Pipes and the trajectory store and writes the final model and
result.json; the others train in lockstep. The weight check is cheap (one pass over the trainable parameters and
an all-gather of one integer per parameter) and fails loudly, since a silent divergence would train N different
models and keep only one of them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import TrainerCallback

log = logging.getLogger(__name__)

# The variables a launcher sets for each process (torchrun / accelerate, then MPI flavours), as accelerate reads them.
_RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMI_RANK")
_CHUNK = 1 << 24  # elements summed at a time: bounds the int64 temporary to 128 MB whatever the parameter's size
_INT_OF = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}  # same-width integers to read bits as


def launch_rank() -> int:
    """This process's rank as the launcher set it (0 when launched alone).

    Read from the environment because it is needed before the trainer initializes the distributed state: building
    accelerate's `PartialState` here would fix it before the trainer passes `cpu=True`, and CPU processes would then
    not join the group."""
    for name in _RANK_VARS:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def is_main_launch_process() -> bool:
    return launch_rank() == 0


def exit_with_launcher(poll_s: float = 0.05) -> None:
    """Under torch.distributed.run (what `accelerate launch` uses for several processes), die with the launcher.

    It starts each training process in a session of its own, so a SIGKILL of the launching process group (a killed
    Dagster run) would leave them training as orphans: they would go on writing checkpoints, rollouts and
    result.json while the next run resumes from the same directory. A daemon thread sees the parent change and kills
    this process, as the kill meant to; it looks every 50 ms, since a small model can finish its last steps and
    write result.json within a second of the kill. A no-op for a process started any other way."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.error("the launcher (pid %d) is gone: stopping training process %d", parent, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-launcher", daemon=True).start()


def gather_to_main(items: list) -> list | None:
    """Every process's `items`, concatenated in rank order, on the main process; None on the others. A collective:
    every process must call it at the same point (the rollout, which all run in lockstep)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object

    state = PartialState()
    if state.num_processes == 1:
        return list(items)
    gathered = gather_object(list(items))
    return gathered if state.is_main_process else None


def parameter_digest(model: torch.nn.Module) -> tuple[list[str], torch.Tensor]:
    """Names of the trainable parameters and, per parameter, the int64 sum of its raw bits: exact (no rounding, so
    equal weights give equal digests on every rank) and changed by any single-bit difference, short of sums that
    cancel. Computed on the parameters' device, chunk by chunk."""
    names, sums = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        bits = p.detach().reshape(-1).view(_INT_OF[p.element_size()])
        total = torch.zeros((), dtype=torch.int64, device=p.device)
        for chunk in bits.split(_CHUNK):
            total += chunk.sum(dtype=torch.int64)
        sums.append(total)
        names.append(name)
    device = next(model.parameters()).device
    return names, torch.stack(sums) if sums else torch.zeros(0, dtype=torch.int64, device=device)


class RanksOutOfSync(RuntimeError):
    pass


def compare_digests(names: list[str], gathered: torch.Tensor, step: int) -> None:
    """Raise RanksOutOfSync naming the parameters where any rank's digest (a row of `gathered`) differs from rank 0's."""
    differ = (gathered != gathered[0]).any(dim=0).tolist()
    bad = [n for n, d in zip(names, differ) if d]
    if bad:
        ranks = [r for r in range(gathered.shape[0]) if not torch.equal(gathered[r], gathered[0])]
        raise RanksOutOfSync(f"after step {step} the weights of rank(s) {ranks} differ from rank 0's in {len(bad)} of "
                             f"{len(names)} trainable parameters, e.g. {', '.join(bad[:3])}: the processes are no "
                             "longer training one model")


class RankSyncCallback(TrainerCallback):
    """After every optimizer step of a multi-process run, all-gather each rank's `parameter_digest` and fail when
    they differ; when they agree, `record("r3/ranks_in_sync", 1.0)` (R3Trainer.record_metric puts it in the step's
    log, MLflow `r3_ranks_in_sync`).

    Does nothing with one process, or when the weights are sharded (FSDP, DeepSpeed ZeRO-3), where ranks hold
    different shards by design."""

    def __init__(self, accelerator, record: Callable[[str, float], None], sharded: bool = False):
        self.accelerator, self.record = accelerator, record
        self.active = accelerator.num_processes > 1 and not sharded
        if accelerator.num_processes > 1 and sharded:
            log.info("weights are sharded across processes: the per-step check that ranks agree is off")

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not self.active:
            return
        names, digest = parameter_digest(model)
        if not names:
            return
        gathered = self.accelerator.gather(digest[None]).reshape(-1, len(names))
        compare_digests(names, gathered.cpu(), state.global_step)
        self.record("r3/ranks_in_sync", 1.0)


def weights_sharded(trainer) -> bool:
    """Whether each process holds only a shard of the weights (FSDP, DeepSpeed ZeRO-3)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return plugin is not None and getattr(plugin, "zero_stage", 0) == 3


def save_final_model(trainer, tokenizer, path: Path, merged) -> Path:
    """Write the trained model once, as a plain transformers model (`merged` folds a LoRA adapter in).

    Replicated weights (one process, DDP, ZeRO-1/2): the main process saves its copy, the others wait for it.
    Sharded weights (FSDP, ZeRO-3): Trainer.save_model, which every process must call, gathers the full weights and
    the main process writes them (needs a FULL_STATE_DICT FSDP config; assets/accelerate/fsdp.yaml has one). LoRA
    under sharding is saved as the adapter Trainer writes, not merged."""
    from r3_pipeline.models.loading import save_model

    if weights_sharded(trainer):
        trainer.save_model(str(path))
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(path)
    elif trainer.accelerator.is_main_process:
        save_model(merged(trainer.model), tokenizer, path)
    trainer.accelerator.wait_for_everyone()
    return path
