"""Load and save causal LMs the same way for the embedded default and for real models.

`load_model` takes a local directory or a hub id (on machines that reach a hub); the pipeline never cares
which. Tokenizers are set to left padding for batched generation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


def load_model(source: str | Path, dtype: str = "auto", device: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    source = str(source)
    tokenizer = load_tokenizer(source)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    if device:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_tokenizer(source: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer of a model directory or hub id, set up for batched generation (left padding, a pad token)."""
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def fingerprint(path: str | Path) -> str:
    """Short id of a saved model directory from its files' names, sizes and modification times (cheap for
    multi-GB weights, and a rebuilt model gets a new one)."""
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:10]
