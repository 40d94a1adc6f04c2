import * as tf from '@tensorflow/tfjs-core';
import { flipMeanFeatures, trainCentreHash } from '../src/hashing';
import { Rng } from '../src/rng';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

describe('post-hoc centre hashing (authors)', () => {
  it('decorrelates the codes of the class centres and encodes features by sign', () => {
    const k = 8;
    const dim = 16;
    const bits = 8;
    const rng = new Rng(4);
    // correlated centres: a shared offset plus small class-specific parts
    const shared = rng.normalArray(dim);
    const centres = Float32Array.from({ length: k * dim }, (_, i) => shared[i % dim] + 0.3 * rng.normal());
    const before = tf.memory().numTensors;
    const h = trainCentreHash(centres, k, dim, bits, { steps: 600, lr: 1e-2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.lossEnd).toBeLessThan(h.lossStart);
    expect(h.lossEnd).toBeLessThan(0.2 * bits);
    const codes = h.encode(centres);
    expect(codes.length).toBe(k * bits);
    expect(
      new Set(Array.from({ length: k }, (_, i) => codes.slice(i * bits, (i + 1) * bits).join(''))).size,
    ).toBeGreaterThan(k / 2);
    // encode = sign(W f + b)
    const f = centres.subarray(0, dim);
    for (let j = 0; j < bits; j++) {
      let s = h.bias[j];
      for (let d = 0; d < dim; d++) s += f[d] * h.weight[d * bits + j];
      expect(codes[j]).toBe(s > 0 ? 1 : 0);
    }
  });

  it('angular (tester.py): centres normalised for the fit, features normalised and flip-averaged for the codes', () => {
    const [k, dim, bits] = [6, 8, 12];
    const rng = new Rng(8);
    const unit = Float32Array.from({ length: k * dim }, () => rng.normal());
    for (let i = 0; i < k; i++) {
      const row = unit.subarray(i * dim, (i + 1) * dim);
      const norm = Math.hypot(...row);
      row.forEach((v, d) => (row[d] = v / norm));
    }
    // the same directions with norms 0.5 .. 3: under angular the fit must not see the norms
    const scaled = Float32Array.from(unit, (v, i) => v * (0.5 + Math.floor(i / dim) * 0.5));
    const opts = { steps: 50, lr: 1e-2, seed: 3 };
    const a = trainCentreHash(scaled, k, dim, bits, { ...opts, distance: 'angular' });
    const e = trainCentreHash(unit, k, dim, bits, opts);
    // float32 rounding of the norms, through 50 Adam steps, differs by processor (up to 8e-4 on an AMD
    // EPYC with oneDNN): the fit ignores the norms when it stays far below what the norms do without it
    const maxDiff = (x: Float32Array, y: Float32Array) =>
      Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i])));
    expect(maxDiff(a.weight, e.weight)).toBeLessThan(2e-3);
    const scaledEuclid = trainCentreHash(scaled, k, dim, bits, opts);
    expect(maxDiff(scaledEuclid.weight, e.weight)).toBeGreaterThan(10 * maxDiff(a.weight, e.weight));

    // codes of the flip-mean feature, normalised: sign(W (m / |m|) + b) with m = (f + f_flip) / 2
    const n = 5;
    const f = Float32Array.from({ length: n * dim }, () => rng.normal());
    const ff = Float32Array.from({ length: n * dim }, () => rng.normal());
    const codes = a.encode(flipMeanFeatures(f, ff));
    for (let i = 0; i < n; i++) {
      const m = Array.from({ length: dim }, (_, d) => (f[i * dim + d] + ff[i * dim + d]) / 2);
      const norm = Math.hypot(...m);
      for (let j = 0; j < bits; j++) {
        let s = a.bias[j];
        for (let d = 0; d < dim; d++) s += (m[d] / norm) * a.weight[d * bits + j];
        expect(codes[i * bits + j]).toBe(s > 0 ? 1 : 0);
      }
    }
    expect(flipMeanFeatures(f)).toBe(f); // no flip test: the features as they are
  });
});
