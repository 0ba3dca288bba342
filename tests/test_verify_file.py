"""`r3 verify` re-scores a response file: rows as people have them, an honest summary and exit status, and
help and README examples that really verify. Good, wrong and malformed lines, none of them fatal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from r3_pipeline import cli, verify_cli
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.countdown import CountdownTask
from r3_pipeline.verify_file import FIRST_BAD_ROWS_SHOWN, verify_jsonl

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = {"numbers": [8, 3, 4], "target": 20}
GOOD = "<answer>(8 - 3) * 4</answer>"


def write_lines(path: Path, lines: list[bytes | dict]) -> Path:
    path.write_bytes(b"\n".join(json.dumps(x).encode() if isinstance(x, dict) else x for x in lines) + b"\n")
    return path


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_jsonl_mixed(tmp_path):
    row = {"task_id": "countdown-a", **ROW}
    src = write_lines(tmp_path / "in.jsonl", [
        {**row, "response": GOOD},
        {**row, "task_id": "countdown-b", "response": "<answer>8 + 3 + 4</answer>"},
        b"",  # blank: skipped, not a row
        b"{not json",
        {**row, "task_id": "countdown-c"},
        {**row, "task_id": "countdown-d", "response": 42},
        {"task_id": "countdown-e", "numbers": "8,3,4", "target": 20, "response": "x"},
        b"[1, 2, 3]",
        b'{"task_id": "countdown-f", "response": "\xff"}',
        {**row, "task_id": "countdown-g", "response": "no tags"},
    ])
    out = tmp_path / "sub" / "out.jsonl"

    summary = verify_jsonl(CountdownTask(), src, out)

    got = [(r["task_id"], r["task_id_source"], r["correct"], r["reason"]) for r in results(out)]
    assert got == [
        ("countdown-a", "task_id", True, "correct"),
        ("countdown-b", "task_id", False, "wrong_value"),
        ("line:4", "line", False, "bad_row:not_json"),
        ("countdown-c", "task_id", False, "bad_row:missing_response"),
        ("countdown-d", "task_id", False, "bad_row:response_not_a_string"),
        ("countdown-e", "task_id", False, "bad_row:bad_type:numbers"),
        ("line:8", "line", False, "bad_row:not_an_object"),
        ("line:9", "line", False, "bad_row:not_utf8"),
        ("countdown-g", "task_id", False, "no_answer"),
    ]
    assert [r["line"] for r in results(out)] == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert summary.counts() == {"rows": 9, "correct": 1, "bad_rows": 6}


# -- 1. rows as people have them --------------------------------------------------------------------------------

def test_rows_as_the_readme_describes_them_verify(tmp_path):
    """numbers, target and response, no task_id: scored, and labelled by line number."""
    src = write_lines(tmp_path / "in.jsonl", [{**ROW, "response": GOOD}, {**ROW, "response": "<answer>8</answer>"}])
    summary = verify_jsonl(CountdownTask(), src, tmp_path / "out.jsonl")
    assert [(r["task_id"], r["task_id_source"], r["reason"]) for r in results(tmp_path / "out.jsonl")] == [
        ("line:1", "line", "correct"), ("line:2", "line", "wrong_numbers")]
    assert summary.counts() == {"rows": 2, "correct": 1, "bad_rows": 0}


def test_task_id_falls_back_to_id_then_line(tmp_path):
    src = write_lines(tmp_path / "in.jsonl", [
        {"task_id": "t-1", "id": 9, **ROW, "response": GOOD},
        {"id": 7, **ROW, "response": GOOD},
        {"id": "row-b", **ROW, "response": GOOD},
        {"task_id": None, **ROW, "response": GOOD},
        {"task_id": {"x": 1}, **ROW, "response": GOOD},
        {"task_id": "", **ROW, "response": GOOD},
        {"id": True, **ROW, "response": GOOD},
    ])
    verify_jsonl(CountdownTask(), src, tmp_path / "out.jsonl")
    assert [(r["task_id"], r["task_id_source"], r["reason"]) for r in results(tmp_path / "out.jsonl")] == [
        ("t-1", "task_id", "correct"), ("7", "id", "correct"), ("row-b", "id", "correct"),
        ("line:4", "line", "correct"), ("line:5", "line", "bad_row:bad_type:task_id"),
        ("line:6", "line", "bad_row:bad_type:task_id"), ("line:7", "line", "bad_row:bad_type:id")]


def test_tinyzero_rows_and_integral_floats(tmp_path):
    src = write_lines(tmp_path / "in.jsonl", [
        {"nums": [8, 3, 4], "target": 20, "response": GOOD},
        {"numbers": [8.0, 3, 4], "target": 20.0, "response": GOOD},
        {"nums": [8, 3, 4], "numbers": [8, 3, 4], "target": 20, "response": GOOD},
        {"nums": [8, 3, 4], "target": 20.5, "response": GOOD},
        {"nums": [8, 3.5, 4], "target": 20, "response": GOOD},
        {"nums": [8, 3, 4], "numbers": [8, 3, 5], "target": 20, "response": GOOD},
    ])
    verify_jsonl(CountdownTask(), src, tmp_path / "out.jsonl")
    assert [r["reason"] for r in results(tmp_path / "out.jsonl")] == [
        "correct", "correct", "correct", "bad_row:not_integral:target", "bad_row:not_integral:nums",
        "bad_row:conflicting_fields:nums,numbers"]


def test_function_calling_rows_without_task_id(tmp_path):
    tools = [{"name": "f", "parameters": {"x": {"type": "int"}}}]
    call = {"name": "f", "arguments": {"x": 1}}
    src = write_lines(tmp_path / "in.jsonl", [
        {"id": 12, "query": "q", "tools": tools, "answers": [call], "response": json.dumps([call])},
        {"query": "q", "tools": json.dumps(tools), "answers": json.dumps([call]), "response": "[]"},
        {"query": "q", "tools": tools, "response": "[]"},
    ])
    verify_jsonl(make_task("function_calling"), src, tmp_path / "out.jsonl")
    assert [(r["task_id"], r["reason"]) for r in results(tmp_path / "out.jsonl")] == [
        ("12", "correct"), ("line:2", "wrong_count"), ("line:3", "bad_row:missing_field:answers")]


# -- 2. an honest summary and exit status -----------------------------------------------------------------------

def run_verify(capsys, args: list[str]) -> tuple[int, str, str]:
    status = cli.main(["verify", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_every_row_bad_exits_1_and_says_why(tmp_path, capsys):
    src = write_lines(tmp_path / "in.jsonl", [{"numbers": "8,3,4", "target": 20, "response": GOOD}] * 3)
    status, out, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl"), "--max-bad", "1"])
    assert status == 1 and out == ""
    assert re.search(r"^bad_row:bad_type:numbers\s+3\s+100\.0%$", err, re.M), err
    assert "line 1 (line:1): bad_row:bad_type:numbers" in err
    assert "exit status 1: every row is a bad row" in err


@pytest.mark.parametrize("max_bad, status", [(None, 1), ("0.2", 1), ("0.25", 0), ("1", 0)])
def test_bad_share_over_max_bad_exits_1(tmp_path, capsys, max_bad, status):
    """1 bad row in 4 is a share of 0.25; the default --max-bad is 0.05."""
    rows = [{**ROW, "response": GOOD}, {**ROW, "response": "<answer>8</answer>"}, {**ROW, "response": GOOD},
            {"target": 20, "response": GOOD}]
    src = write_lines(tmp_path / "in.jsonl", rows)
    extra = [] if max_bad is None else ["--max-bad", max_bad]
    got, _, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl"), *extra])
    assert got == status
    assert f"exit status {status}: bad-row share 25.0%" in err


def test_empty_file_exits_1(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n\n")
    status, _, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl")])
    assert status == 1 and "no rows to verify" in err
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_summary_table_groups_reasons_and_json_goes_to_stdout(tmp_path, capsys):
    rows = ([{**ROW, "response": GOOD}] * 3 + [{**ROW, "response": "<answer>8 + 3 + 4</answer>"}] * 2
            + [{**ROW, "response": "no tags"}] + [{"target": 20, "response": GOOD}] * 7 + [b"{oops"])
    src = write_lines(tmp_path / "in.jsonl", rows)
    status, out, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl"), "--json"])
    assert status == 1
    table = [line.split()[0] for line in err.splitlines()[2:7]]
    assert table == ["correct", "wrong_value", "no_answer", "bad_row:missing_field:nums", "bad_row:not_json"]
    shown = re.findall(r"^  line (\d+) ", err, re.M)
    assert shown == ["7", "8", "9", "10", "11"] and len(shown) == FIRST_BAD_ROWS_SHOWN
    summary = json.loads(out)
    assert summary["rows"] == 14 and summary["correct"] == 3 and summary["wrong"] == 3
    assert summary["bad_rows"] == 8 and summary["exit_status"] == 1 and summary["max_bad"] == 0.05
    assert summary["reasons"] == {"correct": 3, "wrong_value": 2, "no_answer": 1,
                                  "bad_row:missing_field:nums": 7, "bad_row:not_json": 1}
    assert summary["first_bad_rows"][0] == {"line": 7, "task_id": "line:7", "reason": "bad_row:missing_field:nums"}


def test_task_ids_in_the_table_are_escaped(tmp_path, capsys):
    src = write_lines(tmp_path / "in.jsonl", [{"task_id": "\x1b[2J\u202e" + "x" * 500, "target": 20,
                                               "response": GOOD}])
    _, _, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl")])
    assert "\x1b" not in err and "\u202e" not in err
    assert "line 1 (\\x1b[2J\\u202e" in err and max(map(len, err.splitlines())) < 200


def test_all_good_exits_0(tmp_path, capsys):
    src = write_lines(tmp_path / "in.jsonl", [{**ROW, "response": GOOD}] * 2)
    status, out, err = run_verify(capsys, ["countdown", str(src), str(tmp_path / "out.jsonl")])
    assert (status, out) == (0, "")
    assert "first bad rows" not in err and "exit status 0" in err


@pytest.mark.parametrize("value", ["-0.1", "1.5", "lots", "nan"])
def test_max_bad_must_be_a_share(tmp_path, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "countdown", "in.jsonl", str(tmp_path / "out.jsonl"), "--max-bad", value])
    assert exit_info.value.code == 2


def test_missing_input_or_unknown_task_exits_2(tmp_path, capsys):
    assert run_verify(capsys, ["countdown", str(tmp_path / "nope.jsonl"), str(tmp_path / "out.jsonl")])[0] == 2
    src = write_lines(tmp_path / "in.jsonl", [{**ROW, "response": GOOD}])
    assert run_verify(capsys, ["chess", str(src), str(tmp_path / "out.jsonl")])[0] == 2


# -- 6. help and README show one example row per accepted format, and each verifies --------------------------

def _example_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith('{"')]


def test_help_examples_verify_correct(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["verify", "--help"])
    shown = _example_lines(capsys.readouterr().out)
    for task, rows in verify_cli.VERIFY_EXAMPLES.items():
        lines = [json.dumps(row) for row in rows]
        assert set(lines) <= set(shown)
        src = tmp_path / f"{task}.jsonl"
        src.write_text("\n".join(lines) + "\n")
        summary = verify_jsonl(make_task(task), src, tmp_path / f"{task}.out.jsonl")
        assert summary.counts() == {"rows": len(rows), "correct": len(rows), "bad_rows": 0}, \
            results(tmp_path / f"{task}.out.jsonl")
    assert {"task_id" in row for row in verify_cli.VERIFY_EXAMPLES["countdown"]} == {True, False}
    assert {"nums" in row for row in verify_cli.VERIFY_EXAMPLES["countdown"]} == {True, False}
    xlam = [row for row in verify_cli.VERIFY_EXAMPLES["function_calling"] if "tools" in row]
    assert {isinstance(row["tools"], str) for row in xlam} == {True, False}


def test_readme_verify_section_shows_the_help_examples():
    readme = README.read_text()
    section = readme[readme.index("**Score any model's outputs offline.**"):]
    section = section[: section.index("\n**", 2)]
    examples = [json.dumps(row) for rows in verify_cli.VERIFY_EXAMPLES.values() for row in rows]
    assert _example_lines(section) == examples
    for words in ("--max-bad", "--json", "task_id_source", "nums", "24.0", "exit status", "default"):
        assert words in section, words
