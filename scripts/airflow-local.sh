#!/usr/bin/env bash
# `make airflow`: a local Airflow 3.3 (api-server + scheduler + dag-processor, LocalExecutor on
# SQLite in ./airflow-home) with the overlap_weekly DAG and its pools, on the demo organisation.
# Open http://localhost:8080 (admin / admin). Ctrl-C stops everything.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/airflow-env.sh
source "$REPO/scripts/airflow-env.sh"
PY=$REPO/.venv/bin/python

# The organisation the DAG runs on: $OVERLAP_CONFIG, else one generated in airflow-home/org
# (file sources; point OVERLAP_CONFIG at the API sandbox's config once it lands).
if [ -z "${OVERLAP_CONFIG:-}" ]; then
  export OVERLAP_CONFIG=$AIRFLOW_HOME/org/overlap.toml
  if [ ! -f "$OVERLAP_CONFIG" ]; then
    echo "generating a demo organisation in $AIRFLOW_HOME/org" >&2
    "$PY" -c 'import sys; from pathlib import Path; from sandbox.generator import generate
generate(Path(sys.argv[1]))' "$AIRFLOW_HOME/org"
  fi
fi
airflow_prepare
airflow_pools
# Connections are read by tasks at run time; load yours from a file (airflow connections
# export format) or add them by hand — docs/airflow.md shows Google, Graph and SMTP.
if [ -n "${OVERLAP_CONNECTIONS_FILE:-}" ]; then
  "$AIRFLOW" connections import --overwrite "$OVERLAP_CONNECTIONS_FILE"
fi

LOGS=$AIRFLOW_HOME/logs
mkdir -p "$LOGS"
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
"$AIRFLOW" api-server --port "$AIRFLOW_PORT" >"$LOGS/api-server.log" 2>&1 & pids+=($!)
"$AIRFLOW" scheduler >"$LOGS/scheduler.log" 2>&1 & pids+=($!)
"$AIRFLOW" dag-processor >"$LOGS/dag-processor.log" 2>&1 & pids+=($!)

for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null 2>&1 && break
  sleep 1
done
cat <<MSG
Airflow is up: http://localhost:$AIRFLOW_PORT
  login:  ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*} / ${OVERLAP_AIRFLOW_PASSWORD:-admin}
  DAG:    overlap_weekly (paused: unpause it, or Trigger with a week) — config $OVERLAP_CONFIG
  logs:   $LOGS/{api-server,scheduler,dag-processor}.log
  CLI:    source scripts/airflow-env.sh && .venv/bin/airflow dags list
Ctrl-C stops Airflow.
MSG
wait -n "${pids[@]}" || true
echo "an Airflow process exited; see $LOGS" >&2
