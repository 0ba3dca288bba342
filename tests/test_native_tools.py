"""Function calling with a tool-aware chat template: tools go through the template (not the prompt text), and
the model's native <tool_call> blocks are what the verifier scores. The template is a small Qwen2.5-style one
written here, since no real model can be downloaded in tests."""

import json

import pytest

from r3_pipeline.rollout.conversation import first_turn, render
from r3_pipeline.tasks import make_task

TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>"
    "<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _task_and_row(native=True):
    task = make_task("function_calling", {"num_train": 20, "num_test": 5, "native_tools": native})
    return task, task.build_splits().train[0]


@pytest.fixture
def tokenizer(tiny_tokenizer):
    return lambda template: tiny_tokenizer(["get weather city Paris tool call", "<tools> </tools>"],
                                           chat_template=template)


def test_tool_aware_template_receives_tools_and_prompt_omits_them(tokenizer):
    task, row = _task_and_row()
    tok = tokenizer(TOOL_TEMPLATE)
    messages, tools = first_turn(task, row, tok)
    names = [t["function"]["name"] if "function" in t else t["name"] for t in tools]
    assert names and all(name not in messages[0]["content"] for name in names)
    text = tok.decode(render(tok, messages, tools))
    assert "<tools>" in text and all(name in text for name in names)


def test_plain_template_or_native_off_puts_tools_in_prompt_text(tokenizer):
    task, row = _task_and_row()
    messages, tools = first_turn(task, row, tokenizer(TOOL_TEMPLATE.split("{% endif %}", 1)[1]))
    assert tools is None and row["tools"][0]["name"] in messages[0]["content"]
    task_off, row = _task_and_row(native=False)
    messages, tools = first_turn(task_off, row, tokenizer(TOOL_TEMPLATE))
    assert tools is None and row["tools"][0]["name"] in messages[0]["content"]


def test_native_tool_call_blocks_verify():
    task, row = _task_and_row()
    native = "\n".join(f"<tool_call>\n{json.dumps(call)}\n</tool_call>" for call in reversed(row["answers"]))
    assert task.verify(row, native).correct
