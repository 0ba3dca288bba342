"""Training curves of an R3 run (reward, share of groups without a signal, reflection length, KL per step), read
back from MLflow.

The training process logs these metrics every step (`reporting.MetricsCallback`); the r3_model asset shows
them as a plot, so a user sees in the Dagster UI whether the reward moved without opening MLflow.
"""

from __future__ import annotations

from r3_pipeline import tracking
from r3_pipeline.evaluation import png_bytes

CURVES = {"reward": "reward (retry success)", "frac_reward_zero_std": "groups with no reward spread",
          "r3_reflection_tokens": "reflection length (tokens)", "kl": "KL"}


def training_curves(mlflow_run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Per metric, (step, value) sorted by step; a step logged twice (resumed training) keeps its last value."""
    out = {}
    for name in CURVES:
        by_step = {step: value for step, value, _ in tracking.metric_history(mlflow_run_id, name)}
        out[name] = sorted(by_step.items())
    return out


def curves_png(curves: dict[str, list[tuple[int, float]]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [name for name in CURVES if curves.get(name)]
    fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(3.2 * max(len(shown), 1), 2.8), dpi=100, squeeze=False)
    for ax, name in zip(axes[0], shown):
        steps, values = zip(*curves[name])
        ax.plot(steps, values, marker=".", linewidth=1)
        ax.set_title(CURVES[name], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig)
