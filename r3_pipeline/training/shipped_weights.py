"""Warm-started weights that ship with the project, so the quickstart does not recompute a known result.

The embedded default's warm start is bounded in steps with fixed threads, so on one kind of CPU it gives the same
weights every time; on another kind it gives others (floating-point kernels differ: a CPU without AVX-512 made a
model 6 points worse on Countdown). So `make run` loads the weights that the shipped spec's warm start made on the
machine the README's table comes from. They live in assets/models/<spec>/ with a manifest, `shipped.json`:

- `recipe`: what made them: the task (name, config, and the hash of its prompt file's text), the embedded model's
  shape and the warm-start settings. The base_model asset refuses weights whose recipe differs from the spec's (the
  spec changed: warm-start here with `model.shipped: ""`, or regenerate them);
- `files`: the sha256 of every file, checked on every load (and by tests/test_shipped_weights.py);
- `made_on` (CPU, torch, seconds) and `command`, the one command that regenerates them, bit for bit on
  the same kind of CPU: `r3 warm-start --spec <name>`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from dataclasses import asdict
from pathlib import Path

from r3_pipeline.prompts import asset_path

MANIFEST = "shipped.json"


class ShippedWeightsError(ValueError):
    pass


def shipped_dir(path: str) -> Path:
    """A spec's `model.shipped` folder, found as prompt files are (relative to the repository root)."""
    return asset_path(path)


def recipe(spec) -> dict:
    """What determines the warm-started weights, besides the code: the spec's task, model shape and warm start."""
    from r3_pipeline.tasks import make_task

    prompts = make_task(spec.task.name, spec.task.config).prompts
    return json.loads(json.dumps({
        "task": {"name": spec.task.name, "config": spec.task.config,
                 "prompts_sha256": hashlib.sha256(json.dumps(prompts, sort_keys=True).encode()).hexdigest()},
        "embedded": asdict(spec.model.embedded), "warm_start": asdict(spec.model.warm_start)}, sort_keys=True))


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != MANIFEST}


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (which changes float results), for the manifest."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.machine())
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return f"{name} ({'with' if ' avx512f' in flags else 'without'} AVX-512)"


def write_shipped(spec, weights: Path, out: Path, stats: dict) -> dict:
    """Copy the warm-started `weights` into `out` with their manifest (replacing what was there)."""
    import torch

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(weights, tmp)
    manifest = {"spec": spec.name, "recipe": recipe(spec), "files": file_hashes(tmp),
                "made_on": {"cpu": cpu_name(), "torch": torch.__version__,
                            "seconds": stats.get("seconds")},
                "warm_start": {k: v for k, v in stats.items() if isinstance(v, (int, float, str))},
                "command": f"r3 warm-start --spec {spec.name}"}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return manifest


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise ShippedWeightsError(f"model.shipped {folder}: no {MANIFEST} there (make the folder with "
                                  "`r3 warm-start --spec NAME`)")
    return json.loads(path.read_text())


def check_shipped(spec, folder: Path) -> dict:
    """The manifest of `folder` once its files match their hashes and its recipe is the spec's; else a clear error."""
    manifest = read_manifest(folder)
    changed = _differing(recipe(spec), manifest["recipe"])
    if changed:
        raise ShippedWeightsError(
            f"spec {spec.name}: the shipped weights in {folder} were made from another {', '.join(changed)} than the "
            f"spec's. Warm-start here with model.shipped: '' or regenerate them with `r3 warm-start --spec {spec.name}`")
    bad = _differing(file_hashes(folder), manifest["files"])
    if bad:
        raise ShippedWeightsError(f"spec {spec.name}: shipped weights in {folder} differ from their manifest's hashes "
                                  f"({', '.join(bad)}): reinstall, or regenerate with `r3 warm-start --spec {spec.name}`")
    return manifest


def _differing(a: dict, b: dict) -> list[str]:
    """The keys whose values differ between `a` and `b` (present in one only included), sorted."""
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def load_shipped(spec, dest: Path) -> dict:
    """Copy the spec's checked shipped weights to `dest`; what base_model's info records about where they came from."""
    folder = shipped_dir(spec.model.shipped)
    manifest = check_shipped(spec, folder)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(MANIFEST))
    return {"origin": f"shipped: {spec.model.shipped}", "made_on": manifest["made_on"]["cpu"],
            "shipped_sha256": manifest["files"].get("model.safetensors", ""),
            "regenerate": manifest["command"], **manifest["warm_start"]}


def regenerate(spec, out: Path) -> tuple[dict, bool | None]:
    """Warm-start the spec's embedded model from scratch, as base_model does without shipped weights, and write it to
    `out` with its manifest. Also: whether the files equal those shipped there before (None when there were none)."""
    import tempfile

    from r3_pipeline.tasks import make_task
    from r3_pipeline.training.warm_start import train_embedded_model

    if spec.model.source != "embedded":
        raise ShippedWeightsError(f"spec {spec.name}: r3 warm-start makes the embedded default's weights; this spec's "
                                  f"model is {spec.model.source!r}")
    before = read_manifest(out)["files"] if (out / MANIFEST).is_file() else None
    task = make_task(spec.task.name, spec.task.config)
    rows = task.build_splits().train[: spec.model.warm_start.num_rows]  # the train split the tasks asset writes
    with tempfile.TemporaryDirectory() as tmp:
        stats = train_embedded_model(task, rows, spec.model.embedded, spec.model.warm_start, Path(tmp) / "model")
        manifest = write_shipped(spec, Path(tmp) / "model", out, stats)
    return manifest, None if before is None else before == manifest["files"]
