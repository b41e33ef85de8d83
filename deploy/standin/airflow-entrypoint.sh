#!/usr/bin/env bash
# The stand-in image's /entrypoint (the official one does more: waits for the database, runs
# _AIRFLOW_DB_MIGRATE, ...). As there: `bash ...` and `python ...` run as given, anything else
# is an airflow subcommand (`api-server`, `celery worker`, `airflow version`).
set -euo pipefail
if [[ $# -eq 0 ]]; then
  exec airflow --help
fi
case "$1" in
  bash | python | python3 | sh) exec "$@" ;;
  airflow) shift ;;
esac
exec airflow "$@"
