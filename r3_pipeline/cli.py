"""The `r3` command: run the pipeline, verify outputs offline, query trajectories with SQL.

    r3 run [--spec NAME]...        materialize every asset of the spec(s) on a persistent Dagster instance
    r3 verify TASK IN.jsonl OUT.jsonl   score a JSONL of task rows with a `response` field
    r3 sql "SELECT ..."           query the trajectory store (views: episodes, retry_success, ...)
    r3 catalog PATH               write a DuckDB file of views over the store, for the duckdb CLI
    r3 summary                    print the last run's summary
    r3 compare --spec NAME        vanilla vs bare retry vs reflection vs trained, on the same held-out tasks
    r3 registry --spec NAME       list registered versions with aliases, scores and promotion notes
    r3 rollback --spec NAME [--to VERSION]   move `champion` back to the previous champion
    r3 bench NAME|all             benchmarks: hostile, verifiers, store, train-step, rollouts
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from r3_pipeline.layout import Layout, read_json
from r3_pipeline.prompts import ASSETS_DIR

REPO_DAGSTER_YAML = ASSETS_DIR.parent / "dagster.yaml"


def _dagster_home(layout: Layout) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or layout.home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and REPO_DAGSTER_YAML.exists():
        shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_run(args) -> int:
    from r3_pipeline.defs.run import materialize_specs
    from r3_pipeline.spec import load_specs
    from r3_pipeline.summary import build_summary, format_summary

    layout = Layout()
    os.environ["R3_HOME"] = str(layout.home)
    _dagster_home(layout)
    specs = [s for s in load_specs() if not args.spec or s.name in args.spec]
    if args.spec and len(specs) != len(args.spec):
        print(f"unknown spec in {args.spec}; known: {[s.name for s in load_specs()]}", file=sys.stderr)
        return 2
    seconds, failed = materialize_specs(specs)
    print(format_summary(build_summary(specs, layout, seconds)))
    if failed:
        print(f"failed: {', '.join(failed)}; see `make ui` for the logs", file=sys.stderr)
        return 1
    return 0


def cmd_verify(args) -> int:
    from r3_pipeline.tasks import make_task
    from r3_pipeline.verify_file import verify_jsonl

    counts = verify_jsonl(make_task(args.task), args.input, args.output)
    print(f"{counts['rows']} rows: {counts['correct']} correct, {counts['bad_rows']} bad rows -> {args.output}")
    return 0


def cmd_sql(args) -> int:
    import duckdb

    from r3_pipeline.store import TrajectoryStore

    try:
        columns, rows = TrajectoryStore(Layout().store_root).sql(args.query)
    except duckdb.Error as exc:
        print(f"r3 sql: {exc}", file=sys.stderr)
        return 2
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def cmd_catalog(args) -> int:
    from r3_pipeline.store import TrajectoryStore

    print(TrajectoryStore(Layout().store_root).export_catalog(args.path))
    return 0


def cmd_summary(args) -> int:
    from r3_pipeline.summary import format_summary

    path = Layout().summary_path
    if not path.exists():
        print(f"no summary yet at {path}; run `make run` first", file=sys.stderr)
        return 1
    print(format_summary(read_json(path)))
    return 0


def cmd_compare(args) -> int:
    from r3_pipeline.evaluation import comparison_markdown

    path = Layout().spec_dir(args.spec, "evaluation") / "results.json"
    if not path.exists():
        print(f"no evaluation of spec {args.spec!r} yet at {path}; materialize its evaluation asset first",
              file=sys.stderr)
        return 1
    print(comparison_markdown(read_json(path)))
    return 0


BENCHMARKS = {"hostile": "hostile", "verifiers": "verifiers", "store": "store", "train-step": "train_step",
              "rollouts": "rollouts"}


def cmd_bench(args) -> int:
    import importlib
    import inspect

    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        print(f"== r3 bench {name}", flush=True)
        main = importlib.import_module(f"r3_pipeline.bench.{BENCHMARKS[name]}").main
        status |= main(args.extra) if "argv" in inspect.signature(main).parameters else main()
    return status


def main(argv: list[str] | None = None) -> int:
    from r3_pipeline.registry_cli import add_registry_parsers

    parser = argparse.ArgumentParser(prog="r3", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="materialize the pipeline(s) and print the summary")
    p.add_argument("--spec", action="append", help="spec name (repeatable; default: every spec in assets/specs)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("verify", help="score a JSONL of task rows with a `response` field")
    p.add_argument("task", help="task name, e.g. countdown")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("sql", help="run a SQL query over the trajectory store")
    p.add_argument("query")
    p.set_defaults(func=cmd_sql)
    p = sub.add_parser("catalog", help="write a DuckDB catalog file of views over the store")
    p.add_argument("path")
    p.set_defaults(func=cmd_catalog)
    p = sub.add_parser("summary", help="print the last run's summary")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("compare", help="print the comparison table of a spec's last evaluation")
    p.add_argument("--spec", required=True, help="spec name")
    p.set_defaults(func=cmd_compare)
    add_registry_parsers(sub)
    p = sub.add_parser("bench", help="benchmarks that print tables of figures against their peers and targets")
    p.add_argument("name", choices=[*BENCHMARKS, "all"], help="hostile: verifiers on the adversarial corpus; "
                   "verifiers: ours vs sympy vs eval; store: 1M-row ingest and queries; train-step: R3 vs GRPO; "
                   "rollouts: vLLM vs transformers")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="options passed to the benchmark (rollouts: --help)")
    p.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"r3 {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
