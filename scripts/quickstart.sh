#!/usr/bin/env bash
# Quick start on the embedded default (SQLite, local files): set up, seed demo data, start
# the API, the Dagster daemon and the Dagster webserver in the background, then run one
# export end to end over HTTP and verify it.
#
#   bash scripts/quickstart.sh        # set up, (re)start the services, run one export
#   bash scripts/quickstart.sh stop   # stop the services this script started
#
# The services keep running after the script ends (so you can use the UI and the API);
# their pids and logs are under $EXPORTS_HOME/run. Environment: EXPORTS_HOME (default
# ./.exports), API_PORT (8000), UI_PORT (3000), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

# The home holds the store, its secrets and the files: its owner's alone (0700).
export EXPORTS_HOME="$(mkdir -p -m 700 "${EXPORTS_HOME:-.exports}" && cd "${EXPORTS_HOME:-.exports}" && pwd)"
# Dagster reads $DAGSTER_HOME/dagster.yaml, and DAGSTER_HOME must be absolute.
export DAGSTER_HOME="$EXPORTS_HOME/dagster"
API_PORT="${API_PORT:-8000}"
UI_PORT="${UI_PORT:-3000}"
RUN_DIR="$EXPORTS_HOME/run"
BIN="$REPO/.venv/bin"
API_URL="http://127.0.0.1:$API_PORT"
UI_URL="http://127.0.0.1:$UI_PORT"

stop_services() {
  local name pid
  for name in webserver daemon api; do
    if [ -f "$RUN_DIR/$name.pid" ]; then
      pid="$(cat "$RUN_DIR/$name.pid")"
      # Each service leads its own session (setsid): stop the whole group it started.
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        echo "stopped $name (pid $pid)"
      fi
      rm -f "$RUN_DIR/$name.pid"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then
  stop_services
  exit 0
fi

step() { printf '\n==> %s\n' "$*"; }

step "Python environment (.venv)"
if [ ! -x "$BIN/exports-pipeline" ]; then
  "${PYTHON:-python3}" -m venv .venv
  "$BIN/python" -m pip install -q --upgrade pip
  "$BIN/python" -m pip install -q -e .
fi
echo "ok: $("$BIN/python" --version), exports-pipeline installed"

step "Store and demo data under $EXPORTS_HOME"
"$BIN/exports-pipeline" db upgrade
if "$BIN/python" - <<'PY'
import sys
from exports_pipeline.settings import Settings
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.spaces import get_space
with make_engine(Settings().resolved_database_url).connect() as conn:
    sys.exit(0 if get_space(conn, "demo-1") else 1)
PY
then
  echo "demo data already present"
else
  "$BIN/exports-pipeline" seed-demo --no-progress
fi
KEY="$("$BIN/exports-pipeline" keys create --space demo-1 | tail -n 1)"
echo "API key for space demo-1: ${KEY:0:12}…"

step "Services (API :$API_PORT, Dagster daemon, Dagster UI :$UI_PORT)"
stop_services
mkdir -p "$RUN_DIR" "$DAGSTER_HOME"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
# Create Dagster's storage once, before two processes race to create it at the same time.
"$BIN/dagster" instance migrate >/dev/null
start() {
  local name="$1"; shift
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  echo "started $name (pid $!, log $RUN_DIR/$name.log)"
}
start api "$BIN/exports-pipeline" api --host 127.0.0.1 --port "$API_PORT"
start daemon "$BIN/dagster-daemon" run -w workspace.yaml
start webserver "$BIN/dagster-webserver" -w workspace.yaml -h 127.0.0.1 -p "$UI_PORT"

wait_http() {
  local url="$1" name="$2"
  for _ in $(seq 1 240); do
    if curl -fs -o /dev/null "$url"; then return 0; fi
    if ! kill -0 "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null; then
      echo "$name exited; its log:" >&2; tail -n 30 "$RUN_DIR/$name.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "$name did not answer at $url" >&2; exit 1
}
wait_http "$API_URL/docs" api
wait_http "$UI_URL/server_info" webserver
echo "API and Dagster UI answer"

step "Export over HTTP"
DATE="$("$BIN/python" -c 'import datetime as d; print(d.datetime.now(d.UTC).date() - d.timedelta(days=2))')"
BODY="{\"date\": \"$DATE\", \"sources\": [\"facebook_ads\", \"google_ads\", \"email\"],
  \"attribution_model\": \"linear\", \"attribution_window\": 30,
  \"fields\": [\"event_name\", \"amount\", \"source\", \"campaign_name\", \"ad_name\"]}"
echo "POST $API_URL/public-api/v1/events/exports $BODY"
CREATED="$(curl -fsS -X POST "$API_URL/public-api/v1/events/exports" \
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$BODY")"
echo "$CREATED"
json() { "$BIN/python" -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
EXPORT_ID="$(echo "$CREATED" | json export_id)"

STATUS_URL="$API_URL/public-api/v1/events/exports/$EXPORT_ID"
STARTED=$(date +%s)
# Status reads are rate limited (30/min per space): poll every 2.5 s.
for _ in $(seq 1 120); do
  STATUS="$(curl -fsS "$STATUS_URL" -H "Authorization: Bearer $KEY")"
  STATE="$(echo "$STATUS" | json status)"
  echo "  $(date +%T) export $EXPORT_ID: $STATE"
  case "$STATE" in completed|failed) break ;; esac
  sleep 2.5
done
if [ "$STATE" != "completed" ]; then
  echo "export did not complete: $STATUS" >&2
  echo "see the run in $UI_URL/runs and the logs in $RUN_DIR" >&2
  exit 1
fi
echo "completed in about $(( $(date +%s) - STARTED )) s: $STATUS"

step "Download and verify"
DOWNLOAD="$EXPORTS_HOME/downloads/export-$EXPORT_ID.ndjson.gz"
mkdir -p "$(dirname "$DOWNLOAD")"
curl -fsS -o "$DOWNLOAD" "$(echo "$STATUS" | json download_url)"
EXPECTED="$(echo "$STATUS" | json sha256)"
ACTUAL="$("$BIN/python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$DOWNLOAD")"
if [ "$EXPECTED" != "$ACTUAL" ]; then
  echo "sha256 mismatch: expected $EXPECTED, got $ACTUAL" >&2; exit 1
fi
echo "sha256 verified: $ACTUAL"
echo "rows: $(echo "$STATUS" | json row_count); first rows:"
"$BIN/python" - "$DOWNLOAD" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as f:
    for i, line in enumerate(f):
        if i == 3:
            break
        print("  " + line.rstrip())
PY
STORED="$("$BIN/python" - "$EXPORT_ID" <<'PY'
import sys
from exports_pipeline.settings import Settings
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.exports import get_export
settings = Settings()
with make_engine(settings.resolved_database_url).connect() as conn:
    record = get_export(conn, int(sys.argv[1]))
print(settings.resolved_storage_dir / record.storage_key)
PY
)"

step "Done"
cat <<EOF
Export file (stored):     $STORED
Downloaded copy:          $DOWNLOAD
Dagster UI:               $UI_URL  (runs, the export_request_sensor, backfills)
API docs:                 $API_URL/docs
API key (space demo-1):   $KEY
Logs and pids:            $RUN_DIR
The services keep running; stop them with:  bash scripts/quickstart.sh stop
EOF
