/**
 * Training steps as TensorFlow graphs (graph/): every registered backbone x block, model kind and loss
 * either runs through its graph or falls back to eager steps with a reason, and in both cases trains
 * to the same losses and parameters as stepMode eager (ResourceApplyAdam, kernel by kernel) within
 * float32 rounding of reordered kernels; the SavedModel encoding is checked against TensorFlow itself.
 */
import * as tf from '@tensorflow/tfjs-core';
import { listBackbones } from '../src/backbones';
import { listBlocks } from '../src/blocks';
import { DT } from '../src/graph/proto';
import { GraphSession } from '../src/graph/session';
import { listModelKinds } from '../src/kinds/registry';
import { listLosses, LossName } from '../src/losses';
import { ModelConfig } from '../src/model';
import { Rng } from '../src/rng';
import { Learner, TrainBatch, LearnerConfig, createLearner } from '../src/learner';
import { smallValues, useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const SIZE = 32;
const K = 3;
const classVectors = { dim: 5, data: new Rng(1).normalArray(K * 5).map((v) => v / Math.sqrt(5)) };

function batch(n: number, seed: number): TrainBatch {
  return {
    images: Uint8Array.from(smallValues(n * SIZE * SIZE * 3, seed), (v) => Math.floor((v + 1) * 127)),
    n,
    height: SIZE,
    width: SIZE,
    labels: Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2) % K),
    domains: Uint8Array.from({ length: n }, (_, i) => i % 2),
  };
}

type Optim = LearnerConfig['optimizer']['name'];

const config = (
  model: Partial<ModelConfig>,
  loss: LossName,
  stepMode: 'graph' | 'eager',
  optimizer: Optim,
): LearnerConfig => ({
  model: {
    backbone: 'resnet-tiny',
    block: 'dase',
    width: 8,
    inputSize: SIZE,
    embeddingDim: 8,
    numClasses: K,
    ...model,
  },
  loss: { name: loss, ...(loss === 'mems' || loss === 'arcface' ? { annealSteps: 4 } : {}) },
  optimizer: { name: optimizer, lr: 1e-2, weightDecay: 1e-4, schedule: 'cosine', totalSteps: 6 },
  seed: 5,
  classVectors,
  stepMode,
});

function params(t: Learner): Float32Array[] {
  return [...t.model.store.params.values(), ...t.model.store.buffers.values()].map((v) =>
    Float32Array.from(v.dataSync() as Float32Array),
  );
}

function maxAbs(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

/**
 * Trains `steps` steps both ways on the same batches. Returns how the graph trainer ran, the largest
 * relative loss difference, and the largest parameter difference relative to the largest change the
 * eager steps made (so a wrong update cannot hide under a small learning rate).
 */
function compare(model: Partial<ModelConfig>, loss: LossName, optimizer: Optim = 'adam', steps = 3) {
  const g = createLearner(config(model, loss, 'graph', optimizer));
  const e = createLearner(config(model, loss, 'eager', optimizer));
  const start = params(e);
  let lossDiff = 0;
  try {
    for (let s = 0; s < steps; s++) {
      const b = batch(8, 11 + s);
      const lg = g.trainStep(b).loss;
      const le = e.trainStep(b).loss;
      lossDiff = Math.max(lossDiff, Math.abs(lg - le) / Math.max(1, Math.abs(le)));
    }
    const end = params(e);
    return { status: g.stepStatus(), lossDiff, paramDiff: maxAbs(params(g), end) / maxAbs(end, start) };
  } finally {
    g.dispose();
    e.dispose();
  }
}

/**
 * Float32 rounding of reordered kernels (Grappler's fusions, Adam in element-wise ops): losses within
 * 1e-3 relative, parameters within 1% of the change the steps made (a wrong update formula or a lost
 * assignment is off by the whole change). Deep nets on 8 images of 32 px are chaotic: two runs that
 * differ by rounding part after two updates (measured: 1e-5 relative after the first, 1-8 % after the
 * second), and Adam's first steps move every parameter by about +-lr whatever its gradient's size, so
 * rounding flips the sign of near-zero gradients' updates. The backbones therefore run one SGD step
 * (its loss checks the forward graph, the parameters after it the gradients and the update); Adam
 * runs three steps on resnet-tiny with every loss and model kind.
 */
const TOL = 1e-3;
const PARAM_TOL = 1e-2;

describe('graph step vs eager step', () => {
  const combos = listBackbones().flatMap((b) => listBlocks().map((k) => [b, k] as const));
  it.each(combos)(
    'backbone %s with block %s runs as a graph and matches eager (SGD, one step)',
    (backbone, block) => {
      const r = compare({ backbone, block, width: 16 }, 'softmax', 'sgd', 1);
      expect(r.status).toEqual({ mode: 'graph' });
      expect(r.lossDiff).toBeLessThan(TOL);
      expect(r.paramDiff).toBeLessThan(PARAM_TOL);
    },
  );

  it.each(listLosses())('loss %s runs as a graph and matches eager', (loss) => {
    // regression maps the embedding onto the class vectors: the embedding has their dimension.
    const r = compare(loss === 'regression' ? { embeddingDim: classVectors.dim } : {}, loss);
    expect(r.status).toEqual({ mode: 'graph' });
    expect(r.lossDiff).toBeLessThan(TOL);
    expect(r.paramDiff).toBeLessThan(PARAM_TOL);
  });

  it.each(listModelKinds())(
    'model kind %s runs as a graph or falls back with a reason, and matches eager',
    (kind) => {
      const r = compare({ kind } as Partial<ModelConfig>, 'mems');
      expect(r.status).not.toBeNull();
      if (r.status?.mode === 'eager') expect(r.status.reason).toMatch(/\w/);
      expect(r.lossDiff).toBeLessThan(TOL);
      expect(r.paramDiff).toBeLessThan(PARAM_TOL);
    },
  );
});

describe('SavedModel encoding (proto.ts) read by TensorFlow', () => {
  it('runs a hand-built graph: Placeholder, Const, int list and bool attributes, a second output', () => {
    const c = new Float32Array([1, 2, 3, 4, 5, 6]);
    const session = new GraphSession([
      {
        name: 'x',
        op: 'Placeholder',
        input: [],
        attr: { dtype: { type: DT.float }, shape: { shape: [2, 3] } },
      },
      {
        name: 'c',
        op: 'Const',
        input: [],
        attr: {
          dtype: { type: DT.float },
          value: { tensor: { dtype: DT.float, shape: [2, 3], content: new Uint8Array(c.buffer) } },
        },
      },
      {
        name: 'm',
        op: 'MatMul',
        input: ['x', 'c'],
        attr: { T: { type: DT.float }, transpose_b: { b: true } },
      },
      {
        name: 'u',
        op: 'Unpack',
        input: ['m'],
        attr: { T: { type: DT.float }, num: { i: 2 }, axis: { i: 0 } },
      },
      {
        name: 'p',
        op: 'MaxPool',
        input: ['x4'],
        attr: {
          T: { type: DT.float },
          ksize: { list: { i: [1, 1, 3, 1] } },
          strides: { list: { i: [1, 1, 1, 1] } },
          padding: { s: 'VALID' },
        },
      },
      {
        name: 'x4',
        op: 'Reshape',
        input: ['x', 's'],
        attr: { T: { type: DT.float }, Tshape: { type: DT.int32 } },
      },
      {
        name: 's',
        op: 'Const',
        input: [],
        attr: {
          dtype: { type: DT.int32 },
          value: {
            tensor: {
              dtype: DT.int32,
              shape: [4],
              content: new Uint8Array(new Int32Array([1, 2, 3, 1]).buffer),
            },
          },
        },
      },
    ]);
    try {
      const x = tf.tensor2d([1, 0, 0, 0, 1, 2], [2, 3]);
      const [row1, pooled] = session.run(['x'], [x], ['u:1', 'p:0']);
      // x @ c^T: row 2 = [0 1 + 1 2 + 2 3, 0 4 + 1 5 + 2 6] = [8, 17]; max over 3 columns: [1, 2].
      expect(Array.from(row1!.dataSync())).toEqual([8, 17]);
      expect(Array.from(pooled!.dataSync())).toEqual([1, 2]);
      tf.dispose([x, row1!, pooled!]);
    } finally {
      session.dispose();
    }
  });
});
