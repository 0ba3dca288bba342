"""The shared deployment profile, started for real (`make deploy-check`): a PostgreSQL server (Debian's `postgresql`,
run by its unprivileged `postgres` user on a free local port), Dagster's run and event storage on it
(deploy/dagster-postgres.yaml), an `mlflow server` over HTTP with its backend store in a second database of the
same PostgreSQL and the artifacts served from a local folder, and `r3 run --spec micro` against both, as a user
runs it. The Dagster run must be in PostgreSQL (no SQLite file anywhere), and the registry gate must have
registered the model and given it its alias on the server, read back through MLflow's HTTP client.

Skipped without PostgreSQL or the `deploy` extra, unless R3_REQUIRE_DEPLOY=1 (as `make deploy-check` sets), then
failed.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from r3_pipeline.layout import Layout, read_json
from tests.support import MICRO_SPEC, REPO, free_port, stop_group, wait_http

pytestmark = pytest.mark.deploy
PG_USER, PG_DBS = "r3", ("dagster", "mlflow")


def _require() -> list[str]:
    """initdb's path; skip or fail when something the profile needs is missing."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    missing = [] if initdb else ["PostgreSQL (apt-get install postgresql)"]
    for module in ("psycopg", "dagster_postgres"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{module} (pip install -e '.[deploy]')")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the unprivileged user postgres (Debian's postgresql package creates it)")
    if missing:
        if os.environ.get("R3_REQUIRE_DEPLOY") == "1":
            pytest.fail(f"missing for the deployment check: {missing} (make deploy-check installs them)")
        pytest.skip(f"missing {missing}: run `make deploy-check`")
    return initdb


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres():
    """A fresh PostgreSQL cluster in a temporary folder owned by `postgres`, password auth over TCP on a free port,
    with the databases `dagster` and `mlflow`; stopped and removed afterwards."""
    import psycopg

    bin_dir = Path(_require()[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="r3-pg-"))  # not under pytest's root-only temp folder: postgres must reach it
    password = secrets.token_hex(8)
    (root / "pwfile").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pwfile", "postgres")
    port, data = free_port(), root / "data"
    run = lambda args: subprocess.run(_as_postgres(args), check=True, capture_output=True, text=True, timeout=120)
    try:
        run([str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={root / 'pwfile'}", "-E", "UTF8",
             "--auth-local=trust", "--auth-host=scram-sha-256"])
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log"), "-w", "-t", "60", "-o",
             f"-p {port} -h 127.0.0.1 -k {root}", "start"])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stdout}{exc.stderr}")
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=PG_USER, password=password, dbname="postgres",
                             autocommit=True) as conn, conn.cursor() as cur:
            for db in PG_DBS:
                cur.execute(f"CREATE DATABASE {db}")
        yield {"port": port, "password": password, "root": root,
               "url": lambda db: f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}/{db}"}
    finally:  # immediate: no shutdown checkpoint (5 s here) for a cluster that is removed next
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    """`mlflow server` with its backend store in PostgreSQL's `mlflow` database and artifacts in a local folder it
    serves (clients upload and download through HTTP); the flags of deploy/k8s/mlflow.yaml."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port, log = free_port(), root / "mlflow.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", f"--backend-store-uri={postgres['url']('mlflow')}",
         f"--artifacts-destination={root / 'artifacts'}", "--serve-artifacts", "--host=127.0.0.1", f"--port={port}",
         "--workers=1", f"--allowed-hosts=127.0.0.1:{port},localhost:{port}"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout_s=180, log=log)
        yield {"url": f"http://127.0.0.1:{port}", "artifacts": root / "artifacts", "log": log}
    finally:
        stop_group(proc, grace_s=5)


def _profile_env(postgres, mlflow_server, root: Path) -> dict[str, str]:
    """What a user sets to point the pipeline at the shared profile (README, "Shared Dagster and MLflow")."""
    return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres["port"]), "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": postgres["password"], "DAGSTER_PG_DB": "dagster",
            "R3_MLFLOW_TRACKING_URI": mlflow_server["url"], "R3_REGISTRY_LOCK_URL": postgres["url"]("mlflow"),
            "DAGSTER_HOME": str(root / "dagster"), "R3_HOME": str(root / "home")}


@pytest.fixture(scope="module")
def deployed_run(postgres, mlflow_server, tmp_path_factory):
    """`r3 run --spec micro` in its own process with DAGSTER_HOME holding deploy/dagster-postgres.yaml."""
    root = tmp_path_factory.mktemp("deployed_run")
    (root / "specs").mkdir()
    (root / "specs" / "micro.yaml").write_text(yaml.safe_dump(MICRO_SPEC))
    (root / "dagster").mkdir()
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", root / "dagster" / "dagster.yaml")
    profile = _profile_env(postgres, mlflow_server, root)
    env = {**os.environ, **profile, "R3_SPECS_DIR": str(root / "specs"), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "r3"), "run", "--spec", "micro", "--progress-every", "0"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    print(f"r3 run --spec micro on the shared profile: {time.monotonic() - started:.0f} s")
    return {"root": root, "profile": profile, "stdout": proc.stdout}


def test_dagster_runs_and_event_logs_live_in_postgres(deployed_run, postgres, monkeypatch):
    import psycopg
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

    for key, value in deployed_run["profile"].items():
        monkeypatch.setenv(key, value)
    dagster_home = Path(deployed_run["profile"]["DAGSTER_HOME"])
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        runs = instance.get_runs(RunsFilter(job_name="micro_pipeline"))
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
        registered = instance.get_latest_materialization_event(AssetKey(["micro", "registered_model"]))
        assert registered is not None and registered.run_id == runs[0].run_id
    with psycopg.connect(postgres["url"]("dagster")) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs")
        assert cur.fetchall() == [(runs[0].run_id, "SUCCESS")]
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                    (runs[0].run_id,))
        assert cur.fetchone()[0] == 6  # tasks, base_model, baseline, r3_model, evaluation, registered_model
    assert list(dagster_home.rglob("*.db")) == []  # no SQLite storage beside it


def test_the_registry_gate_registers_on_the_tracking_server(deployed_run, mlflow_server, postgres, tmp_path):
    import mlflow
    import psycopg
    from mlflow import MlflowClient

    home = Path(deployed_run["profile"]["R3_HOME"])
    reg = read_json(Layout(home).spec("micro").registry)
    client = MlflowClient(tracking_uri=mlflow_server["url"], registry_uri=mlflow_server["url"])
    by_alias = client.get_model_version_by_alias("r3-micro-test", reg["alias"])
    assert str(by_alias.version) == str(reg["version"]) and reg["alias"] in ("champion", "challenger")
    assert by_alias.tags["promotion_reason"] == reg["reason"] and by_alias.tags["promotion_alias"] == reg["alias"]
    # The training process logged its steps to the server, and the evaluation its metric.
    run = client.get_run(reg["mlflow_run_id"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "reward")] == [1, 2, 3]
    assert "eval_trained_second_attempt" in run.data.metrics
    # The model's files went through the server into its artifact folder, and come back through it.
    mlflow.set_tracking_uri(mlflow_server["url"])
    local = Path(mlflow.artifacts.download_artifacts(f"models:/r3-micro-test/{reg['version']}", dst_path=str(tmp_path)))
    assert list(local.rglob("config.json")) and list(local.rglob("*.safetensors"))
    assert list(mlflow_server["artifacts"].rglob("*.safetensors"))
    with psycopg.connect(postgres["url"]("mlflow")) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, alias, version FROM registered_model_aliases")
        assert (("r3-micro-test", reg["alias"], int(reg["version"]))) in cur.fetchall()
    assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()
    assert "mlflow: " + mlflow_server["url"] in deployed_run["stdout"]  # the summary names the server


def test_the_registry_lock_is_shared_through_postgres(postgres, mlflow_server, monkeypatch):
    """A registry change on the server waits while another client holds the lock, and goes on when it lets go."""
    import psycopg

    from r3_pipeline.registry_lock import ADVISORY_KEY, LOCK_URL_ENV, registry_lock

    monkeypatch.setenv(LOCK_URL_ENV, postgres["url"]("mlflow"))
    entered = threading.Event()

    def change():
        with registry_lock(mlflow_server["url"]):
            entered.set()

    holder = psycopg.connect(postgres["url"]("mlflow"), autocommit=True)
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
    waiter = threading.Thread(target=change)
    waiter.start()
    try:
        assert not entered.wait(2.0), "entered the registry lock while another client held it"
    finally:
        holder.close()  # a client that dies lets go of the lock with its connection
    assert entered.wait(30), "the registry lock was not taken after the holder let go"
    waiter.join(30)


def test_the_postgres_lock_times_out_on_a_hung_holder_and_keeps_the_blocks_error(postgres, mlflow_server,
                                                                                 monkeypatch):
    """A client that holds the advisory lock and hangs (connection open, nothing happening) makes a waiting change
    fail after the timeout with an error saying so, instead of waiting for ever. And when the locked block fails and
    the unlock fails too (here the lock's connection is killed from the server side), the block's error is raised."""
    import psycopg

    from r3_pipeline.registry_lock import ADVISORY_KEY, LOCK_URL_ENV, TIMEOUT_ENV, RegistryLockTimeout, registry_lock

    monkeypatch.setenv(LOCK_URL_ENV, postgres["url"]("mlflow"))
    holder = psycopg.connect(postgres["url"]("mlflow"), autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        t0 = time.monotonic()
        with pytest.raises(RegistryLockTimeout, match=TIMEOUT_ENV):
            with registry_lock(mlflow_server["url"], timeout_s=1.0):
                pytest.fail("entered the registry lock while a hung client held it")
        assert time.monotonic() - t0 < 15
    finally:
        holder.close()

    with pytest.raises(ValueError, match="the change failed"):
        with registry_lock(mlflow_server["url"], timeout_s=30):
            with holder_killer(postgres) as kill:
                kill()  # the lock's own connection dies: pg_advisory_unlock in the release fails
            raise ValueError("the change failed")
    with registry_lock(mlflow_server["url"], timeout_s=30):  # the dead connection let go of the lock
        pass


@contextmanager
def holder_killer(postgres):
    """A callable that terminates every other session of this cluster holding the registry's advisory lock."""
    import psycopg

    from r3_pipeline.registry_lock import ADVISORY_KEY

    admin = psycopg.connect(postgres["url"]("mlflow"), autocommit=True)
    key = ADVISORY_KEY & 0xFFFFFFFFFFFFFFFF  # pg_locks shows the 64-bit key as two unsigned 32-bit halves

    def kill() -> None:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND "
                        "classid::bigint = %s AND objid::bigint = %s AND pid <> pg_backend_pid()",
                        (key >> 32, key & 0xFFFFFFFF))
            assert cur.fetchall(), "no session held the registry lock"

    try:
        yield kill
    finally:
        admin.close()


def test_racing_registrations_through_the_server_leave_a_consistent_registry(postgres, mlflow_server, tmp_path,
                                                                             tiny_model, monkeypatch):
    """The SQLite race of tests/test_registry_concurrency.py, with every process a client of the tracking server and
    the lock in PostgreSQL."""
    from r3_pipeline.registry_lock import LOCK_URL_ENV
    from tests.registry_race import race

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow sets it; gone again after the test
    monkeypatch.setenv("R3_MLFLOW_TRACKING_URI", mlflow_server["url"])
    monkeypatch.setenv(LOCK_URL_ENV, postgres["url"]("mlflow"))
    race(tmp_path / "home", tiny_model(tmp_path / "m", 1))
    assert not (tmp_path / "home" / "mlflow.db").exists()
