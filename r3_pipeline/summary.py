"""What a pipeline run achieved, for people (a printed table) and for programs (`<R3_HOME>/summary.json`)."""

from __future__ import annotations

from r3_pipeline import tracking
from r3_pipeline.evaluation import comparison_rows, with_vanilla
from r3_pipeline.layout import Layout, read_json, write_json
from r3_pipeline.spec import Spec


def _pct(acc: float, ci) -> str:
    return f"{100 * acc:5.1f}% [{100 * ci[0]:4.1f}, {100 * ci[1]:4.1f}]"


def build_summary(specs: list[Spec], layout: Layout, step_seconds: dict[str, dict[str, float]] | None = None) -> dict:
    out = {"home": str(layout.home), "trajectories": str(layout.store_root),
           "mlflow_tracking_uri": tracking.tracking_uri(layout.home), "specs": {}}
    for spec in specs:
        eval_path, reg_path = layout.spec(spec.name).evaluation_results, layout.spec(spec.name).registry
        if not eval_path.exists():
            continue
        ev = with_vanilla(read_json(eval_path))
        out["specs"][spec.name] = {
            "task": ev["task"], "n_test": ev["n"], "results": ev["results"], "models": ev["models"],
            "gains": ev.get("gains", {}), "reflections": ev.get("reflections", {}),
            "registry": read_json(reg_path) if reg_path.exists() else None,
            "seconds_per_asset": (step_seconds or {}).get(spec.name, {}),
        }
    write_json(layout.summary_path, out)
    return out


def format_summary(summary: dict) -> str:
    lines = []
    for name, s in summary["specs"].items():
        lines.append(f"\n== {name} ({s['task']}, {s['n_test']} held-out tasks; accuracy with 95% Wilson interval)")
        for label, _, acc, ci in comparison_rows(s):
            lines.append(f"{label:<34} {_pct(acc, ci):>24}")
        for attempt, g in s.get("gains", {}).items():
            lines.append(f"gain of trained over vanilla, {attempt} attempt (paired, same tasks): "
                         f"{100 * g['diff']:+.1f} points, 95% CI [{100 * g['ci'][0]:+.1f}, {100 * g['ci'][1]:+.1f}]")
        reg = s.get("registry")
        if reg:
            lines.append(f"registered: {reg['model_uri']} alias={reg['alias']} ({reg['reason']})")
            lines.append(f"mlflow run: {reg['mlflow_run_id']}")
        if s["seconds_per_asset"]:
            lines.append("seconds per asset: " + ", ".join(f"{k} {v:.0f}" for k, v in s["seconds_per_asset"].items()))
    lines.append(f"\ntrajectories: {summary['trajectories']}; mlflow: {summary['mlflow_tracking_uri']}; "
                 f"summary json: {summary['home']}/summary.json")
    return "\n".join(lines)


# `make reproduce` on a fresh clone, install included (docs/r3_results.md, section 0, "make reproduce").
REPRODUCE_MINUTES = 52


def format_next_steps(summary: dict, r3: str = "r3") -> str:
    """What to do after a run, one line each: the two UIs, the report, one SQL query, the real-model demonstration.
    `r3`: the command as the user can type it here (e.g. .venv/bin/r3)."""
    spec = next(iter(summary["specs"]), "NAME")
    uri = summary["mlflow_tracking_uri"]
    steps = [("make ui", "Dagster UI at http://127.0.0.1:3000: assets, runs, checks, schedules, the inbox sensor"),
             (uri if uri.startswith(("http://", "https://")) else "make mlflow-ui",
              f"MLflow UI at {tracking.ui_base()}: runs, metrics, registered models"),
             (f"{r3} report --spec {spec}", "this run as one HTML page: tables, reward curves, reflections"),
             (f"{r3} sql \"SELECT * FROM retry_success\"", "every trajectory is in DuckDB (views: assets/sql)"),
             ("make reproduce", f"R3 on a real model, SmolLM2-135M on Countdown: about {REPRODUCE_MINUTES} min on 2 cores")]
    width = max(len(cmd) for cmd, _ in steps)
    return "\n".join(["", "Next:", *(f"  {cmd:<{width}}  # {what}" for cmd, what in steps)])
