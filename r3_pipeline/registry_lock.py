"""The lock around the registry's read-modify-writes (register, promote, rollback), for whichever MLflow store is used.

A SQLite store lives on one machine: an flock on a file beside `mlflow.db` serializes every process there. A
tracking server is shared by processes on many machines, which share no file: they serialize on a PostgreSQL
advisory lock instead, in the database named by $R3_REGISTRY_LOCK_URL (any PostgreSQL every client reaches;
the deployment profile uses the one behind the tracking server). The lock is tied to the connection, so a
client that dies mid-promotion releases it. Any other store without that variable is refused rather than left
unguarded. Kept apart from tracking/, which is MLflow's, so it needs no MLflow: it is given the URI.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

LOCK_URL_ENV = "R3_REGISTRY_LOCK_URL"  # postgresql://user:password@host:port/db, shared by every client
# A fixed 64-bit key for pg_advisory_lock: the same for every client and distinct from other users' keys.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"r3-pipeline registry").digest()[:8], "big", signed=True)


@contextmanager
def registry_lock(tracking_uri: str):
    """Hold the registry lock for the store at `tracking_uri` inside the block."""
    if tracking_uri.startswith("sqlite:///"):
        with _file_lock(Path(tracking_uri.removeprefix("sqlite:///")).with_name("registry.lock")):
            yield
    elif os.environ.get(LOCK_URL_ENV):
        with _advisory_lock(os.environ[LOCK_URL_ENV]):
            yield
    else:
        raise ValueError(f"registry changes on {tracking_uri} need a lock every client shares: set {LOCK_URL_ENV} "
                         "to a PostgreSQL URL they all reach (see README, 'Shared Dagster and MLflow')")


@contextmanager
def _file_lock(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str):
    import psycopg  # the `deploy` extra

    conn = psycopg.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        try:
            yield
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
    finally:
        conn.close()
