"""bfloat16 only where the machine computes it natively (r3_pipeline/precision.py): the warm start, R3 training and
the generation engines run float32 instead of an emulated bfloat16 that costs 5x to 33x. The hardware probe is
the one thing set by hand here, so both kinds of machine are tested on either."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from r3_pipeline import precision
from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
from r3_pipeline.models.loading import save_model
from r3_pipeline.rollout import factory
from r3_pipeline.training.job import TrainJob
from r3_pipeline.training.train import r3_args
from r3_pipeline.training.warm_start import _sft
from r3_pipeline.training.warm_start_config import WarmStartConfig


@pytest.fixture(params=[True, False], ids=["native", "emulated"])
def native(request, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: request.param)
    return request.param


def test_a_bfloat16_request_is_kept_only_where_it_is_native(native, caplog):
    with caplog.at_level(logging.WARNING, logger="r3_pipeline.precision"):
        assert precision.use_bf16(True, "warm start") is native
        assert precision.use_bf16(False, "warm start") is False
        assert precision.engine_dtype("bfloat16") == ("bfloat16" if native else "float32")
        assert precision.engine_dtype("auto") == "auto" and precision.engine_dtype("float32") == "float32"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == (0 if native else 2)  # one per refused request, none for requests of float32
    assert all("bfloat16 requested, float32 used" in w for w in warnings)
    assert native or [w.split(":")[0] for w in warnings] == ["warm start", "generation engine"]


def _tiny_warm_start(bf16: bool) -> dict:
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, intermediate_size=64))
    batch = [(list(range(3, 40)), [-100] * 10 + list(range(13, 40))), (list(range(50, 70)), list(range(50, 70)))]
    stats = _sft(model, 0, lambda k: batch, WarmStartConfig(max_steps=3, batch_size=2, learning_rate=1e-2, bf16=bf16))
    return {**stats, "weights": [p.detach().clone() for p in model.parameters()]}


def test_the_warm_start_runs_float32_where_bfloat16_is_not_native(native):
    float32, asked = _tiny_warm_start(bf16=False), _tiny_warm_start(bf16=True)
    assert float32["bf16"] is False and asked["bf16"] is native
    same = all(torch.equal(a, b) for a, b in zip(asked["weights"], float32["weights"]))
    # Emulated: exactly the float32 run. Native: autocast rounds the matmuls, so the weights move differently.
    assert same is not native


def test_r3_training_args_keep_bfloat16_only_where_native(native, tmp_path):
    def args(**r3):
        return r3_args(TrainJob(task="countdown", task_config={}, model_path="", failures_path="",
                                output_dir=str(tmp_path), r3=r3))

    assert args(bf16=True).bf16 is native
    assert args(bf16=False).bf16 is False
    assert args().bf16 is (torch.cuda.is_available() and native)  # the default: bfloat16 on GPUs only


def test_a_bfloat16_engine_loads_float32_weights_where_bfloat16_is_not_native(native, tmp_path, tiny_tokenizer):
    tok = tiny_tokenizer(["Use the numbers 3 5 7 to reach 15.", "Answer: 3 + 5 + 7"], 280)
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=64, max_positions=128), tok)
    engine = factory.make_engine("transformers", save_model(model, tok, tmp_path / "model"), dtype="bfloat16")
    assert engine.model.dtype == (torch.bfloat16 if native else torch.float32)
    engine.close()
