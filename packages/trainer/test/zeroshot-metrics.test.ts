/**
 * Both zero-shot protocols' metrics (SEM-PCYC: mAP@all, Prec@100; Yelamarthi: mAP@200, P@200), overall
 * and per query class, against an independent numpy computation on the same fixed embeddings
 * (.venv, scripts/python-venv.sh). Ties are made on purpose (repeated gallery rows): numpy ranks them
 * by gallery index with a stable sort, as the model's ranking does.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { venvPython } from '@sbir/core';
import { evaluateRetrieval, initBackend, Rng } from '@sbir/model';
import { perClassMetrics } from '../src/zeroshot';

const PYTHON = venvPython();
const hasPython = fs.existsSync(PYTHON);
if (!hasPython && process.env.CI) {
  test('python venv is present', () => {
    throw new Error(`${PYTHON} is missing: run scripts/python-venv.sh before the tests`);
  });
}
const maybe = hasPython ? describe : describe.skip;

const NUMPY = `
import json, sys
import numpy as np
d = json.load(open(sys.argv[1]))
q = np.array(d['q'], dtype=np.float64).reshape(-1, d['dim'])
g = np.array(d['g'], dtype=np.float64).reshape(-1, d['dim'])
ql, gl = np.array(d['ql']), np.array(d['gl'])
dist = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
rows = []
for i in range(len(q)):
    order = np.argsort(dist[i], kind='stable')
    rel = (gl[order] == ql[i]).astype(np.float64)
    ranks = np.nonzero(rel)[0] + 1
    hits = np.cumsum(rel)
    ap = float(np.mean(hits[ranks - 1] / ranks)) if len(ranks) else 0.0
    def p_at(k):
        return float(rel[:k].sum() / min(k, len(g)))
    top = ranks[ranks <= 200]
    ap200 = float(np.mean(np.arange(1, len(top) + 1) / top)) if len(top) else 0.0
    rows.append([ap, p_at(100), ap200, p_at(200)])
rows = np.array(rows)
out = {'all': rows.mean(0).tolist(), 'perClass': {}}
for c in sorted(set(ql.tolist())):
    out['perClass'][str(c)] = rows[ql == c].mean(0).tolist()
print(json.dumps(out))
`;

maybe('zero-shot protocol metrics against numpy', () => {
  beforeAll(async () => {
    await initBackend();
  });

  test('mAP@all, P@100, mAP@200, P@200: overall and per class', () => {
    const rng = new Rng(11);
    const dim = 8;
    const nq = 40;
    const ng = 450;
    const classes = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox'];
    const q = rng.normalArray(nq * dim);
    const g = rng.normalArray(ng * dim);
    g.copyWithin(10 * dim, 0, 10 * dim); // rows 10-19 repeat rows 0-9: exact distance ties
    const ql = Int32Array.from({ length: nq }, (_, i) => i % classes.length);
    const gl = Int32Array.from({ length: ng }, (_, i) => (i * 7) % classes.length);
    const m = evaluateRetrieval({ features: q, labels: ql }, { features: g, labels: gl }, dim, {
      k: 200,
      precisionKs: [100],
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zs-metrics-'));
    const file = path.join(dir, 'emb.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ dim, q: Array.from(q), g: Array.from(g), ql: Array.from(ql), gl: Array.from(gl) }),
    );
    const r = spawnSync(PYTHON, ['-c', NUMPY, file], { encoding: 'utf8', timeout: 60_000 });
    fs.rmSync(dir, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(r.stderr || `python exited ${r.status}`);
    const ref = JSON.parse(r.stdout) as { all: number[]; perClass: Record<string, number[]> };
    const ours = [m.mapAll, m.precisionAt[100]!.mean, m.mapAtK, m.pAtK];
    ours.forEach((v, i) => expect(v).toBeCloseTo(ref.all[i]!, 5));
    const perClass = perClassMetrics(m, ql, gl, classes);
    expect(perClass.map((c) => c.category)).toEqual(classes);
    for (const c of perClass) {
      const want = ref.perClass[String(classes.indexOf(c.category))]!;
      const got = [c['mAP@all'], c['P@100'], c['mAP@200'], c['P@200']];
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
      expect(c.nQueries).toBe(ql.filter((l) => classes[l] === c.category).length);
      expect(c.nGallery).toBe(gl.filter((l) => classes[l] === c.category).length);
    }
  });
});
