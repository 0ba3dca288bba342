"""Choosing the generation engine: the spec's `evaluation.engine`, and `make_engine` with and without vLLM.
These need no vllm (tests/test_vllm_engine.py runs vLLM itself)."""

from __future__ import annotations

import logging

import pytest

from r3_pipeline.models.embedded import EmbeddedModelConfig, build_embedded_model
from r3_pipeline.models.loading import save_model
from r3_pipeline.rollout import factory, vllm_engine
from r3_pipeline.rollout.engines import GenerationLimits, Sampling, TransformersEngine
from r3_pipeline.spec import SpecError, parse_spec
from tests.support import MICRO_SPEC


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_tokenizer):
    tok = tiny_tokenizer(["Use the numbers 3 5 7 to reach 15.", "Answer: 3 + 5 + 7"], 280)
    model = build_embedded_model(EmbeddedModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                                                     intermediate_size=64, max_positions=128), tok)
    return save_model(model, tok, tmp_path_factory.mktemp("m") / "model")


def test_spec_engine_field():
    assert parse_spec(MICRO_SPEC).evaluation.engine == "auto"
    for kind in factory.ENGINES:
        assert parse_spec({**MICRO_SPEC, "evaluation": {"engine": kind}}).evaluation.engine == kind
    with pytest.raises(SpecError, match=r"evaluation.engine: expected one of auto, transformers, vllm, got 'vlm'"):
        parse_spec({**MICRO_SPEC, "evaluation": {"engine": "vlm"}})


def test_transformers_engine_by_name(model_dir):
    engine = factory.make_engine("transformers", model_dir, batch_size=4, limits=GenerationLimits(max_new_tokens=8))
    assert isinstance(engine, TransformersEngine) and engine.choice == "transformers (chosen)"
    assert engine.batch_size == 4 and engine.limits.max_new_tokens == 8
    [gen] = engine.generate([engine.tokenizer("Use the numbers")["input_ids"]], Sampling(0.0, 1.0, 4))
    assert len(gen.ids) <= 4
    engine.close()
    with pytest.raises(ValueError, match="unknown engine 'vlm'"):
        factory.make_engine("vlm", model_dir)


def test_auto_without_vllm_is_transformers_and_says_why(model_dir, monkeypatch, caplog):
    monkeypatch.setattr(vllm_engine, "vllm_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="r3_pipeline.rollout.factory"):
        engine = factory.make_engine("auto", model_dir)
    assert isinstance(engine, TransformersEngine)
    assert engine.choice == "transformers (auto: vllm is not installed)"
    assert "transformers (auto: vllm is not installed)" in caplog.text
    with pytest.raises(RuntimeError, match="engine 'vllm' chosen but vllm is not installed"):
        factory.make_engine("vllm", model_dir)


def test_auto_falls_back_when_vllm_fails_to_start(model_dir, monkeypatch, caplog):
    class Broken:
        def __init__(self, *a, **k):
            raise ValueError("head size 16 is not supported")

    monkeypatch.setattr(vllm_engine, "vllm_available", lambda: True)
    monkeypatch.setattr(vllm_engine, "VLLMEngine", Broken)
    with caplog.at_level(logging.WARNING, logger="r3_pipeline.rollout.factory"):
        engine = factory.make_engine("auto", model_dir)
    assert isinstance(engine, TransformersEngine)
    assert "vLLM did not start on this model (ValueError: head size 16 is not supported)" in engine.choice
    assert "head size 16" in caplog.text
    with pytest.raises(ValueError, match="head size 16"):
        factory.make_engine("vllm", model_dir)


def test_request_seeds_depend_only_on_seed_and_index():
    seeds = [vllm_engine.request_seed(s, i) for s in range(4) for i in range(64)]
    assert len(set(seeds)) == len(seeds) and all(0 <= x < 2**63 for x in seeds)
    assert vllm_engine.request_seed(1, 2) == vllm_engine.request_seed(1, 2)
