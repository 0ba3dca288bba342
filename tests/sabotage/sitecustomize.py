"""Test-only sabotage, on PYTHONPATH only in tests/test_multiprocess.py's sabotage check: with
R3_TEST_BREAK_ALLREDUCE=1, every DistributedDataParallel model gets a communication hook that returns each process's
own gradients instead of their all-reduced mean, so the training processes apply different updates. The two-process
test must then fail. Python imports `sitecustomize` at start-up from the first folder on sys.path that has one."""

import os

if os.environ.get("R3_TEST_BREAK_ALLREDUCE") == "1":
    import torch
    from torch.nn.parallel import DistributedDataParallel

    _init = DistributedDataParallel.__init__

    def _local_gradients_only(state, bucket):
        future = torch.futures.Future()
        future.set_result(bucket.buffer())  # this process's gradients, never reduced with the others'
        return future

    def _init_without_allreduce(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.register_comm_hook(None, _local_gradients_only)

    DistributedDataParallel.__init__ = _init_without_allreduce
