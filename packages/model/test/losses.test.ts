import * as tf from '@tensorflow/tfjs-core';
import {
  listLosses,
  annealFactor,
  arcfaceLogits,
  contrastiveLoss,
  cosfaceLogits,
  createLoss,
  crossEntropy,
  memsLogits,
  regressionLoss,
  resolveLossOptions,
  tripletBatchHardLoss,
} from '../src/losses';
import { finiteDiff, maxRelErr, smallValues, toArray, useNativeBackend } from './helpers';

// ---- float64 references, written from the formulas (hand computation) ----
type Mat = number[][];
const rows = (x: number[], d: number): Mat =>
  Array.from({ length: x.length / d }, (_, i) => x.slice(i * d, i * d + d));
const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);
const sqdist = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
const norm = (a: number[]): number => Math.sqrt(dot(a, a));
function ce(logits: Mat, y: number[]): number {
  let tot = 0;
  logits.forEach((l, i) => {
    const mx = Math.max(...l);
    const lse = mx + Math.log(l.reduce((s, v) => s + Math.exp(v - mx), 0));
    tot += lse - l[y[i]];
  });
  return tot / logits.length;
}
const refMems = (f: Mat, c: Mat, y: number[], m: number, s: number): number =>
  ce(
    f.map((fi, i) => c.map((cj, j) => -s * sqdist(fi, cj) * (j === y[i] ? m * m : 1))),
    y,
  );
const refCos = (f: Mat, w: Mat, y: number[], m: number, s: number): number =>
  ce(
    f.map((fi, i) => w.map((wj, j) => s * (dot(fi, wj) / (norm(fi) * norm(wj)) - (j === y[i] ? m : 0)))),
    y,
  );
const refArc = (f: Mat, w: Mat, y: number[], m: number, s: number): number =>
  ce(
    f.map((fi, i) =>
      w.map((wj, j) => {
        const c = dot(fi, wj) / (norm(fi) * norm(wj));
        if (j !== y[i]) return s * c;
        const theta = Math.acos(c);
        return s * (c > Math.cos(Math.PI - m) ? Math.cos(theta + m) : c - Math.sin(Math.PI - m) * m);
      }),
    ),
    y,
  );
function refContrastive(f: Mat, y: number[], margin: number): number {
  let tot = 0;
  let n = 0;
  for (let i = 0; i < f.length; i++) {
    for (let j = i + 1; j < f.length; j++) {
      const d = Math.sqrt(sqdist(f[i], f[j]));
      tot += y[i] === y[j] ? d * d : Math.max(0, margin - d) ** 2;
      n++;
    }
  }
  return n ? tot / n : 0;
}
function refTriplet(f: Mat, y: number[], margin: number): number {
  let tot = 0;
  let n = 0;
  for (let a = 0; a < f.length; a++) {
    let hp = -Infinity;
    let hn = Infinity;
    for (let j = 0; j < f.length; j++) {
      if (j === a) continue;
      const d = Math.sqrt(sqdist(f[a], f[j]));
      if (y[j] === y[a]) hp = Math.max(hp, d);
      else hn = Math.min(hn, d);
    }
    if (hp === -Infinity || hn === Infinity) continue;
    tot += Math.max(0, hp - hn + margin);
    n++;
  }
  return n ? tot / n : 0;
}

const B = 6;
const D = 4;
const K = 3;
const Y = [0, 1, 2, 0, 1, 1];
const F = smallValues(B * D, 1);
const C = smallValues(K * D, 2);
/** Class vectors [K, D], rows L2-normalised (for losses that regress onto them). */
const V = rows(smallValues(K * D, 3), D).flatMap((r) => r.map((v) => v / norm(r)));
const classVectors = { dim: D, data: Float32Array.from(V) };

/** tf gradient of loss(f, c) w.r.t. both, as flat arrays. */
function tfGrads(
  loss: (f: tf.Tensor2D, c: tf.Tensor2D) => tf.Scalar,
  f = F,
  c = C,
): { value: number; gf: number[]; gc: number[] } {
  return tf.tidy(() => {
    const ft = tf.tensor2d(f, [f.length / D, D]);
    const ct = tf.tensor2d(c, [c.length / D, D]);
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
      loss(a as tf.Tensor2D, b as tf.Tensor2D),
    )([ft, ct]);
    return { value: value.dataSync()[0], gf: toArray(grads[0]), gc: toArray(grads[1]) };
  });
}

beforeAll(useNativeBackend);

describe('registry', () => {
  it('lists every loss and creates each with defaults', () => {
    expect(new Set(listLosses()).size).toBe(listLosses().length);
    for (const name of listLosses()) {
      const loss = createLoss({ name }, { embeddingDim: D, numClasses: K, totalSteps: 100, classVectors });
      const v = tf.tidy(
        () => loss.compute(tf.tensor2d(F, [B, D]), tf.tensor1d(Y, 'int32'), { step: 0 }).dataSync()[0],
      );
      expect(Number.isFinite(v)).toBe(true);
      loss.store.dispose();
    }
  });

  it('rejects unknown names and options, listing the valid ones', () => {
    expect(() => createLoss({ name: 'memz' as never }, { embeddingDim: 2, numClasses: 2 })).toThrow(
      `unknown loss "memz" (known: ${listLosses().join(', ')})`,
    );
    expect(() => resolveLossOptions({ name: 'mems', marginn: 2 })).toThrow(
      'loss.marginn: unknown option for loss "mems" (known: margin, scale, annealSteps)',
    );
    expect(() => resolveLossOptions({ name: 'mems', margin: 0.5 })).toThrow(/margin must be >= 1/);
  });

  it('resolves defaults as the authors (m 4, s 1; CosFace 0.35/32; ArcFace 0.5/64; anneal = half the steps)', () => {
    expect(resolveLossOptions({ name: 'mems' }, 200000)).toEqual({
      margin: 4,
      scale: 1,
      annealSteps: 100000,
    });
    expect(resolveLossOptions({ name: 'cosface' }, 10)).toEqual({ margin: 0.35, scale: 32, annealSteps: 5 });
    expect(resolveLossOptions({ name: 'arcface', annealSteps: 0 })).toEqual({
      margin: 0.5,
      scale: 64,
      annealSteps: 0,
    });
  });

  it('anneals the margin: MEMS 1 -> m, CosFace 0 -> m', () => {
    const mems = createLoss(
      { name: 'mems', margin: 4, annealSteps: 100 },
      { embeddingDim: D, numClasses: K },
    );
    expect(mems.marginAt?.(0)).toBe(1);
    expect(mems.marginAt?.(50)).toBe(2.5);
    expect(mems.marginAt?.(100)).toBe(4);
    expect(mems.marginAt?.(1000)).toBe(4);
    const cos = createLoss({ name: 'cosface', annealSteps: 10 }, { embeddingDim: D, numClasses: K });
    expect(cos.marginAt?.(5)).toBeCloseTo(0.175, 6);
    expect(annealFactor(3, 0)).toBe(1);
    mems.store.dispose();
    cos.store.dispose();
  });

  it('initialises MEMS centres as L2-normalised vectors', () => {
    const mems = createLoss({ name: 'mems' }, { embeddingDim: 8, numClasses: 5 });
    const c = mems.store.params.get('loss.centres') as tf.Variable;
    const norms = tf.tidy(() => toArray(tf.norm(c, 'euclidean', 1)));
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    mems.store.dispose();
  });
});

describe('MEMS', () => {
  const m = 2.5;
  const s = 0.7;
  it('matches the hand computation and finite differences', () => {
    const r = tfGrads((f, c) =>
      crossEntropy(memsLogits(f, c, tf.tensor1d(Y, 'int32'), m, s), tf.tensor1d(Y, 'int32')),
    );
    expect(Math.abs(r.value - refMems(rows(F, D), rows(C, D), Y, m, s))).toBeLessThan(1e-5);
    const gf = finiteDiff((x) => refMems(rows(x, D), rows(C, D), Y, m, s), F);
    const gc = finiteDiff((x) => refMems(rows(F, D), rows(x, D), Y, m, s), C);
    expect(maxRelErr(r.gf, gf)).toBeLessThan(1e-4);
    expect(maxRelErr(r.gc, gc)).toBeLessThan(1e-4);
  });

  it('with m = 1 is a softmax over negative squared Euclidean distances', () => {
    const v = tf.tidy(() =>
      toArray(memsLogits(tf.tensor2d(F, [B, D]), tf.tensor2d(C, [K, D]), tf.tensor1d(Y, 'int32'), 1, 1)),
    );
    const f = rows(F, D);
    const c = rows(C, D);
    const expected = f.flatMap((fi) => c.map((cj) => -sqdist(fi, cj)));
    expect(maxRelErr(v, expected)).toBeLessThan(1e-5);
  });

  it('multiplies only the true-class distance by m^2', () => {
    const v = tf.tidy(() =>
      toArray(
        memsLogits(
          tf.tensor2d([[1, 0]]),
          tf.tensor2d([
            [0, 0],
            [3, 0],
          ]),
          tf.tensor1d([0], 'int32'),
          4,
          1,
        ),
      ),
    );
    expect(v).toEqual([-16, -4]);
  });

  it('handles a batch of one class', () => {
    const y1 = [1, 1, 1, 1, 1, 1];
    const r = tfGrads((f, c) =>
      crossEntropy(memsLogits(f, c, tf.tensor1d(y1, 'int32'), 4, 1), tf.tensor1d(y1, 'int32')),
    );
    expect(Math.abs(r.value - refMems(rows(F, D), rows(C, D), y1, 4, 1))).toBeLessThan(1e-4);
    expect(r.gf.every(Number.isFinite)).toBe(true);
  });
});

describe('euclidean-softmax', () => {
  it('equals MEMS with margin 1 on fixed inputs: same centres, same loss and gradients at every step', () => {
    const env = { embeddingDim: D, numClasses: K, totalSteps: 100 };
    const base = createLoss({ name: 'euclidean-softmax' }, env); // same Rng(0): same initial centres
    const mems = createLoss({ name: 'mems', margin: 1 }, env);
    const cb = base.store.params.get('loss.centres') as tf.Variable;
    const cm = mems.store.params.get('loss.centres') as tf.Variable;
    expect(toArray(cb)).toEqual(toArray(cm));
    const f = tf.tensor2d(F, [B, D]);
    const y = tf.tensor1d(Y, 'int32');
    for (const step of [0, 50, 1000]) {
      const gb = tf.variableGrads(() => base.compute(f, y, { step }), [cb]);
      const gm = tf.variableGrads(() => mems.compute(f, y, { step }), [cm]);
      expect(gb.value.dataSync()[0]).toBeCloseTo(gm.value.dataSync()[0], 6);
      expect(maxRelErr(toArray(gb.grads[cb.name]!), toArray(gm.grads[cm.name]!))).toBeLessThan(1e-6);
    }
    // and both equal the hand computation of MEMS with m = 1 on the fixed centres C
    const v = tf.tidy(() => crossEntropy(memsLogits(f, tf.tensor2d(C, [K, D]), y, 1, 1), y).dataSync()[0]);
    expect(Math.abs(v - refMems(rows(F, D), rows(C, D), Y, 1, 1))).toBeLessThan(1e-5);
    // a real margin changes the value: the test above can fail
    const m4 = createLoss({ name: 'mems', margin: 4, annealSteps: 0 }, env);
    const v4 = tf.tidy(() => m4.compute(f, y, { step: 0 }).dataSync()[0]);
    const v1 = tf.tidy(() => base.compute(f, y, { step: 0 }).dataSync()[0]);
    expect(Math.abs(v4 - v1)).toBeGreaterThan(1e-3);
    expect(base.marginAt).toBeUndefined();
    for (const l of [base, mems, m4]) l.store.dispose();
    f.dispose();
    y.dispose();
  });
});

describe('CosFace and ArcFace', () => {
  it('CosFace matches the hand computation and finite differences', () => {
    const [m, s] = [0.35, 8];
    const r = tfGrads((f, c) =>
      crossEntropy(cosfaceLogits(f, c, tf.tensor1d(Y, 'int32'), m, s), tf.tensor1d(Y, 'int32')),
    );
    expect(Math.abs(r.value - refCos(rows(F, D), rows(C, D), Y, m, s))).toBeLessThan(1e-4);
    expect(
      maxRelErr(
        r.gf,
        finiteDiff((x) => refCos(rows(x, D), rows(C, D), Y, m, s), F),
      ),
    ).toBeLessThan(1e-3);
    expect(
      maxRelErr(
        r.gc,
        finiteDiff((x) => refCos(rows(F, D), rows(x, D), Y, m, s), C),
      ),
    ).toBeLessThan(1e-3);
  });

  it('ArcFace matches the hand computation and finite differences', () => {
    const [m, s] = [0.5, 8];
    const r = tfGrads((f, c) =>
      crossEntropy(arcfaceLogits(f, c, tf.tensor1d(Y, 'int32'), m, s), tf.tensor1d(Y, 'int32')),
    );
    expect(Math.abs(r.value - refArc(rows(F, D), rows(C, D), Y, m, s))).toBeLessThan(1e-4);
    expect(
      maxRelErr(
        r.gf,
        finiteDiff((x) => refArc(rows(x, D), rows(C, D), Y, m, s), F),
      ),
    ).toBeLessThan(2e-3);
    expect(
      maxRelErr(
        r.gc,
        finiteDiff((x) => refArc(rows(F, D), rows(x, D), Y, m, s), C),
      ),
    ).toBeLessThan(2e-3);
  });

  it('ArcFace uses the monotonic fallback past theta + m > pi', () => {
    // f opposite to its class weight: theta = pi.
    const v = tf.tidy(() =>
      toArray(
        arcfaceLogits(
          tf.tensor2d([[-1, 0]]),
          tf.tensor2d([
            [1, 0],
            [0, 1],
          ]),
          tf.tensor1d([0], 'int32'),
          0.5,
          1,
        ),
      ),
    );
    expect(v[0]).toBeCloseTo(-1 - Math.sin(Math.PI - 0.5) * 0.5, 4);
  });

  it('with margin 0 both reduce to a scaled cosine softmax', () => {
    const a = tf.tidy(() =>
      toArray(cosfaceLogits(tf.tensor2d(F, [B, D]), tf.tensor2d(C, [K, D]), tf.tensor1d(Y, 'int32'), 0, 3)),
    );
    const b = tf.tidy(() =>
      toArray(arcfaceLogits(tf.tensor2d(F, [B, D]), tf.tensor2d(C, [K, D]), tf.tensor1d(Y, 'int32'), 0, 3)),
    );
    expect(maxRelErr(a, b)).toBeLessThan(1e-5);
  });
});

describe('pair losses', () => {
  it('contrastive matches the hand computation and finite differences', () => {
    const margin = 1.2;
    const r = tfGrads(
      (f, c) =>
        tf.add(contrastiveLoss(f, tf.tensor1d(Y, 'int32'), margin), tf.mul(tf.sum(c), 0)) as tf.Scalar,
    );
    expect(Math.abs(r.value - refContrastive(rows(F, D), Y, margin))).toBeLessThan(1e-5);
    expect(
      maxRelErr(
        r.gf,
        finiteDiff((x) => refContrastive(rows(x, D), Y, margin), F),
      ),
    ).toBeLessThan(1e-3);
  });

  it('triplet (batch-hard) matches the hand computation and finite differences', () => {
    const margin = 0.5;
    const r = tfGrads(
      (f, c) =>
        tf.add(tripletBatchHardLoss(f, tf.tensor1d(Y, 'int32'), margin), tf.mul(tf.sum(c), 0)) as tf.Scalar,
    );
    expect(Math.abs(r.value - refTriplet(rows(F, D), Y, margin))).toBeLessThan(1e-5);
    expect(
      maxRelErr(
        r.gf,
        finiteDiff((x) => refTriplet(rows(x, D), Y, margin), F),
      ),
    ).toBeLessThan(1e-3);
  });

  it('give 0 (not NaN) for a batch of one class (triplet) and one sample (contrastive)', () => {
    const y1 = [2, 2, 2, 2, 2, 2];
    const t = tfGrads(
      (f, c) =>
        tf.add(tripletBatchHardLoss(f, tf.tensor1d(y1, 'int32'), 0.5), tf.mul(tf.sum(c), 0)) as tf.Scalar,
    );
    expect(t.value).toBeCloseTo(0, 10);
    expect(t.gf.every((g) => g === 0)).toBe(true);
    const c1 = tfGrads(
      (f, c) => tf.add(contrastiveLoss(f, tf.tensor1d([0], 'int32'), 1), tf.mul(tf.sum(c), 0)) as tf.Scalar,
      F.slice(0, D),
    );
    expect(c1.value).toBeCloseTo(0, 10);
    // contrastive with one class = mean squared pair distance
    const c2 = tfGrads(
      (f, c) => tf.add(contrastiveLoss(f, tf.tensor1d(y1, 'int32'), 1), tf.mul(tf.sum(c), 0)) as tf.Scalar,
    );
    expect(Math.abs(c2.value - refContrastive(rows(F, D), y1, 1))).toBeLessThan(1e-5);
  });

  it('have finite gradients at identical embeddings', () => {
    const same = [...F.slice(0, D), ...F.slice(0, D)];
    const r = tfGrads(
      (f, c) =>
        tf.add(tripletBatchHardLoss(f, tf.tensor1d([0, 1], 'int32'), 0.5), tf.mul(tf.sum(c), 0)) as tf.Scalar,
      same,
    );
    expect(r.gf.every(Number.isFinite)).toBe(true);
    const r2 = tfGrads(
      (f, c) =>
        tf.add(contrastiveLoss(f, tf.tensor1d([0, 1], 'int32'), 0.5), tf.mul(tf.sum(c), 0)) as tf.Scalar,
      same,
    );
    expect(r2.gf.every(Number.isFinite)).toBe(true);
  });
});

describe('classifier losses through the registry', () => {
  function viaRegistry(name: 'softmax' | 'center', opts: Record<string, number> = {}) {
    const loss = createLoss({ name, ...opts }, { embeddingDim: D, numClasses: K });
    const w = Array.from(loss.store.params.get('loss.classifier.weight')!.dataSync());
    const b = Array.from(loss.store.params.get('loss.classifier.bias')!.dataSync());
    const cen = name === 'center' ? Array.from(loss.store.params.get('loss.centres')!.dataSync()) : [];
    const r = tf.tidy(() => {
      const f = tf.tensor2d(F, [B, D]);
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) =>
        loss.compute(x as tf.Tensor2D, tf.tensor1d(Y, 'int32'), { step: 0 }),
      )([f]);
      return { value: value.dataSync()[0], g: toArray(grads[0]) };
    });
    loss.store.dispose();
    return { ...r, w, b, cen };
  }
  const softmaxRef = (f: Mat, w: number[], b: number[]): number =>
    ce(
      f.map((fi) => Array.from({ length: K }, (_, k) => fi.reduce((s, v, d) => s + v * w[d * K + k], b[k]))),
      Y,
    );

  it('softmax = cross-entropy of a linear classifier', () => {
    const r = viaRegistry('softmax');
    expect(Math.abs(r.value - softmaxRef(rows(F, D), r.w, r.b))).toBeLessThan(1e-5);
    expect(
      maxRelErr(
        r.g,
        finiteDiff((x) => softmaxRef(rows(x, D), r.w, r.b), F),
      ),
    ).toBeLessThan(1e-4);
  });

  it('center = softmax + lambda/2 mean ||f - c_y||^2', () => {
    const lambda = 0.3;
    const r = viaRegistry('center', { lambda });
    const ref = (x: number[]): number => {
      const f = rows(x, D);
      const c = rows(r.cen, D);
      return (
        softmaxRef(f, r.w, r.b) +
        (lambda / 2) * (f.reduce((s, fi, i) => s + sqdist(fi, c[Y[i]]), 0) / f.length)
      );
    };
    expect(Math.abs(r.value - ref(F))).toBeLessThan(1e-5);
    expect(maxRelErr(r.g, finiteDiff(ref, F))).toBeLessThan(1e-4);
  });
});

describe('regression (zero-shot baseline)', () => {
  it('is the mean squared distance to the class vector, with its gradient', () => {
    const ref = (f: number[]): number =>
      rows(f, D).reduce((s, fi, i) => s + sqdist(fi, rows(V, D)[Y[i]!]!), 0) / B;
    const { value, grads } = tf.tidy(() => {
      const vt = tf.tensor2d(V, [K, D]);
      const y = tf.tensor1d(Y, 'int32');
      const r = tf.valueAndGrad((f: tf.Tensor) => regressionLoss(f as tf.Tensor2D, vt, y))(
        tf.tensor2d(F, [B, D]),
      );
      return { value: r.value.dataSync()[0]!, grads: toArray(r.grad) };
    });
    expect(value).toBeCloseTo(ref(F), 5);
    expect(maxRelErr(grads, finiteDiff(ref, F))).toBeLessThan(1e-3);
    const loss = createLoss({ name: 'regression' }, { embeddingDim: D, numClasses: K, classVectors });
    const viaRegistry = tf.tidy(
      () => loss.compute(tf.tensor2d(F, [B, D]), tf.tensor1d(Y, 'int32'), { step: 0 }).dataSync()[0]!,
    );
    expect(viaRegistry).toBeCloseTo(ref(F), 5);
    // The vectors are a buffer of the loss's store, never a trained parameter.
    expect([...loss.store.params.keys()]).toEqual([]);
    loss.store.dispose();
  });

  it('needs class vectors whose dim is the embedding dim', () => {
    expect(() => createLoss({ name: 'regression' }, { embeddingDim: D, numClasses: K })).toThrow(
      /^loss\.name: regression needs class vectors/,
    );
    expect(() =>
      createLoss({ name: 'regression' }, { embeddingDim: D + 1, numClasses: K, classVectors }),
    ).toThrow(`model.embeddingDim: ${D + 1}, but loss regression needs the class vectors' dim ${D}`);
    expect(() =>
      createLoss({ name: 'regression' }, { embeddingDim: D, numClasses: K + 1, classVectors }),
    ).toThrow(/^classVectors: 12 values of dim 4, expected model\.numClasses \(4\) rows/);
  });
});
