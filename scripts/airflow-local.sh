#!/usr/bin/env bash
# `make airflow`: a local Airflow 3.3 (api-server + scheduler + dag-processor, LocalExecutor on
# SQLite in ./airflow-home) with the overlap_weekly DAG, its pools and the reports plugin.
# Open http://localhost:8080 (admin / admin). Ctrl-C stops everything.
#
#   make airflow                               demo organisation, read from its files
#   OVERLAP_SANDBOX=mixed make airflow         ... read through the API sandboxes instead
#                                              (google | microsoft | mixed; no credentials)
#   OVERLAP_CONFIG=my-org/overlap.toml make airflow   your own organisation
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/airflow-env.sh
source "$REPO/scripts/airflow-env.sh"
PY=$REPO/.venv/bin/python

LOGS=$AIRFLOW_HOME/logs
mkdir -p "$LOGS"
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# The organisation the DAG runs on: $OVERLAP_CONFIG, else one generated in airflow-home/org.
# Its data lies in past weeks, so the DAG gets no schedule (OVERLAP_SCHEDULE=none): unpausing
# it would otherwise report the latest week, which holds no data. Trigger it with a week.
if [ -z "${OVERLAP_CONFIG:-}" ]; then
  export OVERLAP_CONFIG=$AIRFLOW_HOME/org/overlap.toml
  export OVERLAP_SCHEDULE=${OVERLAP_SCHEDULE:-none}
  if [ ! -f "$OVERLAP_CONFIG" ]; then
    echo "generating a demo organisation in $AIRFLOW_HOME/org" >&2
    "$PY" -c 'import sys; from pathlib import Path; from sandbox.generator import generate
print(max(generate(Path(sys.argv[1])).weeks))' "$AIRFLOW_HOME/org" >"$AIRFLOW_HOME/org-week"
  fi
  DEMO_WEEK=$(cat "$AIRFLOW_HOME/org-week" 2>/dev/null || true)
  if [ -n "${OVERLAP_SANDBOX:-}" ]; then
    # Serve its mailboxes through the API sandboxes (like `make demo`) and run on those.
    rm -f "$AIRFLOW_HOME/org/sandbox.toml"
    "$REPO/.venv/bin/overlap" sandbox serve --config "$OVERLAP_CONFIG" --apis "$OVERLAP_SANDBOX" \
      --write-config "$AIRFLOW_HOME/org/sandbox.toml" >"$LOGS/sandbox.log" 2>&1 & pids+=($!)
    for _ in $(seq 1 300); do
      [ -s "$AIRFLOW_HOME/org/sandbox.toml" ] && break
      kill -0 "${pids[-1]}" 2>/dev/null || { cat "$LOGS/sandbox.log" >&2; exit 1; }
      sleep 0.1
    done
    export OVERLAP_CONFIG=$AIRFLOW_HOME/org/sandbox.toml
  fi
fi
# The schedule's time zone is the config's [company] timezone, and the DAG gets one extract
# task group per kind of source the config has (no always-skipped groups).
if [ -z "${OVERLAP_TIMEZONE:-}" ]; then
  OVERLAP_TIMEZONE=$("$PY" -c 'import sys; from overlap.config import load_config
print(load_config(sys.argv[1]).timezone)' "$OVERLAP_CONFIG")
  export OVERLAP_TIMEZONE
fi
if [ -z "${OVERLAP_EXTRACT_GROUPS:-}" ]; then
  OVERLAP_EXTRACT_GROUPS=$("$PY" -m overlap.sources_cli groups "$OVERLAP_CONFIG")
  export OVERLAP_EXTRACT_GROUPS
fi
airflow_prepare
airflow_pools
# Connections are read by tasks at run time; load yours from a file (airflow connections
# export format) or add them by hand — docs/airflow.md shows Google, Graph and SMTP.
if [ -n "${OVERLAP_CONNECTIONS_FILE:-}" ]; then
  "$AIRFLOW" connections import --overwrite "$OVERLAP_CONNECTIONS_FILE"
fi

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
  DAG:    overlap_weekly (paused: Trigger it with a week${DEMO_WEEK:+, e.g. $DEMO_WEEK}) — config $OVERLAP_CONFIG
          time zone $OVERLAP_TIMEZONE, extract groups $OVERLAP_EXTRACT_GROUPS,
          schedule ${OVERLAP_SCHEDULE:-0 6 * * 1}
  reports: http://localhost:$AIRFLOW_PORT/overlap-reports/ (also the report task's Report link)
  logs:   $LOGS/{api-server,scheduler,dag-processor}.log
  CLI:    source scripts/airflow-env.sh && .venv/bin/airflow dags list
Ctrl-C stops Airflow.
MSG
wait -n "${pids[@]}" || true
echo "an Airflow process exited; see $LOGS" >&2
