#!/usr/bin/env bash
# Creates or updates the git-ignored .venv from requirements.txt: the project's one Python, used by
# every test, bench and tool (PyTorch 2.x from PyPI, pyarrow, duckdb, numpy, mlflow, safetensors,
# h5py, ruff, and the editable `sbir_py` reference nets). Idempotent: a stamp holds the sha256 of
# requirements.txt installed, so an edited pin reinstalls. PYTHON picks the interpreter that creates it.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=.venv/.sbir-requirements
WANT="requirements.txt sha256 $(sha256sum requirements.txt | cut -d' ' -f1)"
if [ -x .venv/bin/python ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "[venv] installing requirements.txt into .venv (PyTorch with its CUDA runtime wheels: ~3 GB on first install)" >&2
start=$(date +%s)
.venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
echo "[venv] installed in $(($(date +%s) - start)) s" >&2
echo "$WANT" >"$STAMP"
