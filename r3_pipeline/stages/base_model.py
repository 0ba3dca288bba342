"""The `base_model` asset: the vanilla model R3 starts from, and where later stages find it.

Every later stage needs one model to start from and compare against, and a scheduled retraining should improve
on the best model so far rather than start over. So this stage builds the embedded default (warm-started on train
rows), resolves and optionally adapts a pretrained model, or copies the current MLflow champion, and writes what
it made to `base_model/info.json`, which `base_model_info` reads back for the stages after it.
"""

from __future__ import annotations

import time
from pathlib import Path

from r3_pipeline import tracking
from r3_pipeline.layout import Layout, read_json, write_json
from r3_pipeline.spec import Spec
from r3_pipeline.stages.common import load_split, paths, task_for


WARM_STARTED_HERE = "warm-started here"


def build_base_model(spec: Spec, layout: Layout, start_from: str = "spec") -> dict:
    """`spec`: the spec's model (the embedded default is loaded from its shipped weights, or built and
    warm-started here; a pretrained one is resolved, converted from GGUF once, and warm-started with `model.adapt`);
    `champion`: the current MLflow champion of this spec, so a scheduled retraining improves on the best model so far.
    `origin` in the info says which, for the asset's metadata and the MLflow run."""
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
            stats = train_embedded_model(task_for(spec), rows, spec.model.embedded, spec.model.warm_start, weights)
            # The fingerprint tells rebuilt models apart, so their episodes never share ids.
            info = {"model_id": f"{spec.name}:embedded:{fingerprint(weights)}", "path": str(weights),
                    "origin": WARM_STARTED_HERE, **stats}
    else:
        resolved = resolve_model(spec.model.source, spec.model.gguf_file, layout.models_dir)
        info = {"model_id": resolved.model_id, "path": resolved.path, "source": spec.model.source,
                "origin": f"pretrained: {spec.model.source}", **({"gguf": resolved.gguf} if resolved.gguf else {})}
        if spec.model.adapt:
            rows = load_split(spec, layout, "train")[: spec.model.warm_start.num_rows]
            stats = adapt_pretrained(task_for(spec), rows, spec.model.warm_start, resolved.path, weights)
            info = {**info, "model_id": f"{spec.name}:adapted:{fingerprint(weights)}", "path": str(weights),
                    "origin": f"adapted here from {resolved.model_id}", "adapted_from": resolved.model_id, **stats}
    if start_from == "champion" and not champion:
        info["note"] = f"no champion registered for {spec.registered_name}: started from the spec's model"
    info["seconds"] = round(time.monotonic() - t0, 1)
    write_json(out.base_model_info, info)
    return info


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
