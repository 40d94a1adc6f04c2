import {
  evaluateRetrieval,
  hammingMeanAveragePrecision,
  meanAveragePrecision,
  precisionAtK,
  relevantRanks,
} from '../src/metrics';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Integer features in [-2, 2]: float32 distances are exact and ties are frequent. */
function intFeatures(n: number, dim: number, rnd: () => number): Float32Array {
  return Float32Array.from({ length: n * dim }, () => Math.floor(rnd() * 5) - 2);
}

// ---- brute-force reference: full stable sort of the gallery per query ----
function refRanking(dist: number[], qLabel: number, gLabels: Int32Array, k: number) {
  const order = dist.map((_, j) => j).sort((a, b) => dist[a] - dist[b] || a - b);
  const rel = order.map((j) => gLabels[j] === qLabel);
  const R = rel.filter(Boolean).length;
  let hits = 0;
  let ap = 0;
  let apK = 0;
  let hitsK = 0;
  const precAtHit: number[] = [];
  rel.forEach((r, i) => {
    if (!r) return;
    hits++;
    const p = hits / (i + 1);
    ap += p;
    precAtHit.push(p);
    if (i < k) {
      apK += p;
      hitsK++;
    }
  });
  const pr = Array.from({ length: 11 }, (_, t) => {
    const level = t / 10;
    let best = 0;
    precAtHit.forEach((p, i) => {
      if ((i + 1) / R >= level - 1e-12) best = Math.max(best, p);
    });
    return best;
  });
  return {
    R,
    ap: R ? ap / R : 0,
    apK: hitsK ? apK / hitsK : 0,
    pK: rel.slice(0, k).filter(Boolean).length / Math.min(k, dist.length),
    pr,
  };
}

function refEval(
  q: Float32Array[],
  g: Float32Array[],
  dim: number,
  ql: Int32Array,
  gl: Int32Array,
  k: number,
  hamming = false,
) {
  const nq = ql.length;
  const ng = gl.length;
  let ap = 0;
  let apK = 0;
  let pK = 0;
  let nPr = 0;
  const pr = new Array(11).fill(0);
  for (let i = 0; i < nq; i++) {
    const dist: number[] = [];
    for (let j = 0; j < ng; j++) {
      let best = Infinity;
      for (const qv of q) {
        for (const gv of g) {
          let d = 0;
          for (let c = 0; c < dim; c++) {
            const a = qv[i * dim + c];
            const b = gv[j * dim + c];
            d += hamming ? (a !== b ? 1 : 0) : (a - b) ** 2;
          }
          best = Math.min(best, d);
        }
      }
      dist.push(best);
    }
    const r = refRanking(dist, ql[i], gl, k);
    ap += r.ap;
    apK += r.apK;
    pK += r.pK;
    if (r.R) {
      nPr++;
      r.pr.forEach((p, t) => (pr[t] += p));
    }
  }
  return { mapAll: ap / nq, mapAtK: apK / nq, pAtK: pK / nq, pr: pr.map((p) => p / nPr) };
}

describe('relevantRanks', () => {
  it('ranks ties by gallery index', () => {
    const dist = [1, 0, 1, 1, 0];
    const rel = Int32Array.from([2, 4]);
    const mask = Uint8Array.from([0, 0, 1, 0, 1]);
    // order: 1 (0), 4 (0), 0 (1), 2 (1), 3 (1) -> item 4 at rank 2, item 2 at rank 4
    expect(Array.from(relevantRanks(dist, rel, mask))).toEqual([2, 4]);
  });
});

describe('retrieval metrics vs brute force (random integer data with ties)', () => {
  const rnd = lcg(42);
  const dim = 3;
  const nq = 23;
  const ng = 61;
  const q = intFeatures(nq, dim, rnd);
  const g = intFeatures(ng, dim, rnd);
  const qf = intFeatures(nq, dim, rnd);
  const gf = intFeatures(ng, dim, rnd);
  const ql = Int32Array.from({ length: nq }, (_, i) => (i === 0 ? 9 : Math.floor(rnd() * 4))); // query 0: no relevant item
  const gl = Int32Array.from({ length: ng }, () => Math.floor(rnd() * 4));

  it.each<[{ blockSize?: number; galleryBlock?: number }, string]>([
    [{}, 'defaults'],
    [{ blockSize: 4, galleryBlock: 7 }, 'small blocks'],
    [{ blockSize: 1, galleryBlock: 1 }, 'one row at a time'],
  ])('mAP@all, mAP@K, P@K, PR (%j, %s)', (opts) => {
    const k = 10;
    const ref = refEval([q], [g], dim, ql, gl, k);
    const res = evaluateRetrieval({ features: q, labels: ql }, { features: g, labels: gl }, dim, {
      k,
      ...opts,
    });
    expect(res.mapAll).toBeCloseTo(ref.mapAll, 10);
    expect(res.mapAtK).toBeCloseTo(ref.mapAtK, 10);
    expect(res.pAtK).toBeCloseTo(ref.pAtK, 10);
    res.pr.precision.forEach((p, t) => expect(p).toBeCloseTo(ref.pr[t], 10));
    expect(res.pr.recall).toEqual(
      [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].map((v) => expect.closeTo(v, 12)),
    );
    expect(res.apPerQuery[0]).toBe(0);
    expect(meanAveragePrecision(q, g, dim, ql, gl, opts)).toBeCloseTo(ref.mapAll, 10);
    expect(meanAveragePrecision(q, g, dim, ql, gl, { ...opts, k })).toBeCloseTo(ref.mapAtK, 10);
    expect(precisionAtK(q, g, dim, ql, gl, { ...opts, k })).toBeCloseTo(ref.pAtK, 10);
  });

  it('K larger than the gallery divides P@K by the gallery size', () => {
    const ref = refEval([q], [g], dim, ql, gl, 200);
    expect(precisionAtK(q, g, dim, ql, gl)).toBeCloseTo(ref.pAtK, 10);
  });

  it('flip: minimum distance over the flip combinations', () => {
    const ref = refEval([q, qf], [g, gf], dim, ql, gl, 10);
    const res = evaluateRetrieval(
      { features: q, flipped: qf, labels: ql },
      { features: g, flipped: gf, labels: gl },
      dim,
      { k: 10, blockSize: 5 },
    );
    expect(res.mapAll).toBeCloseTo(ref.mapAll, 10);
    expect(res.pAtK).toBeCloseTo(ref.pAtK, 10);
  });

  it('Hamming mAP on 0/1 codes', () => {
    const bits = 8;
    const qc = Uint8Array.from({ length: nq * bits }, () => (rnd() < 0.5 ? 1 : 0));
    const gc = Uint8Array.from({ length: ng * bits }, () => (rnd() < 0.5 ? 1 : 0));
    const ref = refEval([Float32Array.from(qc)], [Float32Array.from(gc)], bits, ql, gl, 10, true);
    expect(hammingMeanAveragePrecision(qc, gc, bits, ql, gl)).toBeCloseTo(ref.mapAll, 10);
    expect(hammingMeanAveragePrecision(qc, gc, bits, ql, gl, { k: 10 })).toBeCloseTo(ref.mapAtK, 10);
    const res = evaluateRetrieval(
      { features: q, labels: ql, codes: qc },
      { features: g, labels: gl, codes: gc },
      dim,
      { k: 10 },
    );
    expect(res.hamming?.bits).toBe(bits);
    expect(res.hamming?.mapAll).toBeCloseTo(ref.mapAll, 10);
    expect(res.hamming?.pAtK).toBeCloseTo(ref.pAtK, 10);
  });

  it('perfect and worst rankings', () => {
    const gal = Float32Array.from([0, 0, 10, 10]);
    const lab = Int32Array.from([1, 1, 2, 2]);
    expect(meanAveragePrecision(Float32Array.from([0]), gal, 1, Int32Array.from([1]), lab)).toBe(1);
    // relevant items at ranks 3 and 4: AP = (1/3 + 2/4) / 2
    expect(meanAveragePrecision(Float32Array.from([10]), gal, 1, Int32Array.from([1]), lab)).toBeCloseTo(
      (1 / 3 + 2 / 4) / 2,
      12,
    );
  });

  it('rejects mismatched sizes', () => {
    expect(() => meanAveragePrecision(q, g, 4, ql, gl)).toThrow(
      /query features: length 69 is not n \* dim = 23 \* 4/,
    );
  });
});

describe('angular distance (tester.py --test_distance angular)', () => {
  it('ranks by acos of the cosine similarity, min over the flip combinations', () => {
    const rnd = lcg(21);
    const [nq, ng, dim] = [12, 40, 6];
    // continuous features with very different norms, so that angular and Euclidean rankings differ
    const feats = (n: number): Float32Array =>
      Float32Array.from(
        { length: n * dim },
        (_, i) => (rnd() * 2 - 1) * (1 + 9 * ((Math.floor(i / dim) * 7) % 5)),
      );
    const [q, qf, g, gf] = [feats(nq), feats(nq), feats(ng), feats(ng)];
    const ql = Int32Array.from({ length: nq }, (_, i) => i % 3);
    const gl = Int32Array.from({ length: ng }, (_, j) => j % 3);
    const angle = (a: Float32Array, i: number, b: Float32Array, j: number): number => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let c = 0; c < dim; c++) {
        dot += a[i * dim + c] * b[j * dim + c];
        na += a[i * dim + c] ** 2;
        nb += b[j * dim + c] ** 2;
      }
      return Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
    };
    let ap = 0;
    for (let i = 0; i < nq; i++) {
      const dist = Array.from({ length: ng }, (_, j) =>
        Math.min(angle(q, i, g, j), angle(q, i, gf, j), angle(qf, i, g, j), angle(qf, i, gf, j)),
      );
      ap += refRanking(dist, ql[i], gl, 200).ap;
    }
    const sets = [
      { features: q, flipped: qf, labels: ql },
      { features: g, flipped: gf, labels: gl },
    ] as const;
    const angular = evaluateRetrieval(sets[0], sets[1], dim, { distance: 'angular' });
    const euclidean = evaluateRetrieval(sets[0], sets[1], dim);
    expect(angular.mapAll).toBeCloseTo(ap / nq, 6);
    expect(Math.abs(euclidean.mapAll - angular.mapAll)).toBeGreaterThan(1e-3);
  });
});
