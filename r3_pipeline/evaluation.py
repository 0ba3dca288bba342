"""Held-out accuracy with honest statistics: first- and second-attempt accuracy, Wilson 95% intervals, counts.

Second-attempt accuracy follows the paper: success at attempt 1, or at attempt 2 after reflecting.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Accuracy:
    n: int
    first_correct: int
    second_correct: int
    first: float
    first_ci: tuple[float, float]
    second: float
    second_ci: tuple[float, float]

    def as_dict(self) -> dict:
        return asdict(self)


def accuracy(records: list[dict]) -> Accuracy:
    """Accuracy over episode records (store rows): `first_correct`, and `retry_correct` after a failure."""
    n = len(records)
    first = sum(bool(r["first_correct"]) for r in records)
    second = sum(bool(r["first_correct"] or r["retry_correct"]) for r in records)
    return Accuracy(n, first, second, first / n if n else 0.0, wilson_interval(first, n),
                    second / n if n else 0.0, wilson_interval(second, n))


def _fmt(acc: float, ci) -> str:
    return f"{100 * acc:5.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def markdown_table(results: dict[str, Accuracy]) -> str:
    lines = ["| model | n | first attempt (95% CI) | second attempt (95% CI) |", "|---|---:|---:|---:|"]
    for name, a in results.items():
        lines.append(f"| {name} | {a.n} | {_fmt(a.first, a.first_ci)} | {_fmt(a.second, a.second_ci)} |")
    return "\n".join(lines)


def accuracy_plot_png(results: dict[str, Accuracy], title: str) -> bytes:
    """Bar chart of first/second-attempt accuracy with interval whiskers, as PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    names = list(results)
    for j, (label, key) in enumerate([("first attempt", "first"), ("second attempt", "second")]):
        xs = [i + (j - 0.5) * 0.38 for i in range(len(names))]
        vals = [100 * getattr(results[n], key) for n in names]
        cis = [getattr(results[n], f"{key}_ci") for n in names]
        err = [[max(0.0, v - 100 * lo) for v, (lo, _) in zip(vals, cis)],
               [max(0.0, 100 * hi - v) for v, (_, hi) in zip(vals, cis)]]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=3, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
