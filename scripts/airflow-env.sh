# Sourced by scripts/airflow-*.sh: the environment of a local Airflow 3.3 for Overlap
# (LocalExecutor on SQLite, everything under one AIRFLOW_HOME, a known login).
# Override any of these before sourcing; nothing here needs Docker.
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$REPO/airflow-home}
export AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$REPO/dags}
# plugins/overlap_reports.py: reports served at /overlap-reports/, each run's week as its note.
export AIRFLOW__CORE__PLUGINS_FOLDER=${AIRFLOW__CORE__PLUGINS_FOLDER:-$REPO/plugins}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60}
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$AIRFLOW_PORT/execution/
export AIRFLOW__API__BASE_URL=http://localhost:$AIRFLOW_PORT
export AIRFLOW__API__PORT=$AIRFLOW_PORT
export AIRFLOW__API__HOST=${AIRFLOW__API__HOST:-127.0.0.1}
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
# Pool slots per extract group: the defaults are in the source registry (overlap/sources.py);
# override one with OVERLAP_POOL_<GROUP>_SLOTS, e.g. OVERLAP_POOL_GMAIL_SLOTS=4. The warehouse
# pool always has one slot (DuckDB has one writer).
AIRFLOW=${AIRFLOW:-$REPO/.venv/bin/airflow}

airflow_prepare() {
  # One JWT secret for every process (api-server signs, workers and scheduler verify): 64
  # random bytes (86 characters), so HS512 gets a full-length key and logs no key warning.
  mkdir -p "$AIRFLOW_HOME"
  if [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ]; then
    [ "$(wc -c 2>/dev/null <"$AIRFLOW_HOME/jwt_secret" || echo 0)" -gt 64 ] \
      || (umask 077 && "$REPO/.venv/bin/python" -c \
        'import secrets; print(secrets.token_urlsafe(64))' > "$AIRFLOW_HOME/jwt_secret")
    AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$AIRFLOW_HOME/jwt_secret")
    export AIRFLOW__API_AUTH__JWT_SECRET
  fi
  # A known login: user admin, password admin (override with OVERLAP_AIRFLOW_PASSWORD).
  local user=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}
  printf '{"%s": "%s"}\n' "$user" "${OVERLAP_AIRFLOW_PASSWORD:-admin}" \
    > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  "$AIRFLOW" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { cat "$AIRFLOW_HOME/db-migrate.log" >&2; return 1; }
}

airflow_pools() {
  # Overlap's pools, generated from the source registry (one `airflow pools import`).
  "$REPO/.venv/bin/python" -m overlap.sources_cli pools >"$AIRFLOW_HOME/pools.json"
  "$AIRFLOW" pools import "$AIRFLOW_HOME/pools.json" >/dev/null
}
