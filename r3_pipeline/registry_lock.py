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
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

LOCK_URL_ENV = "R3_REGISTRY_LOCK_URL"  # postgresql://user:password@host:port/db, shared by every client
TIMEOUT_ENV = "R3_REGISTRY_LOCK_TIMEOUT_S"  # how long a change waits for the lock before failing (default 600 s)
DEFAULT_TIMEOUT_S = 600.0
# A fixed 64-bit key for pg_advisory_lock: the same for every client and distinct from other users' keys.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"r3-pipeline registry").digest()[:8], "big", signed=True)
_POLL_S = 0.1

log = logging.getLogger(__name__)


class RegistryLockTimeout(TimeoutError):
    """The registry lock was not free within the timeout: another client holds it (working, or hung)."""


def lock_timeout_s() -> float:
    return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)


@contextmanager
def registry_lock(tracking_uri: str, timeout_s: float | None = None):
    """Hold the registry lock for the store at `tracking_uri` inside the block. Waits at most `timeout_s` (default
    $R3_REGISTRY_LOCK_TIMEOUT_S or 600 s) for another holder, then raises RegistryLockTimeout: a client that hangs
    holding the lock (its process alive, its connection open) must not stall every other client for ever."""
    timeout_s = lock_timeout_s() if timeout_s is None else timeout_s
    if tracking_uri.startswith("sqlite:///"):
        with _file_lock(Path(tracking_uri.removeprefix("sqlite:///")).with_name("registry.lock"), timeout_s):
            yield
    elif os.environ.get(LOCK_URL_ENV):
        with _advisory_lock(os.environ[LOCK_URL_ENV], timeout_s):
            yield
    else:
        raise ValueError(f"registry changes on {tracking_uri} need a lock every client shares: set {LOCK_URL_ENV} "
                         "to a PostgreSQL URL they all reach (see README, 'Shared Dagster and MLflow')")


def _wait_for(try_acquire, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not try_acquire():
        if time.monotonic() >= deadline:
            raise RegistryLockTimeout(f"the registry lock ({what}) was not free after {timeout_s:g} s: another client "
                                      f"holds it and may be hung; raise {TIMEOUT_ENV} if its changes are slow")
        time.sleep(_POLL_S)


@contextmanager
def held(release, what: str):
    """Run the block, then `release()`. When the block failed, a failing release is logged and the block's error
    raised: an unlock error must not hide why the registry change failed (the lock goes with the file handle or
    connection, which the caller closes anyway)."""
    try:
        yield
    except BaseException:
        try:
            release()
        except Exception:
            log.warning("releasing the registry lock (%s) failed after an error in the locked block", what,
                        exc_info=True)
        raise
    release()


@contextmanager
def _file_lock(path: Path, timeout_s: float):
    with open(path, "a") as handle:
        def try_lock() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        _wait_for(try_lock, str(path), timeout_s)
        with held(lambda: fcntl.flock(handle, fcntl.LOCK_UN), str(path)):
            yield


@contextmanager
def _advisory_lock(url: str, timeout_s: float):
    import psycopg  # the `deploy` extra

    conn = psycopg.connect(url, autocommit=True)
    try:
        def try_lock() -> bool:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,))
                return bool(cur.fetchone()[0])

        def unlock() -> None:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))

        _wait_for(try_lock, "PostgreSQL advisory lock", timeout_s)
        with held(unlock, "PostgreSQL advisory lock"):
            yield
    finally:
        try:
            conn.close()  # closing the session releases the lock whatever happened above
        except Exception:
            log.warning("closing the registry lock's connection failed", exc_info=True)
