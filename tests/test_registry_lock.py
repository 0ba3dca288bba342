"""The registry lock on the SQLite store (a file lock beside mlflow.db): it excludes another process, a holder that
hangs makes a waiting change fail with a clear error after the timeout instead of waiting for ever, and an error in
the locked block is never hidden by a failure to unlock. The PostgreSQL lock's versions of these are in
tests/test_deploy.py (`make deploy-check`)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from r3_pipeline.registry_lock import TIMEOUT_ENV, RegistryLockTimeout, held, registry_lock
from tests.support import REPO

HOLD_S = 3.0
HOLDER = """
import sys, time
from pathlib import Path
from r3_pipeline.registry_lock import registry_lock
uri, entered, released, hold = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
with registry_lock(uri, timeout_s=60):
    entered.write_text(str(time.time()))
    time.sleep(hold)  # a slow change, or with a long hold a client that hangs holding the lock
    released.write_text(str(time.time()))
"""


def _hold(tmp_path, hold_s: float) -> tuple[subprocess.Popen, str, object]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    entered, released = tmp_path / "entered", tmp_path / "released"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, uri, str(entered), str(released), str(hold_s)], cwd=REPO)
    deadline = time.monotonic() + 120
    while not entered.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)
    return proc, uri, released


def test_the_file_lock_excludes_another_process_and_times_out_on_a_hung_holder(tmp_path):
    proc, uri, released = _hold(tmp_path, HOLD_S)
    try:
        t0 = time.monotonic()
        with pytest.raises(RegistryLockTimeout, match=TIMEOUT_ENV):
            with registry_lock(uri, timeout_s=0.5):
                pytest.fail("entered the registry lock while another process held it")
        assert time.monotonic() - t0 < HOLD_S, "the timeout did not bound the wait"
        with registry_lock(uri, timeout_s=60):
            entered_at = time.time()
            assert released.exists(), "entered the registry lock before the holder let go"
        assert entered_at >= float(released.read_text())
    finally:
        proc.kill()
        proc.wait()


def test_the_timeout_comes_from_the_environment(tmp_path, monkeypatch):
    proc, uri, _ = _hold(tmp_path, 600)  # hangs while holding the lock
    try:
        monkeypatch.setenv(TIMEOUT_ENV, "0.3")
        t0 = time.monotonic()
        with pytest.raises(RegistryLockTimeout, match="may be hung"):
            with registry_lock(uri):
                pass
        assert time.monotonic() - t0 < 30
    finally:
        proc.kill()
        proc.wait()
    with registry_lock(uri, timeout_s=30):  # a holder that dies lets go of the lock with its file handle
        pass


def test_an_unlock_failure_never_hides_the_error_of_the_locked_block(caplog):
    def unlock():
        raise OSError("connection lost while unlocking")

    with caplog.at_level(logging.WARNING, logger="r3_pipeline.registry_lock"):
        with pytest.raises(ValueError, match="the promotion failed"):
            with held(unlock, "test"):
                raise ValueError("the promotion failed")
    assert "releasing the registry lock (test) failed" in caplog.text
    with pytest.raises(OSError, match="connection lost"):  # with no error in the block, the unlock's own is raised
        with held(unlock, "test"):
            pass
