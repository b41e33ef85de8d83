#!/usr/bin/env bash
# `make demo`: generate the demo organisation into demo/, serve its mailboxes through the API
# sandboxes (a mixed company: half Google Workspace, half Microsoft 365), and run the weekly
# DAG itself on it (`airflow dags test`, tasks in this process, SQLite metadata DB under
# demo/airflow-home); prints the path of the week's report.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-$REPO/demo}
# The one place that says which organisation the demo runs on: the sandbox config that
# `overlap sandbox serve` writes (the generated file exports, read through the APIs).
FILE_CONFIG=$DEMO/overlap.toml
CONFIG=$DEMO/sandbox.toml
export AIRFLOW_HOME=$DEMO/airflow-home
# shellcheck source=scripts/airflow-env.sh
source "$REPO/scripts/airflow-env.sh"
PY=$REPO/.venv/bin/python

start=$(date +%s)
WEEK=$("$PY" - "$DEMO" <<'PYEOF'
import shutil, sys
from pathlib import Path
from overlap.cli import DEMO_MARKER
from sandbox.generator import generate

out = Path(sys.argv[1])
if out.exists() and any(out.iterdir()):
    if not (out / DEMO_MARKER).exists():
        sys.exit(f"{out} exists, is not empty and holds no earlier demo; set DEMO=another/folder")
    shutil.rmtree(out)
org = generate(out)
(out / DEMO_MARKER).write_text("written by make demo; replaced on the next demo\n")
print(max(org.weeks).isoformat())
PYEOF
)
"$REPO/.venv/bin/overlap" sandbox serve --config "$FILE_CONFIG" --apis mixed \
  --write-config "$CONFIG" >"$DEMO/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null; wait "$SANDBOX_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -s "$CONFIG" ] && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$DEMO/sandbox.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$CONFIG" ] || { echo "make demo: the sandbox did not start; see $DEMO/sandbox.log" >&2; exit 1; }
echo "demo organisation in $DEMO (week of $WEEK), served by the Google and Microsoft" \
  "sandboxes; running the DAG overlap_weekly" >&2
airflow_prepare
export OVERLAP_CONFIG=$CONFIG
LOG=$AIRFLOW_HOME/dags-test.log
if ! "$AIRFLOW" dags test overlap_weekly -c "{\"week_start\": \"$WEEK\"}" >"$LOG" 2>&1 \
   || ! grep -q "state=success" "$LOG"; then
  tail -40 "$LOG" >&2
  echo "make demo: the DAG run failed; full log: $LOG" >&2
  exit 1
fi
"$PY" - "$CONFIG" "$WEEK" "$LOG" <<'PYEOF'
import sys
from datetime import date
from overlap.config import load_config
from overlap.weeks import iso_week_label

config = load_config(sys.argv[1])
label = iso_week_label(date.fromisoformat(sys.argv[2]))
report = config.out_dir / label / f"overlap-{label}.html"
if not report.is_file():
    sys.exit(f"make demo: the DAG run wrote no report at {report}; see {sys.argv[3]}")
print(report)
print(f"\nwarehouse: {config.snapshot}  (read-only analyst snapshot)", file=sys.stderr)
PYEOF
echo "DAG log: $LOG  ($(( $(date +%s) - start )) s)" >&2
