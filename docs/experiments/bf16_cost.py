"""What bfloat16 costs against float32 on this machine (r3_pipeline/precision.py): a training-sized matmul in torch,
and vLLM generating greedy turns for SmolLM2. Not part of the package; run it from the vLLM venv.

Usage: python docs/experiments/bf16_cost.py MODEL_DIR   (e.g. $R3_HOME/models/SmolLM2-135M-Instruct.Q4_1-...)"""
import sys
import time

import torch

from r3_pipeline.precision import native_bf16
from r3_pipeline.rollout.sampling import GenerationLimits, Sampling
from r3_pipeline.rollout.vllm_engine import VLLMEngine

print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bfloat16: {native_bf16()}")
a, b = torch.randn(512, 576), torch.randn(576, 1536)  # SmolLM2's MLP up-projection over 512 tokens
for dtype in (torch.float32, torch.bfloat16):
    x, y = a.to(dtype), b.to(dtype)
    x @ y
    start = time.perf_counter()
    for _ in range(20):
        x @ y
    print(f"matmul 512x576 @ 576x1536, {dtype}: {(time.perf_counter() - start) / 20 * 1000:.1f} ms")

model = sys.argv[1]
question = "Using the numbers {}, {} and {}, write an equation that equals {}. Think briefly."
for dtype in ("float32", "bfloat16"):
    # make_engine would turn bfloat16 into float32 where it is not native: vLLM is built directly to measure it.
    engine = VLLMEngine(model, limits=GenerationLimits(), batch_size=64, dtype=dtype)
    tok = engine.tokenizer
    prompts = [tok(tok.apply_chat_template([{"role": "user", "content": question.format(i, i + 3, i + 7, 2 * i + 5)}],
                                           tokenize=False, add_generation_prompt=True)).input_ids for i in range(64)]
    engine.generate(prompts[:4], Sampling(0.0, 1.0, 8))
    start = time.perf_counter()
    outs = engine.generate(prompts, Sampling(0.0, 1.0, 32))
    seconds = time.perf_counter() - start
    tokens = sum(len(o.ids) for o in outs)
    print(f"vLLM, 64 prompts x 32 tokens, {dtype}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s")
    engine.close()
