"""Checkpoints that are complete or ignored: a manifest written once every process has saved, checked before resuming.

transformers writes a checkpoint in place (`checkpoint-N/`: weights, optimizer, scheduler, each process's RNG state,
then `trainer_state.json`) and rotates old ones with `shutil.rmtree`; its `get_last_checkpoint` returns the
highest-numbered folder whether or not it was written (or deleted) completely. A training process can be killed at
any instant (a killed Dagster run, a shared machine), and resuming from a half-written checkpoint fails, or worse
resumes quietly from what is there (a missing `optimizer.pt` or `trainer_state.json` is skipped without an error:
fresh moments, or step 0 again with the new weights).

So `CheckpointManifest` (a callback) writes `r3_checkpoint.json` into the checkpoint after Trainer's `on_save`, once
every process has finished its part: the name and size of every file in it, written to a temporary name and renamed.
`last_complete_checkpoint` returns the highest-numbered checkpoint whose manifest reads and whose files are all
there with their sizes; `discard_incomplete` moves the others (a kill mid-write, a rotation killed mid-delete) out of
transformers' sight and deletes them, so a replayed step writes a fresh folder and rotation never counts a broken one.

Why not write to a temporary folder and rename: transformers chooses the folder inside `_save_checkpoint` (every
process writes its RNG state there, FSDP and DeepSpeed their shards), so a rename would mean re-implementing it; and
a rename makes a checkpoint appear whole but not disappear whole (rotation deletes in place). The manifest covers
both with public hooks. The cost: with `save_total_limit: 1`, a kill after rotation deleted the previous checkpoint
and before the new one's manifest leaves none complete, and training restarts from step 0 (nothing half-written is
resumed, but the progress is lost); keep the default 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

from transformers import TrainerCallback

MANIFEST = "r3_checkpoint.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def write_manifest(checkpoint: Path) -> None:
    """Record every file of `checkpoint` with its size; the manifest appears whole or not at all."""
    files = {str(p.relative_to(checkpoint)): p.stat().st_size
             for p in sorted(checkpoint.rglob("*")) if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    tmp = checkpoint / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps({"files": files}, indent=1))
    os.replace(tmp, checkpoint / MANIFEST)


def is_complete(checkpoint: Path) -> bool:
    """Whether `checkpoint` has a readable manifest and every file it lists, at its recorded size."""
    try:
        files = json.loads((checkpoint / MANIFEST).read_text())["files"]
        return bool(files) and all((checkpoint / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def checkpoints(output_dir: Path) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir`, highest step first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found, reverse=True)]


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The checkpoint to resume from: the highest-numbered complete one, else None (start from step 0)."""
    for checkpoint in checkpoints(Path(output_dir)):
        if is_complete(checkpoint):
            return str(checkpoint)
    return None


def discard_incomplete(output_dir: str | Path) -> list[str]:
    """Delete the checkpoints that are not complete; their names. Each is first renamed to a hidden name (atomic),
    so a kill during the deletion leaves nothing that looks like a checkpoint. Call it from one process only."""
    gone = []
    for checkpoint in checkpoints(Path(output_dir)):
        if not is_complete(checkpoint):
            trash = checkpoint.with_name(f".discarded-{checkpoint.name}-{uuid.uuid4().hex[:8]}")
            os.replace(checkpoint, trash)
            shutil.rmtree(trash, ignore_errors=True)
            gone.append(checkpoint.name)
    for trash in Path(output_dir).glob(".discarded-checkpoint-*"):  # left by a kill during an earlier deletion
        shutil.rmtree(trash, ignore_errors=True)
    return gone


class CheckpointManifest(TrainerCallback):
    """After each save, once every process has written its part, the main process writes the manifest."""

    def __init__(self, accelerator):
        self.accelerator = accelerator

    def on_save(self, args, state, control, **kwargs):
        self.accelerator.wait_for_everyone()  # each process writes its own RNG state (and shards) into the folder
        if self.accelerator.is_main_process:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if checkpoint.is_dir():
                write_manifest(checkpoint)
        self.accelerator.wait_for_everyone()
