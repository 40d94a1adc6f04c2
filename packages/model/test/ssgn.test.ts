/**
 * SSGN (kinds/ssgn.ts): output shapes per domain and decoder, gradients on every parameter (and the
 * extractor's only from the metric loss when detached), training lowers the loss, determinism,
 * checkpoint round trip with resume-safe noise, and option errors that name the key.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { SSGN_DECODERS, SsgnOptionsSchema, classMeanWeights } from '../src/kinds/ssgn';
import { ClassVectors } from '../src/kinds/types';
import { Rng, keyedRng } from '../src/rng';
import { TrainBatch, LearnerConfig, createLearner } from '../src/learner';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const SIZE = 32;
const K = 4;
const DIM = 16;
const VDIM = 6;

/** Seeded L2-normalised class vectors [K, VDIM]. */
function classVectors(seed = 3, k = K, dim = VDIM): ClassVectors {
  const data = new Rng(seed).normalArray(k * dim);
  for (let i = 0; i < k; i++) {
    const row = data.subarray(i * dim, (i + 1) * dim);
    const n = Math.hypot(...row);
    for (let j = 0; j < dim; j++) row[j]! /= n;
  }
  return { dim, data };
}

/** Class k = a bright bar at a class-specific column; pairs (sketch, photo) share a label. */
function syntheticBatch(n: number, seed: number): TrainBatch {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * SIZE * SIZE * 3);
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2) % K);
  const domains = Uint8Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) {
    const cx = Math.floor(((labels[i]! + 0.5) / K) * SIZE);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        const on = Math.abs(x - cx) < (domains[i] ? 4 : 2) && y > SIZE / 4 && y < (3 * SIZE) / 4;
        for (let c = 0; c < 3; c++) images[((i * SIZE + y) * SIZE + x) * 3 + c] = on ? 230 : 20 + rng.int(20);
      }
  }
  return { images, labels, domains, n, height: SIZE, width: SIZE };
}

const config = (ssgn: Record<string, unknown> = {}, over: Partial<LearnerConfig> = {}): LearnerConfig => ({
  model: {
    kind: 'ssgn',
    ssgn: { fusionDim: 8, hiddenDim: 32, noiseDim: 4, ...ssgn },
    backbone: 'resnet-tiny',
    block: 'dase',
    width: 8,
    inputSize: SIZE,
    embeddingDim: DIM,
    numClasses: K,
  },
  loss: { name: 'softmax' },
  optimizer: { name: 'adam', lr: 1e-3, totalSteps: 100 },
  seed: 0,
  classVectors: classVectors(),
  ...over,
});

/** The network input of a batch (plain scaling; the gradient tests need no input pipeline). */
const inputOf = (b: TrainBatch): tf.Tensor4D =>
  tf.tensor4d(
    Float32Array.from(b.images, (v) => v / 255 - 0.5),
    [b.n, SIZE, SIZE, 3],
  );

describe('SSGN forward', () => {
  it.each(SSGN_DECODERS)(
    'decoder %s: embeddingDim features for both domains; photos real, sketches synthesised',
    (decoder) => {
      const base = config({ decoder });
      const tr = createLearner({ ...base, model: { ...base.model, block: 'se' } });
      const b = syntheticBatch(8, 1);
      const mixed = tr.embed(b);
      expect(mixed.dim).toBe(DIM);
      expect(mixed.embedding.length).toBe(8 * DIM);
      expect(mixed.embedding.every(Number.isFinite)).toBe(true);
      // With an SE block (no domain input) the real feature does not depend on the domain, so the
      // same images all marked as photos give the real features: photo rows equal, sketch rows not.
      const real = tr.embed({ ...b, domains: new Uint8Array(8).fill(1) }).embedding;
      for (let i = 0; i < 8; i++) {
        const a = Array.from(mixed.embedding.subarray(i * DIM, (i + 1) * DIM));
        const r = Array.from(real.subarray(i * DIM, (i + 1) * DIM));
        if (b.domains[i]) expect(a).toEqual(r);
        else expect(a).not.toEqual(r);
      }
      const step = tr.trainStep(b);
      const expected = [
        'classification',
        'metric',
        'regression',
        ...(decoder === 'fine' ? [] : ['semantic']),
      ];
      expect(Object.keys(step.terms ?? {}).sort()).toEqual(expected);
      expect(Object.values(step.terms!).every(Number.isFinite)).toBe(true);
      expect(tr.model.getConfig()).toMatchObject({
        kind: 'ssgn',
        ssgn: { decoder },
        fusionStages: [1, 2, 3, 4],
        classVectorDim: decoder === 'fine' ? null : VDIM,
      });
      tr.dispose();
    },
  );

  it('no fusion uses the last stage only; nearest-class snaps the condition to a class vector', () => {
    const tr = createLearner(config({ fusion: false, testSemantic: 'nearest-class' }));
    expect(tr.model.getConfig().fusionStages).toEqual([4]);
    const names = [...tr.model.store.params.keys()].filter((n) => n.startsWith('ssgn.fusion.'));
    expect(names.sort()).toEqual([
      'ssgn.fusion.out.bias',
      'ssgn.fusion.out.weight',
      'ssgn.fusion.stage4.bias',
      'ssgn.fusion.stage4.weight',
    ]);
    const e = tr.embed(syntheticBatch(6, 2)).embedding;
    expect(e.length).toBe(6 * DIM);
    expect(e.every(Number.isFinite)).toBe(true);
    tr.dispose();
  });
});

/** Gradients of `which` (total, extra: the kind's own terms) for every model parameter. */
function modelGrads(tr: ReturnType<typeof createLearner>, which: 'total' | 'extra'): Map<string, number[]> {
  const b = syntheticBatch(8, 4);
  const params = [...tr.model.store.params];
  const out = new Map<string, number[]>();
  tf.tidy(() => {
    const x = inputOf(b);
    const domain = tf.tensor1d(Float32Array.from(b.domains));
    const labels = tf.tensor1d(b.labels, 'int32');
    const { grads } = tf.variableGrads(
      () => {
        const out = tr.model.trainForward(x, { domain, labels, step: 0, loss: tr.loss });
        if (which === 'extra') return out.extraLoss!;
        return tf.add(tr.loss.compute(out.embedding, labels, { step: 0 }), out.extraLoss!) as tf.Scalar;
      },
      params.map(([, v]) => v),
    );
    for (const [n, v] of params) out.set(n, Array.from(grads[v.name]?.dataSync() ?? []));
  });
  return out;
}

const nonZero = (g: number[] | undefined): boolean =>
  !!g && g.length > 0 && g.every(Number.isFinite) && g.some((v) => v !== 0);

describe('SSGN gradients', () => {
  it.each(SSGN_DECODERS)('decoder %s, detachFeatures false: every parameter gets a gradient', (decoder) => {
    const tr = createLearner(config({ decoder, detachFeatures: false }));
    const g = modelGrads(tr, 'total');
    for (const [name, v] of g) expect([name, nonZero(v)]).toEqual([name, true]);
    // The decoder's own terms alone reach the extractor when it is not detached.
    const extra = modelGrads(tr, 'extra');
    expect(nonZero(extra.get('ssgn.fusion.out.weight'))).toBe(true);
    tr.dispose();
  });

  it('detachFeatures true: the extractor gets gradients from the metric loss only', () => {
    const tr = createLearner(config());
    const total = modelGrads(tr, 'total');
    for (const [name, v] of total) expect([name, nonZero(v)]).toEqual([name, true]);
    const extra = modelGrads(tr, 'extra');
    const extractor = [...extra.keys()].filter(
      (n) => n.startsWith('backbone.') || n.startsWith('ssgn.fusion.'),
    );
    expect(extractor.length).toBeGreaterThan(10);
    for (const n of extractor) expect([n, nonZero(extra.get(n))]).toEqual([n, false]);
    for (const n of ['ssgn.semantic.weight', 'ssgn.coarse.fc1.weight', 'ssgn.fine.fc2.weight'])
      expect([n, nonZero(extra.get(n))]).toEqual([n, true]);
    tr.dispose();
  });
});

describe('SSGN training', () => {
  it('lowers the total loss over 30 steps on a tiny set', () => {
    const tr = createLearner(
      config(
        {},
        { loss: { name: 'mems', annealSteps: 0 }, optimizer: { name: 'adam', lr: 3e-3, totalSteps: 30 } },
      ),
    );
    const b = syntheticBatch(16, 5);
    const losses = Array.from({ length: 30 }, () => tr.trainStep(b).loss);
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));
    tr.dispose();
  });

  it('keeps the number of live tensors constant across steps and embeddings', () => {
    const tr = createLearner(config({ testSemantic: 'nearest-class' }));
    const b = syntheticBatch(8, 3);
    tr.trainStep(b, { augment: true });
    tr.embed(b, { flip: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tr.trainStep(b, { augment: i % 2 === 0 });
      tr.embed(b, { flip: i % 2 === 1 });
    }
    expect(tf.memory().numTensors).toBe(before);
    tr.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('two runs with the same seed give identical losses, terms and embeddings', () => {
    const run = () => {
      const tr = createLearner(config());
      const b = syntheticBatch(8, 6);
      const steps = Array.from({ length: 4 }, () => tr.trainStep(b, { augment: true }));
      const e = tr.embed(b, { flip: true });
      tr.dispose();
      return { steps, e };
    };
    const a = run();
    const b = run();
    expect(b.steps).toEqual(a.steps);
    expect(b.e).toEqual(a.e);
  });

  it('checkpoint round trip: same embeddings, and the next step (its noise included) is the same', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-ssgn-'));
    const b = syntheticBatch(8, 7);
    const tr = createLearner(config());
    for (let i = 0; i < 3; i++) tr.trainStep(b);
    await tr.saveCheckpoint(dir);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'tensors.json'), 'utf8')) as {
      meta: { config: { classVectors: unknown } };
    };
    expect(manifest.meta.config.classVectors).toEqual({ dim: VDIM, rows: K });
    const restored = createLearner({ ...config(), seed: 0 });
    await restored.loadCheckpoint(dir);
    expect(restored.step).toBe(3);
    expect(restored.embed(b).embedding).toEqual(tr.embed(b).embedding);
    expect(restored.trainStep(b)).toEqual(tr.trainStep(b));
    tr.dispose();
    restored.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('SSGN options and errors', () => {
  it('every option has its default in the schema', () => {
    expect(SsgnOptionsSchema.parse({})).toEqual({
      fusion: true,
      fusionDim: 64,
      hiddenDim: 256,
      noiseDim: 16,
      noiseStd: 1,
      decoder: 'coarse-fine',
      testSemantic: 'predicted',
      detachFeatures: true,
      regressionWeight: 1,
      classificationWeight: 1,
      semanticWeight: 1,
    });
  });

  it.each([
    [{ fusionDm: 3 }, /^model\.ssgn\.fusionDm: unknown key "fusionDm" \(known: fusion, fusionDim, /],
    [{ fusionDim: 0 }, /^model\.ssgn\.fusionDim: /],
    [
      { decoder: 'fancy' },
      /^model\.ssgn\.decoder: unknown decoder "fancy" \(known: coarse-fine, coarse, fine\)/,
    ],
    [{ noiseStd: -1 }, /^model\.ssgn\.noiseStd: /],
  ])('%j is an error naming the key', (ssgn, message) => {
    expect(() => createLearner(config(ssgn))).toThrow(message);
  });

  it('needs class vectors (except fine only), of numClasses rows; no code head', () => {
    const before = tf.memory().numTensors;
    expect(() => createLearner(config({}, { classVectors: undefined }))).toThrow(
      /^model\.kind: ssgn with decoder coarse-fine needs class vectors/,
    );
    createLearner(config({ decoder: 'fine' }, { classVectors: undefined })).dispose();
    expect(() => createLearner(config({}, { classVectors: classVectors(3, K + 1) }))).toThrow(
      /^classVectors: 30 values of dim 6, expected model\.numClasses \(4\) rows/,
    );
    expect(() => createLearner(config({}, { model: { ...config().model, hashBits: 8 } }))).toThrow(
      /^model\.hashBits: /,
    );
    // Refused configs leave no variables behind.
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('SSGN helpers', () => {
  it('regression targets: class means of the batch photos, sketches without a photo masked', () => {
    const { weights, mask } = classMeanWeights([0, 1, 2], [0, 0, 1, 3]);
    expect(Array.from(mask)).toEqual([1, 1, 0]);
    expect(Array.from(weights)).toEqual([0.5, 0.5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('keyed noise: the same (seed, step) draws the same, another step or seed differs', () => {
    const draw = (seed: number, step: number) => Array.from(keyedRng(seed, step).normalArray(8));
    expect(draw(1, 5)).toEqual(draw(1, 5));
    expect(draw(1, 6)).not.toEqual(draw(1, 5));
    expect(draw(2, 5)).not.toEqual(draw(1, 5));
  });
});
