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


@dataclass
class Difference:
    """Paired difference of two models' success on the same tasks (b minus a), with a 95% normal interval.

    Pairing by task removes the between-task variance that two independent intervals would double count.
    """

    n: int
    diff: float
    ci: tuple[float, float]

    def as_dict(self) -> dict:
        return asdict(self)


def paired_difference(a: list[dict], b: list[dict], attempt: str = "second", z: float = Z95) -> Difference:
    """Difference in `attempt` ("first" or "second") accuracy between records of the same (task_id, sample_idx)."""
    a_by, b_by = {_key(r): _success(r, attempt) for r in a}, {_key(r): _success(r, attempt) for r in b}
    keys = sorted(a_by.keys() & b_by.keys())
    n = len(keys)
    if n == 0:
        return Difference(0, 0.0, (0.0, 0.0))
    d = [b_by[k] - a_by[k] for k in keys]
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(var / n)
    return Difference(n, mean, (mean - half, mean + half))


def _key(r: dict) -> tuple[str, int]:
    return r["task_id"], r["sample_idx"]


def _success(r: dict, attempt: str) -> int:
    return int(bool(r["first_correct"] or (attempt == "second" and r["retry_correct"])))


def reflection_summary(records: list[dict]) -> dict:
    """Length and retry success of the reflections among `records` (the paper saw shorter ones after training)."""
    lengths = sorted(r["reflection_tokens"] for r in records if r.get("reflection") is not None)
    n = len(lengths)
    reflected = [r for r in records if r.get("reflection") is not None]
    successes = sum(bool(r["retry_correct"]) for r in reflected)
    repeats = sum(_same_text(r.get("retry"), r.get("first_attempt")) for r in reflected)
    return {"reflections": n, "mean_tokens": sum(lengths) / n if n else 0.0,
            "median_tokens": lengths[n // 2] if n else 0, "p90_tokens": lengths[min(n - 1, int(0.9 * n))] if n else 0,
            "retry_success": successes / n if n else 0.0, "retry_repeats": repeats / n if n else 0.0}


def _same_text(a: str | None, b: str | None) -> bool:
    """Whether two model outputs are the same text up to whitespace: a retry that repeats the failed attempt
    (the habit a useful reflection breaks; any task, no parsing of model text)."""
    return a is not None and b is not None and a.split() == b.split()


def behaviour_summary(records: list[dict]) -> dict:
    """Per reflection behaviour among `records`: its share of the reflections and the retry success after it
    (what R3 should shift: towards the behaviours whose retries succeed)."""
    reflected = [r for r in records if r.get("reflection") is not None]
    out = {}
    for behaviour in sorted({r.get("reflection_behaviour") or "unknown" for r in reflected}):
        mine = [r for r in reflected if (r.get("reflection_behaviour") or "unknown") == behaviour]
        out[behaviour] = {"reflections": len(mine), "share": len(mine) / len(reflected),
                          "retry_success": sum(bool(r["retry_correct"]) for r in mine) / len(mine)}
    return out


def reflection_examples(before: list[dict], after: list[dict], k: int = 3) -> list[dict]:
    """Up to k tasks where both models reflected: the failed attempt and each model's reflection and verdict."""
    after_by = {_key(r): r for r in after if r.get("reflection") is not None}
    out = []
    for r in before:
        other = after_by.get(_key(r))
        if r.get("reflection") is None or other is None:
            continue
        out.append({"task_id": r["task_id"], "before": {"attempt": r["first_attempt"], "reflection": r["reflection"],
                                                        "retry_correct": r["retry_correct"]},
                    "after": {"attempt": other["first_attempt"], "reflection": other["reflection"],
                              "retry_correct": other["retry_correct"]}})
        if len(out) == k:
            break
    return out


def _fmt(acc: float, ci) -> str:
    return f"{100 * acc:5.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


# One vocabulary everywhere (results, metadata keys, checks, plots, MLflow): the model R3 starts from is
# "vanilla", the model it trains is "trained". Evaluations written before used "base"; `with_vanilla` reads them.
VANILLA, TRAINED, VANILLA_BARE = "vanilla", "trained", "vanilla_bare_retry"
_OLD_KEYS = {"base": VANILLA, "base_bare_retry": VANILLA_BARE}
PLOT_LABELS = {VANILLA: "vanilla", TRAINED: "trained", VANILLA_BARE: 'vanilla,\nbare "try again"'}

COMPARISON = [  # (label, result key, attempt): the paper's question is whether gains come from reflection
    ("vanilla, first attempt", VANILLA, "first"),
    ('vanilla, bare "try again" retry', VANILLA_BARE, "second"),
    ("vanilla, with reflection", VANILLA, "second"),
    ("trained, first attempt", TRAINED, "first"),
    ("trained, with reflection", TRAINED, "second"),
]


def with_vanilla(evaluation: dict) -> dict:
    """An evaluation (results.json) with the model keys of today: "base"/"base_bare_retry" read as "vanilla"/
    "vanilla_bare_retry", so evaluations written by earlier versions still print and report."""
    out = dict(evaluation)
    for section in ("results", "reflections", "behaviours", "models", "seconds", "chunks"):
        if isinstance(out.get(section), dict):
            out[section] = {_OLD_KEYS.get(k, k): v for k, v in out[section].items()}
    return out


def comparison_rows(evaluation: dict) -> list[tuple[str, int, float, tuple[float, float]]]:
    """(label, n, accuracy, 95% interval) for each comparison line present in an evaluation's results."""
    res = with_vanilla(evaluation)["results"]
    return [(label, res[key]["n"], res[key][attempt], tuple(res[key][f"{attempt}_ci"]))
            for label, key, attempt in COMPARISON if key in res]


def _accuracy_lines(evaluation: dict) -> list[str]:
    return ["| on the same held-out tasks | n | accuracy (95% CI) |", "|---|---:|---:|",
            *(f"| {label} | {n} | {_fmt(acc, ci)} |" for label, n, acc, ci in comparison_rows(evaluation))]


def comparison_table(evaluation: dict) -> str:
    """The comparison and the paired gains as a short markdown table (the Dagster catalog shows it inline)."""
    evaluation = with_vanilla(evaluation)
    lines = _accuracy_lines(evaluation)
    for attempt, g in evaluation.get("gains", {}).items():
        lines.append(f"| trained minus vanilla, {attempt} attempt (paired) | {g['n']} | {_signed(g['diff'])} points "
                     f"[{_signed(g['ci'][0])}, {_signed(g['ci'][1])}] |")
    return "\n".join(lines)


def comparison_markdown(evaluation: dict) -> str:
    """The comparison, the paired gains of trained over vanilla, and reflection lengths, as markdown."""
    evaluation = with_vanilla(evaluation)
    lines = _accuracy_lines(evaluation)
    for attempt, g in evaluation.get("gains", {}).items():
        lines.append(f"\nTrained minus vanilla, {attempt} attempt (paired): {_signed(g['diff'])} points, "
                     f"95% CI [{_signed(g['ci'][0])}, {_signed(g['ci'][1])}]")
    for label, r in evaluation.get("reflections", {}).items():
        lines.append(f"\nReflections of {label}: {r['reflections']}, mean {r['mean_tokens']:.1f} tokens "
                     f"(median {r['median_tokens']}, p90 {r['p90_tokens']}), retry success {100 * r['retry_success']:.1f}%"
                     + (f", retry repeats the failed attempt {100 * r['retry_repeats']:.1f}%" if "retry_repeats" in r else ""))
    behaviours = evaluation.get("behaviours", {})
    if behaviours:
        lines += ["\n| reflection behaviour | " + " | ".join(f"{label}: share, retry success" for label in behaviours) + " |",
                  "|---|" + "---:|" * len(behaviours)]
        lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in behaviour_rows(behaviours)]
    return "\n".join(lines)


def behaviour_rows(behaviours: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """Each reflection behaviour with one cell per model ("share%, retry success%", or "-" where the model never
    showed it): the table of `behaviours` (model label -> `behaviour_summary`) for markdown and the HTML report."""
    names = sorted({b for by in behaviours.values() for b in by})
    return [(name, [f"{100 * by[name]['share']:.1f}%, {100 * by[name]['retry_success']:.1f}%" if name in by else "-"
                    for by in behaviours.values()]) for name in names]


def _signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def accuracy_plot_png(results: dict[str, Accuracy], title: str) -> bytes:
    """Bar chart of first/second-attempt accuracy with interval whiskers, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=100)
    names = list(results)
    for j, (label, key) in enumerate([("first attempt", "first"), ("second attempt", "second")]):
        xs = [i + (j - 0.5) * 0.38 for i in range(len(names))]
        vals = [100 * getattr(results[n], key) for n in names]
        cis = [getattr(results[n], f"{key}_ci") for n in names]
        err = [[max(0.0, v - 100 * lo) for v, (lo, _) in zip(vals, cis)],
               [max(0.0, 100 * hi - v) for v, (_, hi) in zip(vals, cis)]]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=3, label=label)
    ax.set_xticks(range(len(names)), [PLOT_LABELS.get(n, n) for n in names], fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def png_bytes(fig) -> bytes:
    """A finished matplotlib figure as PNG bytes (the figure is closed)."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
