#!/usr/bin/env bash
# Starts or stops the local MLflow tracking server the trainer mirrors its run store to.
#
#   bash scripts/mlflow.sh start    # idempotent: returns at once when our server already answers
#   bash scripts/mlflow.sh stop     # idempotent: stops the server's whole process group
#   bash scripts/mlflow.sh status   # prints the URI when running, exits 1 when not
#
# Environment:
#   MLFLOW_PORT            port on 127.0.0.1 (default 5000)
#   SBIR_MLFLOW_DIR        state folder, relative to the repository (default mlflow; git-ignored):
#                          mlflow.db (sqlite backend), artifacts/, server.log, server.pid
#   MLFLOW_START_TIMEOUT   seconds to wait for /health (default 180; the first start migrates the db)
#   MLFLOW_WORKERS         server worker processes (default 1: this is a laptop-sized server)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${MLFLOW_PORT:-5000}
DIR=${SBIR_MLFLOW_DIR:-mlflow}
TIMEOUT=${MLFLOW_START_TIMEOUT:-180}
WORKERS=${MLFLOW_WORKERS:-1}
URI="http://127.0.0.1:${PORT}"
PIDFILE="$DIR/server.pid"
LOG="$DIR/server.log"

healthy() { curl -fsS --max-time 2 "$URI/health" >/dev/null 2>&1; }
alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if alive && healthy; then
    echo "[mlflow] already running at $URI (pid $(cat "$PIDFILE"))"
    return 0
  fi
  if ! alive && healthy; then
    echo "[mlflow] error: $URI answers but was not started from $DIR (no live $PIDFILE); stop it or set MLFLOW_PORT" >&2
    return 1
  fi
  bash scripts/python-venv.sh   # idempotent; creates .venv with mlflow on first use
  mkdir -p "$DIR/artifacts"
  local abs
  abs=$(cd "$DIR" && pwd)
  if ! alive; then
    # setsid: the server and its workers get their own process group, which `stop` signals as one.
    setsid .venv/bin/mlflow server \
      --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
      --backend-store-uri "sqlite:///$abs/mlflow.db" \
      --serve-artifacts --artifacts-destination "$abs/artifacts" \
      >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  local waited=0
  until healthy; do
    if ! alive; then
      echo "[mlflow] error: server exited during start-up; see $LOG" >&2
      rm -f "$PIDFILE"
      return 1
    fi
    if [ "$waited" -ge "$TIMEOUT" ]; then
      echo "[mlflow] error: $URI/health did not answer within ${TIMEOUT}s; see $LOG" >&2
      stop >/dev/null
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "[mlflow] running at $URI (pid $(cat "$PIDFILE"), ${waited}s; store $DIR/, log $LOG)"
  echo "[mlflow] export MLFLOW_TRACKING_URI=$URI"
}

stop() {
  if ! [ -f "$PIDFILE" ]; then
    echo "[mlflow] not running (no $PIDFILE)"
    return 0
  fi
  local pid
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "[mlflow] stopped (pid $pid)"
  else
    echo "[mlflow] not running (stale $PIDFILE removed)"
  fi
  rm -f "$PIDFILE"
}

status() {
  if alive && healthy; then
    echo "$URI"
  else
    echo "[mlflow] not running at $URI" >&2
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: bash scripts/mlflow.sh start|stop|status" >&2
    exit 2
    ;;
esac
