"""Countdown problems loaded from a user's file: every kind of bad row is set aside with its reason and original
text, good rows come out as verifiable task rows, the split is seeded and disjoint, and the run goes on."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r3_pipeline import stages
from r3_pipeline.layout import Layout
from r3_pipeline.spec import parse_spec
from r3_pipeline.store import TrajectoryStore
from r3_pipeline.tasks import make_task
from r3_pipeline.tasks.base import Verdict
from r3_pipeline.tasks.countdown import CountdownConfig, CountdownTask
from r3_pipeline.tasks.countdown.problems import problem_key, task_id_for
from r3_pipeline.tasks.countdown.task import validate_row
from r3_pipeline.tasks.countdown.solver import solve
from r3_pipeline.tasks.countdown.verify import MAX_MAGNITUDE
from r3_pipeline.verify_file import verify_line
from tests.support import MICRO_SPEC

GOOD = [
    {"target": 24, "nums": [3, 3, 8, 8]},
    {"target": 20, "nums": [8, 3, 4]},
    {"target": 28, "numbers": [4, 7]},  # this pipeline's own key
    {"target": 98, "nums": [44, 19, 35], "extra": "ignored"},
    {"target": 1, "nums": [2, 2]},
    {"target": 0, "nums": [9, 9]},
    {"target": 15, "nums": [5, 3], "numbers": [5, 3]},  # both keys, same value: fine
    {"target": -6, "nums": [2, 8]},
    {"target": 12.0, "nums": [3.0, 4]},  # integral floats, as pandas or Parquet store ints: read as ints
]
BAD = [  # (row, expected reject_reason)
    ([1, 2], "not_an_object"),
    ("just text", "not_an_object"),
    ({"nums": [1, 2]}, "missing_field:target"),
    ({"target": None, "nums": [1, 2]}, "missing_field:target"),
    ({"target": 5}, "missing_field:nums"),
    ({"target": 5, "nums": [1, 4], "numbers": [2, 3]}, "conflicting_fields:nums,numbers"),
    ({"target": True, "nums": [1, 2]}, "bool_as_int"),
    ({"target": 3, "nums": [True, 2]}, "bool_as_int"),
    ({"target": "5", "nums": [1, 4]}, "bad_type:target"),
    ({"target": 5.5, "nums": [1, 4]}, "not_integral:target"),
    ({"target": 5, "nums": "1,4"}, "bad_type:nums"),
    ({"target": 5, "numbers": [1, 4.5]}, "not_integral:numbers"),
    ({"target": 5, "nums": [1, "4"]}, "bad_type:nums"),
    ({"target": 5, "nums": []}, "empty_numbers"),
    ({"target": 5, "nums": [1] * 7}, "too_many_numbers"),
    ({"target": 5, "nums": [-1, 6]}, "negative_number"),
    ({"target": MAX_MAGNITUDE, "nums": [1, 2]}, "magnitude"),
    ({"target": 3, "nums": [MAX_MAGNITUDE, 1]}, "magnitude"),
    ({"target": 97, "nums": [1, 1, 1]}, "unsolvable"),
    ({"target": 24, "nums": [8, 3, 8, 3]}, "duplicate_problem"),  # GOOD[0] in another order
    ({"target": 5, "nums": [1, 4], "pad": "x" * 100_001}, "too_large"),
]
TRUNCATED = '{"target": 24, "nums": [3, 8'
NOT_UTF8 = b'{"target": 24, "nums": [3, 8, 1], "note": "caf\xe9"}'


def write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(row).encode() for row in rows] + list(extra_lines)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def expected_reasons():
    return Counter(reason for _, reason in BAD)


def reasons(splits):
    return Counter(row["reject_reason"] for row in splits.rejected)


def assert_good_rows(task, rows, expected):
    assert sorted(problem_key(r["numbers"], r["target"]) for r in rows) == sorted(
        problem_key(g.get("nums", g.get("numbers")), g["target"]) for g in expected)
    for row in rows:
        assert set(row) == {"task_id", "numbers", "target", "solution"}
        assert type(row["target"]) is int and all(type(n) is int for n in row["numbers"])
        assert row["task_id"] == task_id_for(row["numbers"], row["target"])
        assert validate_row(row) is None
        assert task.verify(row, task.reference_response(row)) == Verdict(True, "correct")


LOADER_ONLY = {"unsolvable", "duplicate_problem", "too_large"}  # need the solver, other rows, or the raw text


@pytest.mark.parametrize("row, reason", [(row, reason) for row, reason in BAD if reason not in LOADER_ONLY])
def test_r3_verify_applies_the_loader_row_rules(row, reason):
    """One implementation: `r3 verify` refuses a row for the same reason the loader rejects it."""
    assert validate_row(row) == reason
    line = json.dumps({**row, "response": "<answer>1 + 4</answer>"} if isinstance(row, dict) else row).encode()
    assert verify_line(CountdownTask(), line, 3)["reason"] == f"bad_row:{reason}"


@pytest.mark.parametrize("row", GOOD)
def test_r3_verify_accepts_every_row_the_loader_keeps(row):
    numbers = row.get("nums", row.get("numbers"))
    solution = solve([int(n) for n in numbers], int(row["target"]))
    line = json.dumps({**row, "response": f"<answer>{solution} = {int(row['target'])}</answer>"}).encode()
    assert verify_line(CountdownTask(), line, 1) == {"task_id": "line:1", "task_id_source": "line",
                                                     "correct": True, "reason": "correct"}


@pytest.mark.parametrize("target, reason", [(24.0, None), (24.5, "not_integral:target"),
                                            (float("nan"), "not_integral:target"),
                                            (float("inf"), "not_integral:target"), (1e12, "magnitude"),
                                            ("24", "bad_type:target"), (None, "missing_field:target")])
def test_float_targets(target, reason):
    assert validate_row({"nums": [8, 3], "target": target}) == reason


def test_jsonl_mixed_rows_are_checked_row_by_row(tmp_path):
    extra = [b"", TRUNCATED.encode(), NOT_UTF8, b'{"target": NaN, "nums": [1]}', b'{"target": 1, "target": 2}']
    path = write_jsonl(tmp_path / "mixed.jsonl", GOOD + [row for row, _ in BAD], extra)
    task = make_task("countdown", {"source": str(path), "test_fraction": 0.5})
    splits = task.build_splits()

    first_extra = len(GOOD) + len(BAD) + 2  # extra[0] is a blank line: skipped, but it still counts as a line
    assert reasons(splits) == expected_reasons() + Counter({
        f"invalid_json:line {first_extra}": 1, f"invalid_utf8:line {first_extra + 1}": 1,
        f"invalid_json:line {first_extra + 2}": 1, f"invalid_json:line {first_extra + 3}": 1})
    assert_good_rows(task, splits.train + splits.test, GOOD)
    assert splits.train and splits.test


def test_rejected_rows_keep_position_and_original_text(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD[0], {"target": 5, "nums": []}], [TRUNCATED.encode(), NOT_UTF8])
    rejected = make_task("countdown", {"source": str(path)}).build_splits().rejected
    assert rejected == [
        {"line": 2, "raw_row": '{"target": 5, "nums": []}', "reject_reason": "empty_numbers"},
        {"line": 3, "raw_row": TRUNCATED, "reject_reason": "invalid_json:line 3"},
        {"line": 4, "raw_row": NOT_UTF8.decode("utf-8", "backslashreplace"), "reject_reason": "invalid_utf8:line 4"},
    ]
    assert "caf\\xe9" in rejected[2]["raw_row"]


def test_too_large_row_text_is_clipped(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", [{"target": 5, "nums": [1, 4], "pad": "x" * 100_001}])
    [row] = make_task("countdown", {"source": str(path)}).build_splits().rejected
    assert row["reject_reason"] == "too_large" and len(row["raw_row"]) < 300


def test_parquet_input(tmp_path):
    table = pa.table({
        "target": pa.array([24, 20, None, 5, 97, 7], pa.int64()),
        "nums": pa.array([[3, 3, 8, 8], [8, 3, 4], [1, 2], [1, None], [1, 1, 1], []], pa.list_(pa.int64())),
    })
    path = tmp_path / "countdown.parquet"
    pq.write_table(table, path)
    task = make_task("countdown", {"source": str(path)})
    splits = task.build_splits()
    assert reasons(splits) == Counter(["missing_field:target", "bad_type:nums", "unsolvable", "empty_numbers"])
    assert [r["row"] for r in splits.rejected] == [3, 4, 5, 6]
    assert json.loads(splits.rejected[0]["raw_row"]) == {"target": None, "nums": [1, 2]}
    assert_good_rows(task, splits.train + splits.test, [{"target": 24, "nums": [3, 3, 8, 8]},
                                                        {"target": 20, "nums": [8, 3, 4]}])


def test_json_list_input(tmp_path):
    path = tmp_path / "countdown.json"
    path.write_text(json.dumps([GOOD[0], GOOD[2], 42, {"target": 5, "nums": [1] * 7}]))
    task = make_task("countdown", {"source": str(path)})
    splits = task.build_splits()
    assert [(r["row"], r["reject_reason"]) for r in splits.rejected] == [(3, "not_an_object"), (4, "too_many_numbers")]
    assert_good_rows(task, splits.train + splits.test, [GOOD[0], GOOD[2]])


def many_rows(count):
    return [{"target": t + 20, "nums": [t, 10, 10]} for t in range(count)]  # distinct, solvable by adding


def test_split_is_seeded_disjoint_and_capped(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", many_rows(200))

    def split(**cfg):
        splits = make_task("countdown", {"source": str(path), **cfg}).build_splits()
        return [r["task_id"] for r in splits.train], [r["task_id"] for r in splits.test]

    train, test = split(seed=1, test_fraction=0.3)
    assert len(train) + len(test) == 200 and 30 < len(test) < 90
    assert not set(train) & set(test)
    assert split(seed=1, test_fraction=0.3) == (train, test)
    assert split(seed=2, test_fraction=0.3) != (train, test)
    assert split(seed=1, test_fraction=0.0)[1] == []
    capped_train, capped_test = split(seed=1, test_fraction=0.3, num_train=10, num_test=5)
    assert (capped_train, capped_test) == (train[:10], test[:5])  # a row's side never depends on the caps


def test_reading_stops_once_both_splits_are_full(tmp_path):
    path = write_jsonl(tmp_path / "early.jsonl", many_rows(5), [b"not json"])
    splits = make_task("countdown", {"source": str(path), "num_train": 3, "num_test": 0,
                                     "test_fraction": 0.0}).build_splits()
    assert len(splits.train) == 3 and splits.rejected == []


def test_prepare_tasks_records_rejects_and_checks_the_rate(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", GOOD + [row for row, _ in BAD], [TRUNCATED.encode(), NOT_UTF8])
    config = {"source": str(path), "test_fraction": 0.25, "max_reject_rate": 0.05}
    spec = parse_spec({**MICRO_SPEC, "task": {"name": "countdown", "config": config}})
    layout = Layout(tmp_path / "home")
    counts = stages.prepare_tasks(spec, layout)
    assert counts["train"] + counts["test"] == len(GOOD)
    assert counts["rejected"] == len(BAD) + 2

    stored = dict(TrajectoryStore(layout.store_root).sql(
        "SELECT reason, count(*) FROM rejected_rows WHERE spec = 'micro' GROUP BY 1")[1])
    assert sum(stored.values()) == len(BAD) + 2 and stored["unsolvable"] == 1
    check = stages.rejection_rate(spec, layout)
    assert not check["ok"] and check["max_rate"] == 0.05


def test_generated_is_the_default_and_unchanged():
    default = make_task("countdown", {"num_train": 30, "num_test": 10}).build_splits()
    explicit = make_task("countdown", {"num_train": 30, "num_test": 10, "source": "generated",
                                       "test_fraction": 0.9}).build_splits()
    assert (default.train, default.test, default.rejected) == (explicit.train, explicit.test, [])


def test_generated_rows_pinned():
    # Fingerprints of generated splits taken before loading from files existed: generation must not drift.
    def fingerprint(cfg):
        s = make_task("countdown", cfg).build_splits()
        return hashlib.sha256(json.dumps([s.train, s.test, s.rejected], sort_keys=True).encode()).hexdigest()[:16]

    assert fingerprint({"num_train": 150, "num_test": 40}) == "8c46d2ce3db4b530"
    chain = {"num_train": 60, "num_test": 20, "seed": 7, "target_mode": "chain", "counts": [2, 5]}
    assert fingerprint(chain) == "9836e1b2031d52d7"


@pytest.mark.parametrize("config, field", [
    ({"max_reject_rate": 1.5}, "max_reject_rate"),
    ({"max_reject_rate": -0.1}, "max_reject_rate"),
    ({"max_reject_rate": True}, "max_reject_rate"),
    ({"max_reject_rate": "0.05"}, "max_reject_rate"),
    ({"test_fraction": float("nan")}, "test_fraction"),
    ({"source": ""}, "source"),
    ({"source": 3}, "source"),
    ({"split": ""}, "split"),
])
def test_config_errors_name_the_field(config, field):
    with pytest.raises(ValueError, match=field):
        CountdownConfig(**config)


def test_defaults():
    cfg = CountdownConfig()
    assert (cfg.source, cfg.max_reject_rate, cfg.test_fraction) == ("generated", 0.05, 0.1)


def test_unreadable_sources_raise_naming_source(tmp_path):
    for name in ("missing.jsonl", "missing.parquet", "missing.json"):
        with pytest.raises(ValueError, match="source .*no such file"):
            make_task("countdown", {"source": str(tmp_path / name)}).build_splits()
    (tmp_path / "rows.csv").write_text("target,nums\n24,3 3 8 8\n")
    (tmp_path / "broken.json").write_text('[{"target": 24, "nums": [3, 3, 8, 8]},')
    for name in ("rows.csv", "broken.json"):
        with pytest.raises(ValueError, match="source .*could not be loaded"):
            make_task("countdown", {"source": str(tmp_path / name)}).build_splits()
    # A .json file that is not a JSON array is JSON lines (as BFCL ships its .json files): one object, one row.
    (tmp_path / "object.json").write_text('{"target": 24, "nums": [3, 3, 8, 8]}')
    splits = make_task("countdown", {"source": str(tmp_path / "object.json")}).build_splits()
    assert [sorted(r["numbers"]) for r in splits.train + splits.test] == [[3, 3, 8, 8]]


def test_jsonl_byte_order_mark_is_not_a_bad_row(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD[0]).encode() + b"\r\n")
    splits = make_task("countdown", {"source": str(path)}).build_splits()
    assert len(splits.train + splits.test) == 1 and splits.rejected == []
