"""`r3 report --spec NAME`: a spec's last run as one self-contained HTML file, to share without either UI.

It holds the comparison table (vanilla vs trained, first and second attempt, with the bare-retry control), the
paired gains, the training curves (reward and share of zero-variance groups per step), the shift in the
reflections on the same tasks (length, retry success, retries that repeat the failed attempt, behaviours) and
example reflections, with every image inlined as base64. Model text is escaped: it is untrusted input.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from r3_pipeline import evaluation
from r3_pipeline.layout import Layout, read_json, write_bytes

STYLE = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}td.n{text-align:right}
pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;margin:2px 0}img{max-width:100%}
.ok{color:#17692d}.bad{color:#a11}"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def reflection_histogram_png(lengths: dict[str, list[int]], title: str) -> bytes:
    """Overlaid histograms of reflection length (tokens) per model, on shared bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=100)
    values = [v for vs in lengths.values() for v in vs]
    bins = range(0, (max(values) if values else 1) + 2, max(1, ((max(values) if values else 1) + 1) // 20 or 1))
    for label, vs in lengths.items():
        ax.hist(vs, bins=list(bins), alpha=0.55, label=f"{label} (n={len(vs)})")
    ax.set_xlabel("reflection length (tokens)")
    ax.set_ylabel("reflections")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return evaluation.png_bytes(fig)


def _reflection_lengths(ev: dict, layout: Layout, spec: str) -> dict[str, list[int]]:
    """From the evaluation (written since reports exist), else from the trajectory store by model id."""
    if ev.get("reflection_lengths"):
        return ev["reflection_lengths"]
    from r3_pipeline.store import TrajectoryStore

    out = {}
    for label in (evaluation.VANILLA, evaluation.TRAINED):
        rows = TrajectoryStore(layout.store_root).sql(
            "SELECT reflection_tokens FROM episodes WHERE spec = ? AND stage = 'evaluation' AND model_id = ? "
            "AND retry_mode = 'reflection' AND reflection IS NOT NULL", [spec, ev["models"][label]])[1]
        out[label] = [r[0] for r in rows]
    return out


def _training_curves_png(layout: Layout, spec: str) -> bytes | None:
    path = layout.spec(spec).training.curves_png
    return path.read_bytes() if path.exists() else None


def _behaviour_shift(behaviours: dict[str, dict]) -> list[str]:
    """The task's reflection behaviours (share of reflections, retry success after them) per model: where R3 moved
    the reflections."""
    rows = evaluation.behaviour_rows(behaviours)
    if not rows:
        return []
    e = html.escape
    out = ["<h3>Reflection behaviours: share, and retry success after them</h3><table><tr><th>behaviour</th>" +
           "".join(f"<th>{e(label)}</th>" for label in behaviours) + "</tr>"]
    out += [f"<tr><td>{e(name)}</td>" + "".join(f"<td class=n>{c}</td>" for c in cells) + "</tr>"
            for name, cells in rows]
    return [*out, "</table>"]


def build_report(layout: Layout, spec: str) -> str:
    """The report of `spec`'s last evaluation under `layout`, as HTML text."""
    path = layout.spec(spec).evaluation_results
    if not path.exists():
        raise FileNotFoundError(f"no evaluation of spec {spec!r} at {path}; materialize its evaluation asset first")
    ev = evaluation.with_vanilla(read_json(path))
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>R3 report: {e(spec)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>R3 report: {e(spec)}</h1>",
             f"<p>Task <b>{e(ev['task'])}</b>, {ev['n']} held-out tasks. Vanilla model <code>{e(ev['models'].get('vanilla', '?'))}"
             f"</code>, trained model <code>{e(ev['models'].get('trained', '?'))}</code>. Written "
             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}.</p>"]

    parts.append("<h2>Accuracy on the same held-out tasks</h2><table><tr><th></th><th>n</th><th>accuracy</th>"
                 "<th>95% interval</th></tr>")
    for label, n, acc, ci in evaluation.comparison_rows(ev):
        parts.append(f"<tr><td>{e(label)}</td><td class=n>{n}</td><td class=n>{_pct(acc)}</td>"
                     f"<td class=n>[{_pct(ci[0])}, {_pct(ci[1])}]</td></tr>")
    parts.append("</table>")
    accuracy_png = layout.spec(spec).accuracy_png
    if accuracy_png.exists():
        parts.append(_img(accuracy_png.read_bytes(), "accuracy"))

    parts.append("<h2>Paired gains (trained minus vanilla, same tasks)</h2><table><tr><th>attempt</th><th>n</th>"
                 "<th>gain (points)</th><th>95% interval</th></tr>")
    for attempt, g in ev.get("gains", {}).items():
        cls = "ok" if g["ci"][0] > 0 else ("bad" if g["ci"][1] < 0 else "")
        parts.append(f"<tr><td>{e(attempt)}</td><td class=n>{g['n']}</td><td class='n {cls}'>{_points(g['diff'])}</td>"
                     f"<td class=n>[{_points(g['ci'][0])}, {_points(g['ci'][1])}]</td></tr>")
    parts.append("</table>")

    curves = _training_curves_png(layout, spec)
    if curves:
        parts += ["<h2>Training curves</h2>", _img(curves, "training curves")]

    lengths = _reflection_lengths(ev, layout, spec)
    parts.append("<h2>Reflections before and after training</h2>")
    if any(lengths.values()):
        parts.append(_img(reflection_histogram_png(lengths, "reflection length, vanilla vs trained"),
                          "reflection length histogram"))
    parts.append("<table><tr><th>model</th><th>reflections</th><th>mean tokens</th><th>median</th><th>p90</th>"
                 "<th>retry success</th><th>retry repeats the failed attempt</th></tr>")
    for label, r in ev.get("reflections", {}).items():
        repeats = _pct(r["retry_repeats"]) if "retry_repeats" in r else "n/m"
        parts.append(f"<tr><td>{e(label)}</td><td class=n>{r['reflections']}</td><td class=n>{r['mean_tokens']:.1f}</td>"
                     f"<td class=n>{r['median_tokens']}</td><td class=n>{r['p90_tokens']}</td>"
                     f"<td class=n>{_pct(r['retry_success'])}</td><td class=n>{repeats}</td></tr>")
    parts.append("</table>")
    parts += _behaviour_shift(ev.get("behaviours", {}))

    examples = ev.get("reflection_examples", [])
    if examples:
        parts.append("<h2>Example reflections (same failed task, before and after)</h2>")
        for ex in examples:
            parts.append(f"<h3>task {e(str(ex['task_id']))}</h3><table><tr><th></th><th>vanilla</th><th>trained</th></tr>")
            for field in ("attempt", "reflection"):
                parts.append(f"<tr><td>{field}</td><td><pre>{e(str(ex['before'][field]))}</pre></td>"
                             f"<td><pre>{e(str(ex['after'][field]))}</pre></td></tr>")
            verdict = lambda ok: "<span class=ok>correct</span>" if ok else "<span class=bad>wrong</span>"  # noqa: E731
            parts.append(f"<tr><td>retry</td><td>{verdict(ex['before']['retry_correct'])}</td>"
                         f"<td>{verdict(ex['after']['retry_correct'])}</td></tr></table>")

    registry = layout.spec(spec).registry
    if registry.exists():
        reg = read_json(registry)
        parts.append(f"<h2>Registry</h2><p><code>{e(reg['model_uri'])}</code>, alias <b>{e(reg['alias'])}</b>: "
                     f"{e(reg['reason'])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(layout: Layout, spec: str, out: Path | None = None) -> Path:
    out = out or layout.spec(spec).report
    write_bytes(out, build_report(layout, spec).encode("utf-8"))
    return out
