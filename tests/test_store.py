"""Tests for the trajectory store against real Parquet files and DuckDB, including a concurrent writer process.

The store exists so that a running pipeline and a user's SQL session can share episodes without DuckDB file
locks; the concurrency test checks exactly that, and that readers never see a partially written batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]

from r3_pipeline.store import EPISODE_SCHEMA, TrajectoryStore, episode_id
from tests.support import T0, make_episode


def failed(key: str, reason: str, reflection_tokens: int | None, retry_reason: str | None, **kw) -> dict:
    retry = {}
    if reflection_tokens is not None:
        retry = {
            "reflection": "I should check the arithmetic.",
            "reflection_tokens": reflection_tokens,
            "retry": "second answer",
            "retry_tokens": 6,
            "retry_correct": retry_reason == "correct",
            "retry_reason": retry_reason,
        }
    return make_episode(key, first_correct=False, first_reason=reason, **retry, **kw)


@pytest.fixture
def store(tmp_path: Path) -> TrajectoryStore:
    return TrajectoryStore(tmp_path / "store")


@pytest.fixture
def hand_built(store: TrajectoryStore) -> TrajectoryStore:
    mining = [
        make_episode("e1"),
        make_episode("e2"),
        failed("e3", "wrong_answer", 10, "correct", reward=1.0),
        failed("e4", "wrong_answer", 20, "wrong_answer", reward=0.0),
        failed("e5", "format", 40, "correct", reward=1.0),
    ]
    evaluation = [
        failed(k, "format", None, None, stage="evaluation", model_id="ckpt", episode_id=episode_id("eval", k))
        for k in ("v1", "v2")
    ]
    store.write(mining, name="mining-0")
    store.write(evaluation, name="eval-0")
    return store


def by_group(store: TrajectoryStore, view: str, order: str) -> list[dict]:
    columns, rows = store.sql(f"SELECT * FROM {view} ORDER BY {order}")
    return [dict(zip(columns, row)) for row in rows]


def test_round_trip(store: TrajectoryStore) -> None:
    rows = [make_episode("a", step=3), failed("b", "wrong_answer", 7, "correct", reward=0.5)]
    path = store.write(rows)
    assert path is not None and path.parent == store.episodes_dir and path.suffix == ".parquet"
    columns, got = store.sql("SELECT * FROM episodes ORDER BY task_id")
    assert columns == EPISODE_SCHEMA.names
    records = [dict(zip(columns, r)) for r in got]
    for want, have in zip(rows, records):
        for name in EPISODE_SCHEMA.names:
            assert have[name] == want.get(name), name
    assert records[0]["reflection"] is None and records[0]["step"] == 3


def test_retry_success_view(hand_built: TrajectoryStore) -> None:
    evaluation, mining = by_group(hand_built, "retry_success", "stage")
    assert mining == {
        "spec": "s", "stage": "mining", "model_id": "base", "retry_mode": "reflection", "episodes": 5, "first_accuracy": pytest.approx(0.4),
        "failures": 3, "reflections": 3, "retry_successes": 2, "retry_success_rate": pytest.approx(2 / 3),
        "second_accuracy": pytest.approx(0.8),
    }  # fmt: skip
    assert evaluation == {
        "spec": "s", "stage": "evaluation", "model_id": "ckpt", "retry_mode": "reflection", "episodes": 2, "first_accuracy": 0.0,
        "failures": 2, "reflections": 0, "retry_successes": 0, "retry_success_rate": 0.0, "second_accuracy": 0.0,
    }  # fmt: skip


def test_failure_reasons_view(hand_built: TrajectoryStore) -> None:
    rows = by_group(hand_built, "failure_reasons", "stage, first_reason, retry_reason NULLS FIRST")
    got = [(r["stage"], r["model_id"], r["first_reason"], r["retry_reason"], r["failures"], r["retry_successes"])
           for r in rows]  # fmt: skip
    assert got == [
        ("evaluation", "ckpt", "format", None, 2, 0),
        ("mining", "base", "format", "correct", 1, 1),
        ("mining", "base", "wrong_answer", "correct", 1, 1),
        ("mining", "base", "wrong_answer", "wrong_answer", 1, 0),
    ]


def test_reflection_stats_view(hand_built: TrajectoryStore) -> None:
    (row,) = by_group(hand_built, "reflection_stats", "stage")
    assert row == {
        "spec": "s", "stage": "mining", "model_id": "base", "retry_mode": "reflection", "reflections": 3,
        "avg_reflection_tokens": pytest.approx(70 / 3), "median_reflection_tokens": 20.0,
        "avg_reflection_tokens_success": 25.0, "avg_reflection_tokens_failure": 20.0,
        "retry_successes": 2, "retry_success_rate": pytest.approx(2 / 3),
    }  # fmt: skip


def test_reflection_behaviours_view(store: TrajectoryStore) -> None:
    """Shares of each behaviour within a model's reflections, and the retry success after each; episodes
    written before the column (no reflection_behaviour) count as 'unknown'; bare retries are left out."""
    rows = [failed("a", "wrong_value", 9, "correct", reflection_behaviour="search"),
            failed("b", "wrong_value", 9, "wrong_value", reflection_behaviour="search"),
            failed("c", "wrong_value", 9, "wrong_value", reflection_behaviour="guess"),
            failed("d", "wrong_value", 9, "correct"),
            failed("e", "wrong_value", 9, "correct", reflection_behaviour="guess", retry_mode="bare")]
    store.write(rows, name="mixed")
    got = {r["behaviour"]: (r["reflections"], r["share"], r["retry_success_rate"])
           for r in by_group(store, "reflection_behaviours", "behaviour")}
    assert got == {"guess": (1, 0.25, 0.0), "search": (2, 0.5, 0.5), "unknown": (1, 0.25, 1.0)}


def test_rewriting_batch_name_is_idempotent(store: TrajectoryStore) -> None:
    rows = [make_episode(f"k{i}") for i in range(4)]
    first = store.write(rows, name="batch-7")
    second = store.write(rows, name="batch-7")
    assert first == second
    assert store.sql("SELECT count(*) FROM episodes_raw")[1] == [(4,)]
    assert store.count() == 4


def test_duplicate_episode_across_files_latest_wins(store: TrajectoryStore) -> None:
    old = make_episode("d", first_attempt="old", finished_at=T0 + timedelta(seconds=1))
    new = make_episode("d", first_attempt="new", finished_at=T0 + timedelta(seconds=5))
    store.write([new], name="later-run")
    store.write([old], name="zz-earlier-run")  # sorts last by name, so only finished_at can pick `new`
    assert store.sql("SELECT count(*) FROM episodes_raw")[1] == [(2,)]
    assert store.sql("SELECT episode_id, first_attempt FROM episodes")[1] == [(old["episode_id"], "new")]
    assert store.count(task_id="d") == 1


def test_empty_store_views_return_no_rows(store: TrajectoryStore) -> None:
    assert store.write([]) is None
    con = store.connect()
    try:
        for view in ("episodes_raw", "episodes", "retry_success", "failure_reasons", "reflection_stats",
                     "reflection_behaviours"):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view
        # A connection opened before the first write sees later writes at its next query.
        store.write([make_episode("late")])
        assert con.execute("SELECT count(*) FROM episodes").fetchone() == (1,)
    finally:
        con.close()
    assert store.count() == 1


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"drop": "first_correct"}, "first_correct"),
        ({"set": ("task_id", None)}, "task_id"),
        ({"set": ("sample_idx", "zero")}, "sample_idx"),
        ({"set": ("bogus", 1)}, "bogus"),
    ],
)
def test_invalid_rows_raise_naming_column(store: TrajectoryStore, change: dict, column: str) -> None:
    row = make_episode("bad")
    if "drop" in change:
        del row[change["drop"]]
    else:
        key, value = change["set"]
        row[key] = value
    with pytest.raises(ValueError, match=column):
        store.write([make_episode("ok"), row])
    assert store.count() == 0


def test_invalid_names_rejected(store: TrajectoryStore) -> None:
    with pytest.raises(ValueError):
        store.write([make_episode("x")], name="../escape")
    with pytest.raises(ValueError):
        store.write_table("Rejected-Rows", [{"a": 1}])
    with pytest.raises(ValueError):
        store.write_table("episodes", [{"a": 1}])


def test_auxiliary_table_round_trip(store: TrajectoryStore) -> None:
    store.write_table("rejected_rows", [{"task_id": "r1", "reject_reason": "unsolvable", "numbers": [1, 2]}])
    store.write_table("rejected_rows", [{"task_id": "r2", "reject_reason": "duplicate", "extra": {"k": 1}},
                                        {"task_id": "r3", "reject_reason": 7}])  # fmt: skip
    rows = store.sql("SELECT task_id, reject_reason, numbers FROM rejected_rows ORDER BY task_id")[1]
    assert rows == [("r1", "unsolvable", [1, 2]), ("r2", '"duplicate"', None), ("r3", "7", None)]
    assert store.count() == 0  # auxiliary rows are not episodes


def test_export_catalog_is_views_only(hand_built: TrajectoryStore, tmp_path: Path) -> None:
    hand_built.write_table("rejected_rows", [{"task_id": "r1"}])
    catalog = hand_built.export_catalog(tmp_path / "catalog.duckdb")
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        tables = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
        assert set(tables.values()) == {"VIEW"}
        assert {"episodes", "episodes_raw", "retry_success", "rejected_rows"} <= set(tables)
        assert con.execute("SELECT sum(episodes) FROM retry_success").fetchone() == (7,)
    finally:
        con.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    from r3_pipeline.store import TrajectoryStore, episode_id

    root, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = TrajectoryStore(root)
    now = datetime.now(timezone.utc)
    for b in range(batches):
        rows = [dict(episode_id=episode_id(b, i), spec="s", stage="mining", run_id="r", model_id="base",
                     task="countdown", task_id=f"{b}-{i}", sample_idx=i, prompt="p" * 2000,
                     first_attempt="a" * 500, first_correct=False, first_reason="wrong_answer",
                     prompt_tokens=1, first_tokens=1, started_at=now, finished_at=now)
                for i in range(size)]
        store.write(rows, name=f"batch-{b:03d}")
        time.sleep(0.05)
    """
)


def test_concurrent_writer_and_readers(store: TrajectoryStore, tmp_path: Path) -> None:
    batches, size = 20, 500
    catalog = duckdb.connect(str(store.export_catalog(tmp_path / "catalog.duckdb")), read_only=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root), str(batches), str(size)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[int] = []
    try:
        while writer.poll() is None:
            con = store.connect()
            try:
                seen.append(con.execute("SELECT count(*) FROM episodes").fetchone()[0])
                seen.append(con.execute("SELECT sum(failures) FROM retry_success").fetchone()[0] or 0)
            finally:
                con.close()
            seen.append(catalog.execute("SELECT count(*) FROM episodes_raw").fetchone()[0])
        assert writer.wait() == 0, writer.stderr.read()
        final = catalog.execute("SELECT count(*) FROM episodes").fetchone()[0]
    finally:
        catalog.close()
        if writer.poll() is None:
            writer.kill()
    assert final == batches * size == store.count()
    assert [n for n in seen if n % size] == []
    assert len(set(seen)) > 2, "reads did not overlap the writes"
