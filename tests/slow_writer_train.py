"""The R3 training process (`r3_pipeline.training.train`) with slow file writes, for tests/test_kill_anywhere.py.

`python -m tests.slow_writer_train --job JOB.json`: the real training, except that each checkpoint file, each file of
the final model and each file that checkpoint rotation deletes takes `SLOW_S` longer, so a kill at a random instant
lands inside those writes and deletions often instead of almost never (on a tiny model they take milliseconds).
Nothing else is changed: the files are written and deleted by transformers' own code, in its own order.
"""

from __future__ import annotations

import os
import shutil
import time

import safetensors.torch
import torch
import transformers.modeling_utils
import transformers.trainer_utils

from r3_pipeline.training import train

SLOW_S = float(os.environ.get("R3_TEST_SLOW_WRITE_S", "0.5"))


def slowly(write):
    def slow(*args, **kwargs):
        out = write(*args, **kwargs)
        time.sleep(SLOW_S)  # the file is written; the next one is not yet
        return out

    return slow


def slow_rmtree(path, *args, **kwargs):
    """Delete a checkpoint file by file, as a kill during `shutil.rmtree` would find it part way."""
    if "checkpoint-" in os.path.basename(str(path)):
        for root, _, files in os.walk(path):
            for name in sorted(files):
                os.unlink(os.path.join(root, name))
                time.sleep(SLOW_S)
    return _rmtree(path, *args, **kwargs)


_rmtree = shutil.rmtree
torch.save = slowly(torch.save)
transformers.modeling_utils.safe_save_file = slowly(transformers.modeling_utils.safe_save_file)
safetensors.torch.save_file = slowly(safetensors.torch.save_file)
transformers.trainer_utils.shutil.rmtree = slow_rmtree  # the module rotation deletes with (shutil itself)

if __name__ == "__main__":
    train.main()
