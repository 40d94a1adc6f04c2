import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { listLosses } from '../src/losses';
import { learningRate } from '../src/optim';
import { Rng } from '../src/rng';
import { LearnerConfig, createLearner } from '../src/learner';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-model-'));

/** Synthetic batch: class k is a bright square at a class-specific place, sketches drawn thinner. */
function syntheticBatch(n: number, size: number, classes: number, seed: number) {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * size * size * 3);
  const labels = new Int32Array(n);
  const domains = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = rng.int(classes);
    labels[i] = k;
    domains[i] = i % 2;
    const cx = Math.floor(((k + 0.5) / classes) * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const on = Math.abs(x - cx) < (domains[i] ? 4 : 2) && y > size / 4 && y < (3 * size) / 4;
        for (let c = 0; c < 3; c++) images[((i * size + y) * size + x) * 3 + c] = on ? 230 : 20 + rng.int(20);
      }
    }
  }
  return { images, labels, domains, n, height: size, width: size };
}

const baseConfig = (over: Partial<LearnerConfig> = {}): LearnerConfig => ({
  model: {
    backbone: 'resnet-tiny',
    block: 'dase',
    width: 8,
    inputSize: 32,
    embeddingDim: 16,
    hashBits: 8,
    numClasses: 4,
  },
  loss: { name: 'mems', margin: 2 },
  optimizer: { name: 'adam', lr: 1e-3, weightDecay: 1e-4, schedule: 'half-constant-linear', totalSteps: 100 },
  seed: 0,
  ...over,
});

describe('learning-rate schedules', () => {
  it('constant, half-constant-then-linear (authors) and cosine', () => {
    const cfg = { lr: 1, totalSteps: 100 };
    expect(learningRate({ ...cfg, schedule: 'constant' }, 70)).toBe(1);
    expect(learningRate({ ...cfg, schedule: 'half-constant-linear' }, 50)).toBe(1);
    expect(learningRate({ ...cfg, schedule: 'half-constant-linear' }, 75)).toBeCloseTo(0.5, 12);
    expect(learningRate({ ...cfg, schedule: 'half-constant-linear' }, 100)).toBe(0);
    expect(learningRate({ ...cfg, schedule: 'cosine' }, 50)).toBeCloseTo(0.5, 12);
    expect(learningRate({ ...cfg, schedule: 'cosine' }, 0)).toBe(1);
  });
});

describe('learner', () => {
  it('keeps the number of live tensors constant across steps, augmentation and embedding', () => {
    const tr = createLearner(baseConfig());
    const batch = syntheticBatch(8, 40, 4, 1);
    tr.trainStep(batch, { augment: true });
    tr.embed(batch, { flip: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      tr.trainStep(batch, { augment: i % 2 === 0 });
      tr.embed(batch, { flip: i % 2 === 1 });
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(tr.step).toBe(21);
    const n = tf.memory().numTensors;
    tr.dispose();
    expect(tf.memory().numTensors).toBeLessThan(n);
  });

  it('embed returns features, flipped features and 0/1 codes', () => {
    // `authors` test sketches: resize to int(1.1 * 32) = 35 and centre-crop 32, 2 px left, 1 px right
    // (torchvision's rounding): a flip of that crop is not the crop of the flip. 1.125: 36, 2 + 2.
    const tr = createLearner(baseConfig({ input: { name: 'authors', testSketchScale: 1.125 } }));
    const batch = syntheticBatch(5, 32, 4, 2);
    const e = tr.embed(batch, { flip: true });
    expect(e.dim).toBe(16);
    expect(e.embedding.length).toBe(5 * 16);
    expect(e.flipped?.length).toBe(5 * 16);
    expect(e.bits).toBe(8);
    expect(e.code?.length).toBe(5 * 8);
    expect(Array.from(e.code ?? []).every((b) => b === 0 || b === 1)).toBe(true);
    // Features of the flipped image = the flipped features.
    const flippedImages = new Uint8Array(batch.images.length);
    const s = 32;
    for (let i = 0; i < 5; i++)
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++)
          for (let c = 0; c < 3; c++)
            flippedImages[((i * s + y) * s + x) * 3 + c] =
              batch.images[((i * s + y) * s + (s - 1 - x)) * 3 + c];
    const ef = tr.embed({ ...batch, images: flippedImages });
    ef.embedding.forEach((v, i) => expect(v).toBeCloseTo((e.flipped as Float32Array)[i], 4));
    const plain = tr.embed(batch);
    expect(plain.flipped).toBeUndefined();
    const empty = tr.embed(
      { ...batch, n: 0, images: new Uint8Array(0), domains: new Uint8Array(0) },
      { flip: true },
    );
    expect([empty.embedding.length, empty.flipped?.length, empty.code?.length]).toEqual([0, 0, 0]);
    tr.dispose();
  });

  it('resumes bit-identically with the authors pipeline: the augmentation RNG is in the checkpoint', async () => {
    const ck = path.join(tmp(), 'last');
    const cfg = baseConfig({
      input: { name: 'authors' },
      model: { ...baseConfig().model, hashBits: undefined },
    });
    const batches = [5, 6, 7].map((s) => syntheticBatch(8, 32, 4, s));
    const a = createLearner(cfg);
    a.trainStep(batches[0], { augment: true });
    await a.saveCheckpoint(ck);
    const la = [1, 2].map((i) => a.trainStep(batches[i], { augment: true }).loss);
    const b = createLearner(cfg);
    await b.loadCheckpoint(ck);
    expect([1, 2].map((i) => b.trainStep(batches[i], { augment: true }).loss)).toEqual(la);
    expect(Array.from(b.lossCentres() ?? [])).toEqual(Array.from(a.lossCentres() ?? []));
    // the same checkpoint without the RNG state: other crops, angles and erasings, other losses
    const manifest = path.join(ck, 'tensors.json');
    const json = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    delete json.meta.augRng;
    fs.writeFileSync(manifest, JSON.stringify(json));
    const c = createLearner(cfg);
    await c.loadCheckpoint(ck);
    expect(c.trainStep(batches[1], { augment: true }).loss).not.toBe(la[0]);
    [a, b, c].forEach((t) => t.dispose());
  });

  it('saves and restores a checkpoint atomically; training resumes identically', async () => {
    const dir = tmp();
    const ck = path.join(dir, 'ckpt', 'last');
    const batches = [1, 2, 3, 4].map((s) => syntheticBatch(8, 32, 4, s));
    const a = createLearner(baseConfig());
    a.trainStep(batches[0], { augment: true });
    a.trainStep(batches[1], { augment: true });
    await a.saveCheckpoint(ck);
    await a.saveCheckpoint(ck); // overwrite in place
    expect(fs.readdirSync(path.dirname(ck))).toEqual(['last']);
    expect(fs.readdirSync(ck).sort()).toEqual(['tensors.bin', 'tensors.json']);
    const manifest = JSON.parse(fs.readFileSync(path.join(ck, 'tensors.json'), 'utf8'));
    const names: string[] = manifest.tensors.map((t: { name: string }) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'model/backbone.conv1.weight',
        'model/backbone.bn1.running_mean',
        'loss/loss.centres',
        'optim/m/model/backbone.conv1.weight',
        'optim/v/loss/loss.centres',
      ]),
    );
    expect(manifest.meta.step).toBe(2);
    const la = [
      a.trainStep(batches[2], { augment: true }).loss,
      a.trainStep(batches[3], { augment: true }).loss,
    ];
    const b = createLearner(baseConfig({ seed: 99 }));
    await b.loadCheckpoint(ck);
    expect(b.step).toBe(2);
    const lb = [
      b.trainStep(batches[2], { augment: true }).loss,
      b.trainStep(batches[3], { augment: true }).loss,
    ];
    lb.forEach((v, i) => expect(v).toBeCloseTo(la[i], 4));
    const c = createLearner(baseConfig({ loss: { name: 'softmax' } }));
    await expect(c.loadCheckpoint(ck)).rejects.toThrow(
      /checkpoint does not match this model\/loss\/optimiser/,
    );
    await expect(c.loadCheckpoint(path.join(dir, 'nope'))).rejects.toThrow(/no checkpoint at/);
    [a, b, c].forEach((t) => t.dispose());
    fs.rmSync(dir, { recursive: true });
  });

  it('reports configuration errors naming the field', () => {
    expect(() =>
      createLearner(baseConfig({ model: { ...baseConfig().model, backbone: 'resnet9' } })),
    ).toThrow(
      'unknown backbone "resnet9" (known: resnet-tiny, resnet18, resnet34, resnet50, se_resnext101_32x4d, se_resnext50_32x4d)',
    );
    expect(() => createLearner(baseConfig({ loss: { name: 'focal' as never } }))).toThrow(
      /unknown loss "focal"/,
    );
    expect(() => createLearner(baseConfig({ optimizer: { name: 'adam', lr: 1e-3, totalSteps: 0 } }))).toThrow(
      'optimizer.totalSteps: expected a positive integer, got 0',
    );
    expect(() => createLearner(baseConfig({ model: { ...baseConfig().model, embeddingDim: 0 } }))).toThrow(
      'model.embeddingDim: expected a positive integer, got 0',
    );
    const tr = createLearner(baseConfig());
    const bad = syntheticBatch(2, 32, 4, 1);
    bad.labels[1] = 4;
    expect(() => tr.trainStep(bad)).toThrow('batch.labels[1] = 4 is outside 0..3 (model.numClasses = 4)');
    tr.dispose();
  });

  it.each(listLosses())('%s: a few steps on a fixed batch lower the loss', (name) => {
    // Class vectors of the embedding's dim for the losses that use them (the others ignore them).
    const classVectors = { dim: 16, data: new Rng(9).normalArray(4 * 16).map((v) => v / 4) };
    const tr = createLearner(
      baseConfig({ loss: { name }, model: { ...baseConfig().model, hashBits: undefined }, classVectors }),
    );
    const batch = syntheticBatch(16, 32, 4, 5);
    const first = tr.trainStep(batch).loss;
    let last = first;
    for (let i = 0; i < 15; i++) last = tr.trainStep(batch).loss;
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    tr.dispose();
  });
});
