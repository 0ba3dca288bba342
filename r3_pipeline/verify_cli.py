"""`r3 verify`: the command that scores a JSONL file of task rows offline, with its help text and examples.

The help shows one row per accepted format, each verifying correct (tests/test_verify_file.py checks them and
that the README shows the same rows), so a user can copy a row that works. The scoring itself is
r3_pipeline.verify_file.
"""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_MAX_BAD = 0.05  # as the tasks' max_reject_rate: past it, the file itself is suspect, not only its rows
_XLAM_TOOLS = [{"name": "get_weather", "parameters": {"city": {"type": "str"},
                                                      "units": {"type": "str, optional", "default": "metric"}}}]
_TOOLS = [{"name": "get_weather", "parameters": {"city": {"type": "str"}, "days": {"type": "int", "default": 3}}}]
_CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}
_BFCL_FUNCTION = {"name": "get_weather", "description": "Weather forecast for a city.", "parameters": {
    "type": "dict", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}
_BFCL_QUESTION = [[{"role": "user", "content": "Weather in New York?"}]]
# One row per accepted format, each verifying correct (tests/test_verify_file.py checks them and the README).
VERIFY_EXAMPLES = {
    "countdown": [
        {"task_id": "cd-1", "numbers": [8, 3, 4], "target": 20, "response": "<answer>(8 - 3) * 4</answer>"},
        {"nums": [9, 4, 6], "target": 30.0, "response": "Thinking... <answer>(9 - 4) * 6 = 30</answer>"},
    ],
    "function_calling": [
        {"id": 7, "query": "Weather in Paris?", "tools": json.dumps(_XLAM_TOOLS), "answers": json.dumps([_CALL]),
         "response": f"<tool_call>{json.dumps([_CALL])}</tool_call>"},
        {"query": "Weather in Paris for the next 3 days?", "tools": _TOOLS,
         "answers": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}],
         "response": f"<tool_call>{json.dumps(_CALL)}</tool_call>"},
        {"id": "simple_0", "question": _BFCL_QUESTION, "function": [_BFCL_FUNCTION],
         "ground_truth": [{"get_weather": {"city": ["New York", "NYC"], "days": ["", 1]}}],
         "response": '<tool_call>[{"name": "get_weather", "arguments": {"city": "new york"}}]</tool_call>'},
        {"id": "irrelevance_0", "question": [[{"role": "user", "content": "What is 2 + 2?"}]],
         "function": [_BFCL_FUNCTION], "response": "None of these tools adds numbers: 2 + 2 = 4."},
    ],
}
VERIFY_HELP = """Score a JSONL file of task rows, each with the model's `response` (a string), offline.

A `task_id` is optional: a row without one is labelled by its `id`, else by its line number, and each
output line's `task_id_source` says which ("task_id", "id" or "line").

countdown rows: `numbers` (or TinyZero's `nums`), `target` (an integer; 24.0 is read as 24, 24.5 refused).
An answer "expression = value" must state the target as its value.
{countdown}

function_calling rows (xLAM): `query`, `tools` and `answers`, as JSON text or as lists. A parameter is
optional when its type ends in ", optional" or it has a "default"; leaving out an optional argument whose
gold value is its default is not an error, passing an argument the gold call does not pass still is.
{function_calling}

function_calling rows (BFCL): a BFCL question row (`id`, `question`, `function`) with its `ground_truth` from the
possible_answer file (joined by id); scored by BFCL's AST rules: any acceptable value, "" meaning the
argument may be left out, strings compared as BFCL standardises them, parallel calls in any order. An
irrelevance row (id irrelevance_N, or ground_truth []) is correct when the answer makes no call.
{bfcl}

OUT.jsonl gets one {{"task_id", "task_id_source", "correct", "reason", "line"}} per non-blank input line;
rows that cannot be scored get reason "bad_row:<why>". A table of verdicts by reason and the first bad rows
go to stderr (--json: the same summary as one JSON object on stdout).

Exit status: 0 when the file was scored; 1 when it has no rows, every row is bad, or the share of bad rows
is over --max-bad; 2 when the command cannot run (unknown task, missing file).
"""


def add_verify_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `verify` subcommand to `r3`'s parser."""
    p = subparsers.add_parser("verify", help="score a JSONL of task rows with a `response` field",
                       description=verify_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", help="task name: countdown or function_calling")
    p.add_argument("input", metavar="IN.jsonl", help="one task row with a `response` per line")
    p.add_argument("output", metavar="OUT.jsonl", help="written: one verdict per row")
    p.add_argument("--max-bad", type=_share, default=DEFAULT_MAX_BAD, metavar="SHARE",
                   help=f"largest share of bad rows that still exits 0 (default {DEFAULT_MAX_BAD})")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON object on stdout")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args) -> int:
    from r3_pipeline.tasks import make_task
    from r3_pipeline.verify_file import verify_jsonl

    summary = verify_jsonl(make_task(args.task), args.input, args.output)
    print(f"r3 verify {args.task}: {args.input} -> {args.output}", file=sys.stderr)
    print(summary.table(args.max_bad), file=sys.stderr)
    if args.json:
        print(json.dumps({"task": args.task, "input": args.input, "output": args.output,
                          **summary.as_dict(args.max_bad)}))
    return summary.exit_status(args.max_bad)[0]


def verify_help() -> str:
    from r3_pipeline.tasks.function_calling.bfcl_data import is_bfcl_row

    def shown(rows: list[dict]) -> str:
        return "\n".join(f"  {json.dumps(row)}" for row in rows)

    calls = VERIFY_EXAMPLES["function_calling"]
    return VERIFY_HELP.format(countdown=shown(VERIFY_EXAMPLES["countdown"]),
                              function_calling=shown([r for r in calls if not is_bfcl_row(r)]),
                              bfcl=shown([r for r in calls if is_bfcl_row(r)]))


def _share(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value
