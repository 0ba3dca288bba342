"""Lock-free trajectory store: episodes as immutable Parquet files, queried through in-memory DuckDB views.

DuckDB 2.x lets only one process hold a database file read-write, and that process blocks every reader (and a
reader blocks the writer). A running pipeline and a user's SQL session therefore must not share a DuckDB file.
Instead every write is a new Parquet file, written under a temporary name in the same directory and
`os.replace`d into place, so a reader never sees a partial file. Queries run in an in-memory DuckDB connection
whose views glob the Parquet files; a reader sees new files at its next query.

Layout under `root`:
    episodes/<batch>.parquet     one file per `write()`; rewriting a batch name replaces that file
    episodes/_schema.parquet     zero rows, the episode schema: keeps the glob non-empty before the first write
    <name>/<uuid>.parquet        auxiliary tables from `write_table()`, e.g. rejected_rows; those in
                                 schema.DECLARED_TABLES are views with no rows before their first write
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from r3_pipeline.prompts import ASSETS_DIR
from r3_pipeline.store.schema import DECLARED_TABLES, EPISODE_SCHEMA, REQUIRED_COLUMNS

DEFAULT_VIEWS_DIR = ASSETS_DIR / "sql"

_BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]*")
_TABLE_NAME = re.compile(r"[a-z_]+")
_RESERVED = frozenset({"episodes", "episodes_raw"})
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)
_KNOWN = frozenset(EPISODE_SCHEMA.names)
_EPISODE_STRUCT = pa.struct(list(EPISODE_SCHEMA))


class TrajectoryStore:
    """Episodes (and auxiliary tables) under `root`; SQL views from `views_dir` (default: repo assets/sql)."""

    def __init__(self, root: Path | str, views_dir: Path | str | None = None) -> None:
        self.root = Path(root).resolve()
        self.episodes_dir = self.root / "episodes"
        self.views_dir = Path(views_dir).resolve() if views_dir is not None else DEFAULT_VIEWS_DIR
        if views_dir is not None and not self.views_dir.is_dir():
            raise FileNotFoundError(f"views directory not found: {self.views_dir}")

    # ---- writing -------------------------------------------------------------------------------------------

    def write(self, rows: list[dict[str, Any]], name: str | None = None) -> Path | None:
        """Validate `rows` and write them as one Parquet file; the same `name` replaces the earlier file."""
        if not rows:
            return None
        table = episodes_table(rows)
        self._ensure_layout()
        path = self.episodes_dir / f"{_check_batch_name(name) if name else uuid.uuid4().hex}.parquet"
        _atomic_write(table, path)
        return path

    def write_table(self, name: str, rows: list[dict[str, Any]], batch: str | None = None) -> Path | None:
        """Append `rows` (any values; schema inferred) to auxiliary table `name`, exposed as view `name`; the same
        `batch` name replaces the earlier file (so a rerun writes its rows once)."""
        if not _TABLE_NAME.fullmatch(name) or name in _RESERVED:
            raise ValueError(f"invalid auxiliary table name {name!r}: must match ^[a-z_]+$ and not be reserved")
        if not rows:
            return None
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_check_batch_name(batch) if batch else uuid.uuid4().hex}.parquet"
        _atomic_write(_inferred_table(rows), path)
        return path

    # ---- reading -------------------------------------------------------------------------------------------

    def read_batch(self, name: str) -> list[dict[str, Any]] | None:
        """The rows of episode batch `name` as written, or None when no such batch is stored."""
        path = self.episodes_dir / f"{_check_batch_name(name)}.parquet"
        return pq.read_table(path).to_pylist() if path.exists() else None

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with `episodes_raw`, `episodes`, auxiliary and SQL-file views."""
        self._ensure_layout()
        con = duckdb.connect(":memory:")
        self._define_views(con)
        return con

    def sql(self, query: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run one query on a fresh connection; returns (column names, rows)."""
        con = self.connect()
        try:
            cursor = con.execute(query, params or [])
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()
        finally:
            con.close()

    def count(self, **filters: Any) -> int:
        """Number of deduplicated episodes whose columns equal `filters` (None matches NULL)."""
        unknown = set(filters) - set(EPISODE_SCHEMA.names)
        if unknown:
            raise ValueError(f"unknown episode column(s): {sorted(unknown)}")
        clauses, params = [], []
        for column, value in filters.items():
            if value is None:
                clauses.append(f'"{column}" IS NULL')
            else:
                clauses.append(f'"{column}" = ?')
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self.sql(f"SELECT count(*) FROM episodes{where}", params)[1][0][0]

    def export_catalog(self, path: Path | str) -> Path:
        """Write a DuckDB file holding only the views (over absolute Parquet globs), for the duckdb CLI.

        The catalog holds no data and the pipeline never opens it, so a user holding it open blocks nothing.
        Auxiliary tables created after the export need a fresh export to appear as views.
        """
        path = Path(path).resolve()
        self._ensure_layout()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            con = duckdb.connect(str(tmp))
            try:
                self._define_views(con)
            finally:
                con.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        return path

    # ---- internals -----------------------------------------------------------------------------------------

    def _ensure_layout(self) -> None:
        # A glob matching no file is an error in DuckDB; the empty schema file keeps the views valid (0 rows)
        # from the start, and a connection opened before the first write still sees later files.
        schema_file = self.episodes_dir / "_schema.parquet"
        if not schema_file.exists():
            self.episodes_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(EPISODE_SCHEMA.empty_table(), schema_file)

    def _define_views(self, con: duckdb.DuckDBPyConnection) -> None:
        episodes_glob = _sql_literal(f"{self.episodes_dir}/*.parquet")
        con.execute(
            f"CREATE OR REPLACE VIEW episodes_raw AS "
            f"SELECT * FROM read_parquet({episodes_glob}, union_by_name = true)"
        )
        # filename breaks ties between copies of an episode with the same finished_at deterministically.
        con.execute(
            f"CREATE OR REPLACE VIEW episodes AS "
            f"SELECT * EXCLUDE (filename) FROM read_parquet({episodes_glob}, union_by_name = true, filename = true) "
            f"QUALIFY row_number() OVER (PARTITION BY episode_id ORDER BY finished_at DESC, filename DESC) = 1"
        )
        present = self._auxiliary_dirs()
        for name, directory in present:
            glob = _sql_literal(f"{directory}/*.parquet")
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({glob}, union_by_name = true)")
        for name, columns in DECLARED_TABLES.items():  # empty until written, so the SQL files can use them
            if name not in dict(present):
                typed = ", ".join(f"CAST(NULL AS {kind}) AS {column}" for column, kind in columns.items())
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {typed} WHERE false")
        for sql_file in self._view_files():
            con.execute(sql_file.read_text(encoding="utf-8"))

    def _auxiliary_dirs(self) -> list[tuple[str, Path]]:
        # Only directories that already hold a finished file: a bare directory would make the glob fail.
        return [
            (d.name, d)
            for d in sorted(self.root.iterdir())
            if d.is_dir() and _TABLE_NAME.fullmatch(d.name) and d.name not in _RESERVED and any(d.glob("*.parquet"))
        ]

    def _view_files(self) -> list[Path]:
        return sorted(self.views_dir.glob("*.sql")) if self.views_dir.is_dir() else []


def episodes_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a Table with EPISODE_SCHEMA; ValueError naming the column on a missing, unknown or bad value.

    Fast path: the key sets are checked once per distinct key order, and all columns are converted in one
    pass of pyarrow's converter (rows as a struct array). Any problem sends the rows down the reference
    path, one check per row and one conversion per column, which raises the error naming the row or column.
    """
    _check_columns(rows)
    table = _fast_table(rows)
    if table is not None:
        return table
    return pa.Table.from_arrays([_episode_column(rows, field) for field in EPISODE_SCHEMA], schema=EPISODE_SCHEMA)


def _check_columns(rows: list[dict[str, Any]]) -> None:
    try:
        key_orders = dict.fromkeys(map(tuple, map(dict.keys, rows)))
    except TypeError:  # a row that is not a dict: let the per-row checks below decide
        key_orders = None
    if key_orders is not None and all(_KNOWN.issuperset(keys) and REQUIRED_COLUMNS.issubset(keys)
                                      for keys in key_orders):
        return
    for i, row in enumerate(rows):
        _check_row(i, row)


def _check_row(i: int, row: dict[str, Any]) -> None:
    keys = row.keys()
    missing = REQUIRED_COLUMNS - keys
    if missing:
        raise ValueError(f"row {i}: missing required column(s) {', '.join(sorted(missing))}")
    unknown = keys - _KNOWN
    if unknown:
        raise ValueError(f"row {i}: unknown column(s) {', '.join(sorted(unknown))}")


def _fast_table(rows: list[dict[str, Any]]) -> pa.Table | None:
    """The episode table converted in one pass, or None on any bad value (a failed conversion or a null in a
    required column), which the per-column path then reports."""
    try:
        table = pa.Table.from_struct_array(pa.array(rows, type=_EPISODE_STRUCT))
    except Exception:  # noqa: BLE001 - whatever failed, the reference path raises it as it always has
        return None
    if any(table.column(name).null_count for name in REQUIRED_COLUMNS):
        return None
    return pa.Table.from_arrays(table.columns, schema=EPISODE_SCHEMA)


def _episode_column(rows: list[dict[str, Any]], field: pa.Field) -> pa.Array:
    try:
        array = pa.array([row.get(field.name) for row in rows], type=field.type)
    except _ARROW_ERRORS as exc:
        raise ValueError(f"column {field.name}: {exc}") from exc
    # pyarrow does not enforce nullable=False when building arrays, so check it here.
    if not field.nullable and array.null_count:
        raise ValueError(f"column {field.name}: required but {array.null_count} value(s) are null")
    return array


def _inferred_table(rows: list[dict[str, Any]]) -> pa.Table:
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: _inferred_column([row.get(name) for row in rows]) for name in names})


def _inferred_column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except _ARROW_ERRORS:
        # Mixed or exotic types: keep every value, as JSON text.
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values], type=pa.string())


def _atomic_write(table: pa.Table, path: Path) -> None:
    # The temporary name does not match *.parquet, and os.replace within one directory is atomic.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_batch_name(name: str) -> str:
    if not _BATCH_NAME.fullmatch(name):
        raise ValueError(f"invalid batch name {name!r}: use letters, digits, '_', '.', '=', '-'")
    return name


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
