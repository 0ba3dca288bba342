"""docs/r3_results.md, section 0: is forward + backward slower in a process holding a vLLM engine? Not in the package.

Usage (from .venv-vllm): python docs/experiments/engine_threads.py MODEL_DIR
Times a forward + backward of 8 x 160 tokens (float32) three times before the engine starts and three times after it
has generated, with torch's thread count."""
import sys
import time

import torch

from r3_pipeline.models.loading import load_model
from r3_pipeline.rollout.sampling import Sampling
from r3_pipeline.rollout.vllm_engine import VLLMEngine

path = sys.argv[1]
model, tok = load_model(path, dtype="float32")
x = torch.randint(100, 4000, (8, 160))


def fb(label):
    ts = []
    for _ in range(3):
        t = time.time()
        model(input_ids=x, labels=x).loss.backward()
        model.zero_grad()
        ts.append(time.time() - t)
    print(label, "torch threads", torch.get_num_threads(), "seconds", [round(t, 2) for t in ts], flush=True)


fb("before engine")
eng = VLLMEngine(path, tok)
eng.generate([tok.encode("Hello")] * 8, Sampling(1.0, 1.0, 16, 0))
fb("after generate")
