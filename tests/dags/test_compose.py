"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the YAML parses, the
services of the official CeleryExecutor stack are there, and the environment agrees with the
image and with what the DAG expects (config path, pools, time zone)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from overlap import sources
from tests.dags.conftest import REPO

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-worker", "airflow-triggerer", "airflow-init"}
POOLS = {"overlap_warehouse", "overlap_files", "overlap_gmail", "overlap_google_calendar",
         "overlap_msgraph"}
# `airflow pools set NAME ${ENV:-DEFAULT} "DESCRIPTION"` (an extract pool) or `... NAME 1 "..."`
_POOL_LINE = re.compile(
    r'airflow pools set (\S+) (?:\$\{(\w+):-(\d+)\}|(\d+)) "([^"]*)"')


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8")))


def test_compose_has_the_celery_stack_and_sandbox_profile() -> None:
    services = _compose()["services"]
    assert set(services) >= AIRFLOW_SERVICES | {"postgres", "redis", "overlap-sandbox"}
    assert services["overlap-sandbox"]["profiles"] == ["sandbox"]
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["build"] == "."
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"), name
        assert "OVERLAP_CONFIG" in env and "OVERLAP_TIMEZONE" in env, name
        mounts = {re.sub(r"\$\{[^}]*\}", "X", v).split(":")[1] for v in svc["volumes"]}
        assert {"/opt/airflow/dags", "/opt/overlap-data", "/opt/overlap-data/config"} <= mounts


def test_config_path_lives_on_a_mounted_volume_and_pools_are_created() -> None:
    services = _compose()["services"]
    env = services["airflow-worker"]["environment"]
    default = re.sub(r"\$\{OVERLAP_CONFIG:-(.*)\}", r"\1", env["OVERLAP_CONFIG"])
    assert default.startswith("/opt/overlap-data/")
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert set(re.findall(r"airflow pools set (\S+)", init)) == POOLS
    assert re.search(r"pools set overlap_warehouse 1\b", init), "the warehouse has one writer"


def test_compose_pools_match_the_source_registry() -> None:
    """docker-compose.yml lists the pools by hand: same names, slot variables, defaults and
    descriptions as overlap/sources.py (fails when either drifts)."""
    init = "\n".join(_compose()["services"]["airflow-init"]["command"])
    found = {}
    for name, env, default, fixed, description in _POOL_LINE.findall(init):
        found[name] = (env or None, int(default or fixed), description)
    expected = {sources.WAREHOUSE_POOL: (None, 1, sources.WAREHOUSE_POOL_DESCRIPTION)}
    for group in sources.GROUPS.values():
        expected[group.pool] = (group.slots_env, group.default_slots, group.description)
    assert found == expected


def test_dockerfile_extends_the_locked_airflow_and_installs_from_the_lockfile() -> None:
    docker = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    assert re.search(rf"ARG AIRFLOW_VERSION={re.escape(airflow)}\n", docker)
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in docker
    assert "uv export --frozen" in docker and "uv.lock" in docker
    assert "dags/ /opt/airflow/dags/" in docker
    for package in ("connectors", "overlap", "reports", "sql"):
        assert f"COPY --chown=airflow:0 {package} ./{package}" in docker
    assert "ENV OVERLAP_CONFIG=/opt/overlap-data/config/overlap.toml" in docker


def test_local_scripts_create_the_same_pools() -> None:
    env = (REPO / "scripts" / "airflow-env.sh").read_text(encoding="utf-8")
    assert "-m overlap.sources pools" in env and "pools import" in env
    assert set(sources.pools()) == POOLS
    dag = (REPO / "dags" / "overlap_weekly.py").read_text(encoding="utf-8")
    assert "os.environ.get(\"OVERLAP_TIMEZONE\", \"UTC\")" in dag
    assert Path(REPO / "scripts" / "airflow-demo.sh").stat().st_mode & 0o111
