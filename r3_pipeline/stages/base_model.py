"""The `base_model` asset: the vanilla model R3 starts from, and where later stages find it.

Every later stage needs one model to start from and compare against, and a scheduled retraining should improve
on the best model so far rather than start over. So this stage builds the embedded default (warm-started on train
rows), resolves and optionally adapts a pretrained model, or copies the current MLflow champion, and writes what
it made to `base_model/info.json`, which `base_model_info` reads back for the stages after it.

A model trained here (warm-started or adapted: 8 to 23 minutes for SmolLM2 on 2 cores) is trained once per
recipe. Materialized again with the same recipe (spec's task, model section, the train rows it uses, the source
model) and its weights unchanged since, the asset keeps it: same files, same model id. So `r3 run` after a kill, or
again, goes on with the stored mining chunks and training checkpoints, which are keyed by that id, instead of
training a new base that invalidates them. `rebuild` trains anew regardless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Callable

from r3_pipeline import tracking
from r3_pipeline.layout import Layout, SpecPaths, read_json, write_json
from r3_pipeline.spec import Spec
from r3_pipeline.stages.common import load_split, paths, task_for


WARM_STARTED_HERE = "warm-started here"
log = logging.getLogger(__name__)


def build_base_model(spec: Spec, layout: Layout, start_from: str = "spec", rebuild: bool = False) -> dict:
    """`spec`: the spec's model (the embedded default is loaded from its shipped weights, or built and
    warm-started here; a pretrained one is resolved, converted from GGUF once, and warm-started with `model.adapt`);
    `champion`: the current MLflow champion of this spec, so a scheduled retraining improves on the best model so far.
    `origin` in the info says which, for the asset's metadata and the MLflow run. A model trained here is kept
    when its recipe and files are unchanged (`reused` in the info), unless `rebuild`."""
    from r3_pipeline.models.loading import fingerprint
    from r3_pipeline.models.sources import resolve_model
    from r3_pipeline.training.shipped_weights import load_shipped
    from r3_pipeline.training.warm_start import adapt_pretrained, train_embedded_model

    out = paths(spec, layout)
    weights = out.base_model_weights
    t0 = time.monotonic()
    if start_from not in ("spec", "champion"):
        raise ValueError(f"start_from must be 'spec' or 'champion', got {start_from!r}")
    champion = champion_to_dir(spec, layout, weights) if start_from == "champion" else None
    if champion:
        info = champion
    elif spec.model.source == "embedded":
        if spec.model.shipped:
            stats = load_shipped(spec, weights)
            # Named by content: every copy of the shipped weights is one model, whose stored episodes stay valid.
            info = {"model_id": f"{spec.name}:embedded:{stats['shipped_sha256'][:10]}", "path": str(weights), **stats}
        else:
            rows = load_split(spec, layout, "train")[: spec.model.warm_start.num_rows]

            def warm_started() -> dict:
                stats = train_embedded_model(task_for(spec), rows, spec.model.embedded, spec.model.warm_start, weights)
                # The fingerprint tells rebuilt models apart, so their episodes never share ids.
                return {"model_id": f"{spec.name}:embedded:{fingerprint(weights)}", "path": str(weights),
                        "origin": WARM_STARTED_HERE, **stats}

            info = train_once(out, recipe(spec, rows, "embedded"), warm_started, rebuild)
    else:
        resolved = resolve_model(spec.model.source, spec.model.gguf_file, layout.models_dir)
        gguf = {"gguf": resolved.gguf} if resolved.gguf else {}
        pretrained = {"model_id": resolved.model_id, "path": resolved.path, "source": spec.model.source,
                      "origin": f"pretrained: {spec.model.source}", **gguf}
        info = pretrained
        if spec.model.adapt:
            rows = load_split(spec, layout, "train")[: spec.model.warm_start.num_rows]

            def adapted() -> dict:
                stats = adapt_pretrained(task_for(spec), rows, spec.model.warm_start, resolved.path, weights)
                return {**pretrained, "model_id": f"{spec.name}:adapted:{fingerprint(weights)}", "path": str(weights),
                        "origin": f"adapted here from {resolved.model_id}", "adapted_from": resolved.model_id, **stats}

            info = train_once(out, recipe(spec, rows, resolved.model_id), adapted, rebuild)
    if start_from == "champion" and not champion:
        info["note"] = f"no champion registered for {spec.registered_name}: started from the spec's model"
    info["seconds"] = round(time.monotonic() - t0, 1)
    write_json(out.base_model_info, info)
    return info


def recipe(spec: Spec, rows: list[dict], source: str) -> str:
    """Digest of what a model trained here is made of, besides the code: the spec's task (with its prompt files'
    text) and model sections, the train rows its warm start reads, and the id of the model it starts from (a GGUF
    file's includes its size and mtime)."""
    from dataclasses import asdict

    from r3_pipeline.training.shipped_weights import recipe as task_and_warm_start

    made_of = {"spec": task_and_warm_start(spec), "model": asdict(spec.model), "rows": rows, "source": source}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_once(out: SpecPaths, made_of: str, train: Callable[[], dict], rebuild: bool) -> dict:
    """`train()`'s info, with its recipe and the weights' fingerprint; or, where the stored info names the same
    recipe and the weights still have that fingerprint, the stored info again without training. A kill inside the
    training leaves the previous weights whole (kept), or partly rewritten (their fingerprint changed: trained
    again)."""
    from r3_pipeline.models.loading import fingerprint

    weights = out.base_model_weights
    stored = read_json(out.base_model_info) if out.base_model_info.exists() else {}
    if (not rebuild and stored.get("recipe") == made_of and weights.is_dir()
            and stored.get("weights_fingerprint") == fingerprint(weights)):
        log.info("base_model: kept %s (same recipe, weights unchanged)", stored["model_id"])
        return {**stored, "reused": True}
    info = train()
    return {**info, "recipe": made_of, "weights_fingerprint": fingerprint(weights), "reused": False}


def champion_to_dir(spec: Spec, layout: Layout, weights: Path) -> dict | None:
    """Copy the current MLflow champion into `weights`; None when there is no champion yet."""
    from r3_pipeline.models.loading import save_model

    tracking.configure(layout.home, spec.name)
    champion = tracking.load_champion(spec.registered_name)
    if champion is None:
        return None
    save_model(champion.model, champion.tokenizer, weights)
    return {"model_id": f"{spec.registered_name}/v{champion.version}", "path": str(weights),
            "origin": f"champion {spec.registered_name}/v{champion.version}"}


def base_model_info(spec: Spec, layout: Layout) -> dict:
    return read_json(paths(spec, layout).base_model_info)
