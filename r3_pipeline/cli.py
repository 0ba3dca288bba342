"""The `r3` command: run the pipeline, verify outputs offline, query trajectories with SQL.

    r3 run [--spec NAME]... [--verbose]   materialize every asset of the spec(s) on a persistent Dagster instance,
                                  with progress; Dagster's own log goes to <R3_HOME>/logs/ unless --verbose
    r3 verify TASK IN.jsonl OUT.jsonl [--max-bad SHARE] [--json]   score task rows (also BFCL's) with a `response`
    r3 sql "SELECT ..."           query the trajectory store (views: episodes, retry_success, ...)
    r3 catalog PATH               write a DuckDB file of views over the store, for the duckdb CLI
    r3 summary                    print the last run's summary
    r3 compare --spec NAME        vanilla vs bare retry vs reflection vs trained, on the same held-out tasks
    r3 report --spec NAME [--out FILE]   the last run as one self-contained HTML page (tables, plots, reflections)
    r3 warm-start --spec NAME [--out DIR]   warm-start the embedded default from scratch into its shipped folder
                                  (assets/models/NAME), with the manifest base_model checks
    r3 headroom --spec NAME [--model base|trained|PATH] [--tasks N] [--samples K] [--temperature T]
                                  R3's gates on held-out tasks: is the model worth training, and do its sampled
                                  reflections hold better ones than its greedy reflection?
    r3 registry --spec NAME       list registered versions with aliases, scores and promotion notes
    r3 rollback --spec NAME [--to VERSION]   move `champion` back to the previous champion
    r3 bench NAME|all             benchmarks (source checkout): hostile, verifiers, store, train-step, rollouts, tasks
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
    from datetime import datetime

    from r3_pipeline.console import terminal
    from r3_pipeline.defs import default_specs_dir
    from r3_pipeline.defs.run import materialize_specs
    from r3_pipeline.spec import load_specs
    from r3_pipeline.summary import build_summary, format_next_steps, format_summary

    layout = Layout()
    os.environ["R3_HOME"] = str(layout.home)
    _dagster_home(layout)
    known = load_specs(default_specs_dir())
    specs = [s for s in known if s.name in args.spec] if args.spec else [s for s in known if s.in_default_run]
    if args.spec and len(specs) != len(args.spec):
        print(f"unknown spec in {args.spec}; known: {[s.name for s in known]}", file=sys.stderr)
        return 2
    log_path = None
    if not args.verbose:
        log_path = layout.logs_dir / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
        print(f"r3 run: Dagster's log and the training output go to {log_path} (--verbose shows them here)",
              file=sys.stderr, flush=True)
    with terminal(log_path, every_s=args.progress_every) as console:
        seconds, failed = materialize_specs(specs, console=console)
    summary = build_summary(specs, layout, seconds)
    print(format_summary(summary))
    if failed:
        where = f"the log {log_path} or `make ui`" if log_path else "`make ui`"
        print(f"failed: {', '.join(failed)}; see {where} for the logs", file=sys.stderr)
        return 1
    print(format_next_steps(summary, _typed_command()))
    return 0


def _typed_command() -> str:
    """`r3` as the user can type it from here: the path of this executable relative to the current folder when it
    lies below it (.venv/bin/r3 after `make run`), else `r3`."""
    exe = Path(sys.argv[0]).resolve()
    try:
        return str(exe.relative_to(Path.cwd().resolve())) if exe.name == "r3" else "r3"
    except ValueError:
        return "r3"


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

    path = Layout().spec(args.spec).evaluation_results
    if not path.exists():
        print(f"no evaluation of spec {args.spec!r} yet at {path}; materialize its evaluation asset first",
              file=sys.stderr)
        return 1
    print(comparison_markdown(read_json(path)))
    return 0


def cmd_report(args) -> int:
    from r3_pipeline.report import write_report

    path = write_report(Layout(), args.spec, Path(args.out) if args.out else None)
    print(path)
    return 0


def cmd_headroom(args) -> int:
    from r3_pipeline import stages
    from r3_pipeline.headroom import HeadroomConfig, headroom_table, measure_headroom
    from r3_pipeline.layout import write_json
    from r3_pipeline.pass_rates import R3_SAMPLING_DEFAULTS

    layout = Layout()
    spec = _named_spec(args.spec)
    if args.model == "base":
        path = stages.base_model_info(spec, layout)["path"]
    elif args.model == "trained":
        path = stages.trained_model_info(spec, layout)["final_model"]
    else:
        path = args.model
    rows = stages.load_split(spec, layout, "test")[: args.tasks]
    reflection_tokens = {**R3_SAMPLING_DEFAULTS, **spec.training_args()}["max_reflection_tokens"]
    cfg = HeadroomConfig(samples=args.samples, temperature=args.temperature,
                         max_answer_tokens=spec.evaluation.max_new_tokens, max_reflection_tokens=reflection_tokens)
    engine = stages.engine_for(path, spec.evaluation.batch_size, spec.limits, args.engine, spec.evaluation.dtype)
    try:
        result = {"model": str(path), **measure_headroom(stages.task_for(spec), rows, engine, cfg)}
    finally:
        getattr(engine, "close", lambda: None)()
    name = args.model if args.model in ("base", "trained") else "model"
    out = stages.paths(spec, layout).root / "headroom" / f"{name}-T{args.temperature}.json"
    write_json(out, result)
    print(headroom_table(result))
    print(f"written: {out}")
    return 0


BENCHMARKS = {"hostile": "hostile", "verifiers": "verifiers", "store": "store", "train-step": "train_step",
              "rollouts": "rollouts", "tasks": "tasks"}


def _benchmarks_importable() -> bool:
    """Benchmarks and their data live in the source checkout (`benchmarks/`), not in the installed package: make
    them importable from the checkout this package sits in, or from the working directory."""
    import importlib.util

    if importlib.util.find_spec("benchmarks") is not None:
        return True
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "benchmarks" / "__init__.py").is_file():
            sys.path.insert(0, str(root))
            return True
    return False


def cmd_bench(args) -> int:
    import importlib
    import inspect

    if not _benchmarks_importable():
        print("r3 bench: the benchmarks live in the source checkout (benchmarks/); run r3 bench from it",
              file=sys.stderr)
        return 2
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        print(f"== r3 bench {name}", flush=True)
        main = importlib.import_module(f"benchmarks.{BENCHMARKS[name]}").main
        status |= main(args.extra) if "argv" in inspect.signature(main).parameters else main()
    return status


def _named_spec(name: str):
    """The spec called `name` in the specs folder ($R3_SPECS_DIR or assets/specs); ValueError when there is none."""
    from r3_pipeline.defs import default_specs_dir
    from r3_pipeline.spec import load_specs

    spec = {s.name: s for s in load_specs(default_specs_dir())}.get(name)
    if spec is None:
        raise ValueError(f"unknown spec {name!r}")
    return spec


def cmd_warm_start(args) -> int:
    from r3_pipeline.training.shipped_weights import regenerate, shipped_dir

    spec = _named_spec(args.spec)
    out = Path(args.out) if args.out else shipped_dir(spec.model.shipped or f"assets/models/{spec.name}")
    manifest, same = regenerate(spec, out)
    print(f"{out}: {manifest['warm_start'].get('steps')} steps in {manifest['made_on']['seconds']} s on "
          f"{manifest['made_on']['cpu']}, model.safetensors sha256 {manifest['files']['model.safetensors']}")
    if same is not None:
        print("bit for bit the weights shipped there before" if same else "differs from the weights shipped there before")
    return 0


def main(argv: list[str] | None = None) -> int:
    from r3_pipeline.registry_cli import add_registry_parsers
    from r3_pipeline.verify_cli import add_verify_parser

    parser = argparse.ArgumentParser(prog="r3", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="materialize the pipeline(s) and print the summary")
    p.add_argument("--spec", action="append", help="spec name (repeatable; default: every spec with "
                   "in_default_run in assets/specs, or in $R3_SPECS_DIR when set)")
    p.add_argument("--verbose", action="store_true", help="show Dagster's debug stream and the training output "
                   "here instead of writing them to <R3_HOME>/logs/run-*.log")
    p.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                   help="when the output is not a terminal, a progress line per stage at most this often (default 30)")
    p.set_defaults(func=cmd_run)
    add_verify_parser(sub)
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
    p = sub.add_parser("report", help="write a spec's last run as one self-contained HTML file")
    p.add_argument("--spec", required=True, help="spec name")
    p.add_argument("--out", help="output file (default: <R3_HOME>/specs/NAME/report.html)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("headroom", help="R3's gates on held-out tasks, measured before training compute is spent")
    p.add_argument("--spec", required=True, help="spec name (its tasks and base model must be materialized)")
    p.add_argument("--model", default="base", help="base (default), trained, or a model directory")
    p.add_argument("--tasks", type=int, default=1000, help="held-out tasks (default 1000)")
    p.add_argument("--samples", type=int, default=8, help="reflections sampled per failure (default 8)")
    p.add_argument("--temperature", type=float, default=1.0, help="of the sampled reflections (default 1.0)")
    p.add_argument("--engine", default="auto", help="auto (default), vllm or transformers")
    p.set_defaults(func=cmd_headroom)
    add_registry_parsers(sub)
    p = sub.add_parser("warm-start", help="warm-start the embedded default from scratch into its shipped weights folder")
    p.add_argument("--spec", required=True, help="spec name (its model must be the embedded default)")
    p.add_argument("--out", help="folder to write (default: the spec's model.shipped, else assets/models/NAME)")
    p.set_defaults(func=cmd_warm_start)
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
