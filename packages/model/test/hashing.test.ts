import * as tf from '@tensorflow/tfjs-core';
import { trainCentreHash } from '../src/hashing';
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
});
