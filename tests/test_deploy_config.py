"""The deployment files and the configuration that points the pipeline at shared services, checked cheaply in the
normal suite: every YAML under deploy/ parses, the shared Dagster profiles differ from the repo's dagster.yaml only
where they must, R3_MLFLOW_TRACKING_URI moves tracking to a server, and registry changes on a server are refused
without a lock every client shares. The services themselves are started in tests/test_deploy.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r3_pipeline import tracking
from r3_pipeline.registry_lock import LOCK_URL_ENV, registry_lock
from tests.support import REPO

DEPLOY = REPO / "deploy"


def test_every_yaml_file_under_deploy_parses():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} >= {"dagster-postgres.yaml", "k8s/dagster.yaml",
                                                                 "k8s/values.yaml", "k8s/mlflow.yaml"}
    for f in files:
        docs = list(yaml.safe_load_all(f.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs), f


@pytest.mark.parametrize("profile", ["dagster-postgres.yaml", "k8s/dagster.yaml"])
def test_shared_profiles_keep_the_repo_instance_settings(profile):
    """Only storage (and, on Kubernetes, how runs start) differ from the dagster.yaml `r3 run` and `make ui` use:
    the `training` pool limit, run monitoring and retries stay the same."""
    repo = yaml.safe_load((REPO / "dagster.yaml").read_text())
    shared = yaml.safe_load((DEPLOY / profile).read_text())
    assert set(shared["storage"]) == {"postgres"}
    assert {k: v for k, v in shared.items() if k not in ("storage", "run_coordinator", "run_launcher")} == repo


def test_the_tracking_uri_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI_ENV, raising=False)
    monkeypatch.delenv(tracking.MLFLOW_UI_ENV, raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert tracking.ui_base() == "http://localhost:5000"
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, "http://mlflow.example:5000")
    assert tracking.tracking_uri(tmp_path) == "http://mlflow.example:5000"
    assert tracking.ui_base() == "http://mlflow.example:5000"  # links point at the server's own UI


def test_registry_changes_on_a_server_need_a_shared_lock(monkeypatch):
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    with pytest.raises(ValueError, match=LOCK_URL_ENV):
        with registry_lock("http://mlflow.example:5000"):
            pass


def test_the_sqlite_store_keeps_its_file_lock(tmp_path, monkeypatch):
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    with registry_lock(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        assert (tmp_path / "registry.lock").exists()


def test_the_deploy_tests_stay_out_of_the_main_test_line():
    """`make test` runs the suite without the deploy tests (tests/conftest.py deselects them unless -m names the
    marker, the one place that leaves them out); `make deploy-check` runs them, and CI runs both."""
    makefile = (REPO / "Makefile").read_text()
    main_line = re.search(r'\$\(BIN\)/pytest -q -m "([^"]+)"', makefile).group(1)
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "-m", main_line, "tests/test_deploy.py", "tests/test_deploy_k8s.py"],
                               cwd=REPO, capture_output=True, text=True)
    assert collected.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, collected.stdout + collected.stderr
    deselected = re.search(r"\((\d+) deselected\)", collected.stdout)
    assert deselected and int(deselected.group(1)) > 0, collected.stdout
    assert "R3_REQUIRE_DEPLOY=1" in makefile and "-m deploy" in makefile
    assert "make deploy-check" in Path(REPO / ".ci" / "run").read_text()
