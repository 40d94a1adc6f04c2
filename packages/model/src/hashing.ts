/**
 * Post-hoc binary codes as the authors make them (`tester.py`, `HashTester.train_mapping`): after
 * training, a spectral-normalised Linear map (embedding -> bits) is trained on the class centres
 * alone so that their relaxed codes are mutually decorrelated; a feature's code is then
 * sign(W_sn f + b) (bit = 1 where positive).
 *
 *   c_k  = (W / sigma(W)) mu_k + b                 sigma: largest singular value (one power iteration per step)
 *   z_k  = c_k / (|c_k| + 1e-8)                    denominator without gradient (sign with a straight-through slope)
 *   loss = mean over k != l of z_k . z_l
 * Adam, lr 1e-3 decayed linearly to 0 (updated every 100 steps), 10,000 steps, as the authors.
 *
 * With `distance: 'angular'` (tester.py with --test_distance angular) the centres are L2-normalised
 * before the fit (train_mapping) and `encode` L2-normalises every feature before coding
 * (HashTester.vectors). The features to code are, in tester.py, the mean of each image's features and
 * its flip's (HashTester.vectors: `real_value_vec.mean(dim=-1)`, then normalised): `flipMeanFeatures`.
 *
 * An alternative to the code head trained with the network (`ModelConfig.hashBits`); not used by the
 * trainer unless the caller asks for it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { RetrievalDistance, normalizeRows } from './metrics';
import { detach } from './ops';
import { Optimizer } from './optim';
import { Rng } from './rng';

export interface CentreHashOptions {
  steps?: number;
  lr?: number;
  seed?: number;
  /** 'angular': centres and coded features L2-normalised (default 'euclidean': as given). */
  distance?: RetrievalDistance;
}

/** Mean of the features of the images and of their flips (what tester.py hashes); `flipped` absent: the features. */
export function flipMeanFeatures(features: Float32Array, flipped?: Float32Array): Float32Array {
  if (!flipped) return features;
  if (flipped.length !== features.length)
    throw new Error(`flipped: length ${flipped.length} differs from features' ${features.length}`);
  return Float32Array.from(features, (v, i) => (v + flipped[i]) / 2);
}

export interface CentreHash {
  bits: number;
  dim: number;
  /** Effective (spectral-normalised) weight [dim, bits], row-major, and bias [bits]. */
  weight: Float32Array;
  bias: Float32Array;
  /** Loss (mean off-diagonal inner product of the relaxed codes) at the start and the end. */
  lossStart: number;
  lossEnd: number;
  /** n x bits codes, one byte (0/1) per bit, for n x dim features. */
  encode(features: Float32Array): Uint8Array;
}

export function trainCentreHash(
  centres: Float32Array,
  numClasses: number,
  dim: number,
  bits: number,
  opts: CentreHashOptions = {},
): CentreHash {
  if (centres.length !== numClasses * dim)
    throw new Error(`centres: length ${centres.length} is not numClasses * dim = ${numClasses} * ${dim}`);
  if (numClasses < 2) throw new Error('trainCentreHash needs at least two classes');
  const angular = opts.distance === 'angular';
  const fitted = angular ? normalizeRows(centres, dim) : centres;
  const steps = opts.steps ?? 10000;
  const lr0 = opts.lr ?? 1e-3;
  const rng = new Rng(opts.seed ?? 0);
  const bound = 1 / Math.sqrt(dim);
  const [w, b] = tf.tidy((): tf.Variable[] => [
    tf.variable(tf.tensor2d(rng.uniformArray(dim * bits, bound), [dim, bits])),
    tf.variable(tf.tensor1d(rng.uniformArray(bits, bound))),
  ]);
  let u = tf.keep(tf.tensor2d(rng.normalArray(bits), [bits, 1]));
  const mu = tf.tensor2d(fitted, [numClasses, dim]);
  const opt = new Optimizer(
    { name: 'adam', lr: lr0, totalSteps: Math.max(steps, 1) },
    [
      {
        vars: new Map<string, tf.Variable>([
          ['w', w],
          ['b', b],
        ]),
        weightDecay: 0,
      },
    ],
    { fused: false },
  );
  const k = numClasses;
  const normalise = (t: tf.Tensor2D): tf.Tensor2D => tf.div(t, tf.add(tf.norm(t), 1e-12)) as tf.Tensor2D;
  /** One power iteration on W^T ([bits, dim]); returns sigma (no gradient through u, v). */
  const sigmaOf = (wt: tf.Tensor2D, update: boolean): tf.Scalar => {
    const wd = tf.tensor2d(wt.dataSync() as Float32Array, wt.shape); // constant copy for u, v
    const v = normalise(tf.matMul(wd, u, true, false)); // [dim, 1]
    const uNew = normalise(tf.matMul(wd, v)); // [bits, 1]
    if (update) {
      u.dispose();
      u = tf.keep(uNew.clone());
    }
    return tf.sum(tf.mul(uNew, tf.matMul(wt, v))) as tf.Scalar;
  };
  const lossOf = (update: boolean): tf.Scalar => {
    const wt = tf.transpose(w) as tf.Tensor2D; // [bits, dim]
    const sigma = sigmaOf(wt, update);
    const c = tf.add(tf.matMul(mu, tf.div(w, sigma) as tf.Tensor2D), b) as tf.Tensor2D; // [K, bits]
    const z = tf.div(c, tf.add(detach(tf.abs(c)), 1e-8));
    const total = tf.sum(tf.square(tf.sum(z, 0)));
    const diag = tf.sum(tf.square(z));
    return tf.div(tf.sub(total, diag), k * (k - 1)) as tf.Scalar;
  };
  let lossStart = NaN;
  let lossEnd = NaN;
  try {
    for (let step = 0; step < steps; step++) {
      const lr = lr0 * (1 - (Math.floor(step / 100) * 100) / steps);
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => lossOf(true), [w, b]);
        if (step === 0) lossStart = value.dataSync()[0];
        opt.apply(
          new Map([
            ['w', grads[w.name]],
            ['b', grads[b.name]],
          ]),
          lr,
        );
      });
    }
    lossEnd = tf.tidy(() => lossOf(false).dataSync()[0]);
    const weight = tf.tidy(() => {
      const wt = tf.transpose(w) as tf.Tensor2D;
      return tf.div(w, sigmaOf(wt, false));
    });
    const wArr = weight.dataSync() as Float32Array;
    weight.dispose();
    const bArr = Float32Array.from(b.dataSync() as Float32Array);
    return {
      bits,
      dim,
      weight: Float32Array.from(wArr),
      bias: bArr,
      lossStart,
      lossEnd,
      encode(features: Float32Array): Uint8Array {
        if (features.length % dim !== 0)
          throw new Error(`features: length ${features.length} is not a multiple of dim ${dim}`);
        const n = features.length / dim;
        const x = angular ? normalizeRows(features, dim) : features;
        const out = new Uint8Array(n * bits);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < bits; j++) {
            let s = bArr[j];
            for (let d = 0; d < dim; d++) s += x[i * dim + d] * wArr[d * bits + j];
            out[i * bits + j] = s > 0 ? 1 : 0;
          }
        }
        return out;
      },
    };
  } finally {
    [w, b, u, mu].forEach((t) => t.dispose());
    opt.dispose();
  }
}
