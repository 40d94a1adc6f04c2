#!/usr/bin/env bash
# Creates the git-ignored .venv with the Python packages the tests and benchmarks use:
# pyarrow and duckdb (shards must open unchanged outside Node), numpy (evaluation benchmark),
# mlflow (the tracking server), safetensors (importer test fixtures). Idempotent: a stamp records the requirement set installed.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="pyarrow==25.0.1 duckdb==2.0.1 numpy==2.4.6 mlflow==3.17.2 safetensors==0.8.0"
STAMP=.venv/.sbir-requirements
if [ -x .venv/bin/python ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$REQS" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "[venv] installing $REQS into .venv" >&2
.venv/bin/python -m pip install --disable-pip-version-check -q $REQS
echo "$REQS" > "$STAMP"
