#!/usr/bin/env bash
# `make compose-check`: builds the image (Dockerfile), brings the docker-compose.yml stack up
# with the sandbox profile, logs in with the admin password (SimpleAuthManager), unpauses and
# triggers overlap_weekly through the REST API for the sandbox organisation's last week, waits
# for the run, checks that the week's report exists in the data volume, and tears the stack
# down with its volumes. Not part of `make test` (minutes, needs docker or podman).
#
# Engine: docker compose where a docker engine answers, else podman with podman-compose
# (`pip install podman-compose`). The base images must be pullable or built locally:
# scripts/build-base-image.sh builds stand-ins where no registry is reachable.
# It uses its own secrets and project name (never your .env's volumes); KEEP=1 leaves the stack
# up; LOGS names the folder for the services' logs (default: a temporary folder).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PROJECT=${COMPOSE_PROJECT_NAME:-overlap-compose-check}
IMAGE=${OVERLAP_IMAGE:-localhost/overlap-airflow:compose-check}
TIMEOUT=${COMPOSE_CHECK_TIMEOUT:-1800}  # seconds for the stack to come up and the run to end
LOGS=${LOGS:-$(mktemp -d /tmp/overlap-compose-check.XXXXXX)}
mkdir -p "$LOGS"
log() { echo "compose-check: $*" >&2; }
die() { log "$*"; log "logs: $LOGS"; exit 1; }

if [[ -n "${ENGINE:-}" ]]; then :
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
elif command -v podman >/dev/null; then ENGINE=podman
else die "needs docker (with a running engine) or podman"
fi
BUILD=("$ENGINE" build)
if [[ "$ENGINE" == docker ]]; then
  COMPOSE=(docker compose)
else
  if command -v podman-compose >/dev/null; then COMPOSE=(podman-compose)
  else die "podman without podman-compose: pip install podman-compose"
  fi
  # podman as root in a sandbox: runc, no rlimits above what this shell may set, builds in the
  # host's network (chroot isolation). An existing CONTAINERS_CONF is left as it is.
  if [[ -z "${CONTAINERS_CONF:-}" ]]; then
    nproc=$(ulimit -Hu); [[ "$nproc" == unlimited || "$nproc" -gt 32768 ]] && nproc=32768
    export CONTAINERS_CONF=$LOGS/containers.conf
    {
      echo "[containers]"
      echo "default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=$nproc:$nproc\"]"
      if command -v runc >/dev/null; then printf '[engine]\nruntime = "runc"\n'; fi
    } >"$CONTAINERS_CONF"
  fi
  BUILD+=(--isolation chroot --network host)
  CA_BUNDLE=${BUILD_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-}}}
  if [[ -n "$CA_BUNDLE" && -f "$CA_BUNDLE" ]]; then  # a TLS-inspecting proxy's CA (Dockerfile)
    BUILD+=(-v "$CA_BUNDLE:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt
            --build-arg SSL_CERT_FILE=/run/build-ca.crt)
  fi
fi
COMPOSE+=(-p "$PROJECT" --profile sandbox)

# The stack's settings: fresh secrets, the sandbox organisation, the API on a free local port.
# The same commands docs/airflow.md gives (a Fernet key is 32 random bytes, urlsafe base64).
fernet() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }
export OVERLAP_IMAGE=$IMAGE
AIRFLOW_JWT_SECRET=$(openssl rand -hex 32) AIRFLOW_ADMIN_PASSWORD=$(openssl rand -hex 16)
AIRFLOW_FERNET_KEY=$(fernet)
export AIRFLOW_JWT_SECRET AIRFLOW_ADMIN_PASSWORD AIRFLOW_FERNET_KEY
export AIRFLOW_ADMIN_USER=admin
export OVERLAP_CONFIG=/opt/overlap-data/sandbox/overlap.toml
# The sandbox organisation's mail lies in the past: manual runs only, so unpausing adds no
# scheduled run of an empty week (docs/airflow.md, "Unpausing").
export OVERLAP_SCHEDULE=none
export AIRFLOW_API_ADDRESS=127.0.0.1
AIRFLOW_API_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AIRFLOW_API_PORT

teardown() {
  local rc=$?
  "${COMPOSE[@]}" logs >"$LOGS/services.log" 2>&1 || true
  if [[ "${KEEP:-0}" == 1 ]]; then
    log "KEEP=1: the stack stays up (project $PROJECT, http://127.0.0.1:$AIRFLOW_API_PORT," \
        "admin password in $LOGS/admin-password)"
    printf '%s\n' "$AIRFLOW_ADMIN_PASSWORD" >"$LOGS/admin-password"
  else
    "${COMPOSE[@]}" down -v >"$LOGS/down.log" 2>&1 || log "down failed: $LOGS/down.log"
  fi
  [[ $rc == 0 ]] || log "FAILED; services' logs: $LOGS/services.log"
}

log "engine: ${COMPOSE[*]}; logs in $LOGS"
log "building $IMAGE"
"${BUILD[@]}" -t "$IMAGE" . >"$LOGS/build.log" 2>&1 || die "image build failed: $LOGS/build.log"
trap teardown EXIT
# Started in stages, each waited for here: what depends_on's conditions say, done by hand so
# that podman-compose on podman 4 (no healthy condition, no reliable --requires) works alike.
up() { "${COMPOSE[@]}" up -d --no-build --no-deps "$@" >>"$LOGS/up.log" 2>&1 \
         || die "compose up $* failed: $LOGS/up.log"; }
ready() {  # ready WHAT SERVICE COMMAND...: until the command succeeds in the service's container
  local what=$1 service=$2; shift 2
  for _ in $(seq 1 120); do
    "${COMPOSE[@]}" exec -T "$service" "$@" >/dev/null 2>&1 && return 0
    sleep 2
  done
  die "$what did not become ready"
}
log "starting postgres and redis"
up postgres redis
ready postgres postgres pg_isready -U airflow
ready redis redis redis-cli ping
log "airflow-init (db migrate, login, pools), then the sandbox organisation"
"${COMPOSE[@]}" run --rm --no-deps airflow-init >"$LOGS/init.log" 2>&1 \
  || die "airflow-init failed: $LOGS/init.log"
"${COMPOSE[@]}" run --rm --no-deps overlap-sandbox >"$LOGS/sandbox.log" 2>&1 \
  || die "the sandbox service failed: $LOGS/sandbox.log"
log "starting api-server, scheduler, dag-processor, triggerer, worker"
up airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer airflow-worker

WEEK=$(.venv/bin/python -c 'from sandbox.generator import DEFAULT_LAST_WEEK as w; print(w)')
log "API on http://127.0.0.1:$AIRFLOW_API_PORT; triggering overlap_weekly for the week of $WEEK"
python3 - "http://127.0.0.1:$AIRFLOW_API_PORT" "$WEEK" "$TIMEOUT" <<'PYEOF' || die "the DAG run failed"
"""Log in as the compose admin, unpause and trigger overlap_weekly, wait for the run's end."""
import json, os, sys, time, urllib.error, urllib.request

base, week, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + timeout


def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait(what, probe):
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(5)
    sys.exit(f"compose-check: timed out waiting for {what}")


login = {"username": os.environ["AIRFLOW_ADMIN_USER"],
         "password": os.environ["AIRFLOW_ADMIN_PASSWORD"]}
token = wait("the api-server and the admin login",
             lambda: call("POST", "/auth/token", login)["access_token"])
print("compose-check: logged in as", login["username"], file=sys.stderr)
try:
    call("POST", "/auth/token", {**login, "password": "wrong"})
    sys.exit("compose-check: a wrong password was accepted")
except urllib.error.HTTPError as err:
    if err.code != 401:
        raise
wait("the DAG overlap_weekly to be parsed", lambda: call("GET", "/api/v2/dags/overlap_weekly",
                                                          token=token))
# Triggered while paused, then unpaused (OVERLAP_SCHEDULE=none: no scheduled run joins it).
run = call("POST", "/api/v2/dags/overlap_weekly/dagRuns",
           {"logical_date": None, "conf": {"week_start": week}}, token)
run_id = run["dag_run_id"]
call("PATCH", "/api/v2/dags/overlap_weekly", {"is_paused": False}, token)
print(f"compose-check: triggered {run_id}", file=sys.stderr)


def finished():
    state = call("GET", f"/api/v2/dags/overlap_weekly/dagRuns/{run_id}", token=token)["state"]
    return state if state in ("success", "failed") else None


state = wait(f"the run {run_id}", finished)
tis = call("GET", f"/api/v2/dags/overlap_weekly/dagRuns/{run_id}/taskInstances?limit=200",
           token=token)["task_instances"]
states: dict[str, dict[str, int]] = {}
for ti in tis:
    counts = states.setdefault(ti["task_id"], {})
    ti_state = str(ti["state"])
    counts[ti_state] = counts.get(ti_state, 0) + 1
for task_id, counts in sorted(states.items()):
    print(f"  {task_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
          file=sys.stderr)
print(f"compose-check: run {run_id}: {state}", file=sys.stderr)
sys.exit(0 if state == "success" else 1)
PYEOF

log "checking the week's report in the overlap-data volume"
"${COMPOSE[@]}" exec -T airflow-worker python - "$WEEK" <<'PYEOF' || die "no report"
import os, sys
from datetime import date
from overlap.config import load_config
from overlap.weeks import iso_week_label

config = load_config(os.environ["OVERLAP_CONFIG"])
label = iso_week_label(date.fromisoformat(sys.argv[1]))
report = config.out_dir / label / f"overlap-{label}.html"
if not report.is_file() or report.stat().st_size == 0:
    sys.exit(f"compose-check: the run wrote no report at {report}")
print(f"compose-check: report {report} ({report.stat().st_size} bytes)", file=sys.stderr)
PYEOF
log "OK: image built, stack up, login works, overlap_weekly succeeded, report written"
