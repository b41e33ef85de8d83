"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the YAML parses, the
services of the official CeleryExecutor stack are there, and the environment agrees with the
image and with what the DAG expects (config path, pools, time zone)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
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
    assert "-m overlap.sources_cli pools" in env and "pools import" in env
    assert set(sources.pools()) == POOLS
    dag = (REPO / "dags" / "overlap_weekly.py").read_text(encoding="utf-8")
    assert "os.environ.get(\"OVERLAP_TIMEZONE\", \"UTC\")" in dag
    assert Path(REPO / "scripts" / "airflow-demo.sh").stat().st_mode & 0o111


AIRFLOW_COMMON = AIRFLOW_SERVICES  # every service built from the Dockerfile
DATA = "/opt/overlap-data"


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def _root_run_steps(docker: str) -> list[str]:
    """The RUN steps between `USER root` and the next USER line (continuations joined)."""
    joined = docker.replace("\\\n", " ")
    block = joined.split("USER root\n", 1)[1].split("\nUSER ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("RUN ")]


def test_the_data_volume_is_created_writable_for_the_airflow_user() -> None:
    # Issue 20 item 1: a new named volume copies the image's directory (owner and mode); every
    # service runs as ${AIRFLOW_UID:-50000}:0, so the directory must be 50000:0, group-writable.
    docker = _dockerfile()
    steps = " ".join(_root_run_steps(docker))
    assert re.search(rf"mkdir -p [^&]*{DATA}\b", steps)
    assert re.search(rf"chown -R 50000:0 [^&]*{DATA}\b", steps)
    mode = re.search(rf"chmod -R (\d+) [^&]*{DATA}\b", steps)
    assert mode and int(mode.group(1)[-2], 8) & 0o2, "the group (0) must be able to write"
    for service, svc in _compose()["services"].items():
        if service in AIRFLOW_COMMON or service == "overlap-sandbox":
            assert svc["user"] == "${AIRFLOW_UID:-50000}:0", service
    # every path deploy/config/README.md suggests lies in a directory the image creates
    created = set(re.findall(rf"{DATA}/(\w+)", steps))
    readme = (REPO / "deploy" / "config" / "README.md").read_text(encoding="utf-8")
    suggested = set(re.findall(rf"{DATA}/(\w+)", readme))
    assert suggested and suggested <= created, suggested - created


def test_login_fernet_and_jwt_come_from_required_secrets() -> None:
    # Issue 20 items 2 and 3: no default, no empty value; compose refuses to start without them.
    services = _compose()["services"]
    for name in AIRFLOW_COMMON:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?"), name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?"), name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager"), name
        passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        assert "AIRFLOW_ADMIN_PASSWORD" not in env or name == "airflow-init", name
    init = services["airflow-init"]
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    script = init["command"][1]
    assert 'os.environ["AIRFLOW_ADMIN_PASSWORD"]' in script and "PASSWORDS_FILE" in script
    # airflow-init writes the passwords file where the api-server reads it: one volume
    auth_dir = str(Path(passwords).parent)
    for name in ("airflow-init", "airflow-apiserver"):
        assert f"airflow-auth:{auth_dir}" in services[name]["volumes"], name
    assert "airflow-auth" in _compose()["volumes"]
    steps = " ".join(_root_run_steps(_dockerfile()))
    assert re.search(rf"chown -R 50000:0 [^&]*{auth_dir}\b", steps)


def test_the_header_does_not_call_simple_auth_production() -> None:
    header = (REPO / "docker-compose.yml").read_text(encoding="utf-8").split("\nx-airflow")[0]
    assert "in production" not in header.replace("not for production", "")
    assert "FAB" in header
    docs = (REPO / "docs" / "airflow.md").read_text(encoding="utf-8")
    section = docs.split("## Docker compose", 1)[1].split("\n## ", 1)[0]
    for needed in ("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
                   "make compose-check", "scripts/build-base-image.sh", "FAB"):
        assert needed in section, needed


def test_env_is_ignored_and_the_migration_is_a_real_step() -> None:
    # Issue 20 item 4: .env holds the secrets; _AIRFLOW_DB_MIGRATE is read by the image's
    # entrypoint only, which airflow-init replaces with bash: the migration is its own command.
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored or "/.env" in ignored
    init = _compose()["services"]["airflow-init"]
    assert init["entrypoint"] == "/bin/bash"
    script = init["command"][1]
    commands = [line for line in script.splitlines() if line.startswith("airflow ")]
    assert commands[0] == "airflow db migrate"
    assert "_AIRFLOW_DB_MIGRATE" not in init["environment"]
    assert "user" not in init or init["user"].startswith("${AIRFLOW_UID")


def test_overlap_is_installed_against_the_image_constraints() -> None:
    # Issue 20 item 4: the image's pinned packages must not move; `pip check` must pass.
    docker = _dockerfile().replace("\\\n", " ")
    install = next(line for line in docker.splitlines() if line.startswith("RUN uv export"))
    assert re.search(r"pip install [^&]*--constraint /tmp/image-constraints.txt", install)
    assert "${AIRFLOW_USER_HOME_DIR}/constraints.txt" in install
    assert "pip freeze --all > /tmp/installed.txt" in install
    assert "&& pip check" in install
    assert "grep -Fxv -f /tmp/after.txt /tmp/installed.txt" in install
    assert "--no-deps" not in install, "Overlap's dependencies are resolved under the pins"


def _image_requirements() -> Any:
    spec = importlib.util.spec_from_file_location(
        "image_requirements", REPO / "deploy" / "image-requirements.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_requirements_keeps_the_image_pins_and_adds_the_rest(tmp_path: Path) -> None:
    locked = ("# header\nhttpx==0.28.1\n    # via overlap\nduckdb==2.0.1\n"
              "pywin32==311 ; sys_platform == 'win32'\nGoogle_Auth==2.40.0\n")
    installed = "httpx==0.29.0\noverlap @ file:///opt/overlap\npip==26.0\n"
    constraints = "google-auth==2.38.0\ncelery[redis]==5.6.3\n"
    out = tmp_path / "constraints.txt"
    (tmp_path / "locked.txt").write_text(locked)
    (tmp_path / "installed.txt").write_text(installed)
    (tmp_path / "image.txt").write_text(constraints)
    proc = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "image-requirements.py"),
         str(tmp_path / "locked.txt"), str(tmp_path / "installed.txt"),
         str(tmp_path / "image.txt"), str(tmp_path / "missing.txt"), "--constraints-out", str(out)],
        capture_output=True, text=True, check=True)
    # the image's httpx and google-auth win over the lock; what the image lacks keeps its pin
    assert proc.stdout.splitlines() == ["duckdb==2.0.1", "pywin32==311 ; sys_platform == 'win32'"]
    assert out.read_text().splitlines() == ["httpx==0.29.0", "pip==26.0", "google-auth==2.38.0",
                                            "celery==5.6.3"]
    assert _image_requirements().normalise("Google_Auth") == "google-auth"
