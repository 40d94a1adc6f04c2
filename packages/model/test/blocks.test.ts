import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { SEModule, createAttn, listBlocks, registerBlock } from '../src/blocks';
import { createBackbone, getBackboneSpec, listBackbones, registerBackbone } from '../src/backbones';
import { SbirNet } from '../src/model';
import { BatchNormVars, batchNorm, dense, matMul2d, spatialMean } from '../src/ops';
import { Optimizer } from '../src/optim';
import { ParamStore } from '../src/params';
import { Rng } from '../src/rng';
import { writeTensorFile } from '../src/tensorfile';
import { maxRelErr, smallValues, toArray, useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const img = (n: number, h: number, c: number, seed = 3): tf.Tensor4D =>
  tf.tensor4d(smallValues(n * h * h * c, seed), [n, h, h, c]);

describe('SE / DASE blocks', () => {
  it('keep the feature-map shape (every registered block that makes a module)', () => {
    for (const type of listBlocks()) {
      const blk = createAttn(type, 32, { rng: new Rng(1) });
      if (!blk) continue; // 'none'
      const y = tf.tidy(() => blk.apply(img(2, 5, 32), tf.tensor1d([0, 1])));
      expect(y.shape).toEqual([2, 5, 5, 32]);
      y.dispose();
      (blk as Partial<SEModule>).store?.dispose();
    }
  });

  it('DASE: excitation takes [sigmoid(fc1) ; domain] (fc2 has C/r + 1 inputs); SE does not', () => {
    const dase = createAttn('dase', 64, { seReduction: 16 }) as SEModule;
    expect(dase.hidden).toBe(4);
    expect(dase.store.params.get('attn.fc2.weight')?.shape).toEqual([5, 64]);
    expect(dase.getConfig()).toEqual({
      className: 'SEModule',
      channels: 64,
      seReduction: 16,
      domainAware: true,
      attnActivation: 'sigmoid',
    });
    const se = createAttn('se', 64) as SEModule;
    expect(se.store.params.get('attn.fc2.weight')?.shape).toEqual([4, 64]);
    // Unconfounded: SE has the same (authors') hidden activation as DASE unless ReLU is asked for.
    expect(se.getConfig()).toEqual({ ...dase.getConfig(), domainAware: false });
    const relu = createAttn('se', 64, { attnActivation: 'relu' }) as SEModule;
    expect(relu.attnActivation).toBe('relu');
    relu.store.dispose();
    dase.store.dispose();
    se.store.dispose();
  });

  it('DASE output differs by domain for the same image; SE output does not', () => {
    const run = (type: 'se' | 'dase'): number => {
      const blk = createAttn(type, 16, { rng: new Rng(7), seReduction: 4 }) as SEModule;
      const diff = tf.tidy(() => {
        const x = tf.concat([img(1, 4, 16), img(1, 4, 16)]) as tf.Tensor4D; // same image twice
        const y = blk.apply(x, tf.tensor1d([0, 1])); // sketch, photo
        return tf.max(tf.abs(tf.sub(tf.slice(y, [0], [1]), tf.slice(y, [1], [1])))).dataSync()[0];
      });
      blk.store.dispose();
      return diff;
    };
    expect(run('dase')).toBeGreaterThan(1e-4);
    expect(run('se')).toBe(0);
  });

  it('matches the formula y = x * sigmoid(W2 [sigmoid(W1 mean(x) + b1) ; d] + b2)', () => {
    const blk = createAttn('dase', 8, { seReduction: 4, rng: new Rng(2) }) as SEModule;
    const p = (n: string): number[] => toArray(blk.store.params.get(`attn.${n}`) as tf.Tensor);
    const [w1, b1, w2, b2] = [p('fc1.weight'), p('fc1.bias'), p('fc2.weight'), p('fc2.bias')];
    const xs = smallValues(3 * 3 * 8, 9);
    const y = tf.tidy(() => toArray(blk.apply(tf.tensor4d(xs, [1, 3, 3, 8]), tf.tensor1d([1]))));
    const sig = (v: number): number => 1 / (1 + Math.exp(-v));
    const mean = Array.from(
      { length: 8 },
      (_, c) => xs.filter((_, i) => i % 8 === c).reduce((a, b) => a + b, 0) / 9,
    );
    const h = [0, 1].map((j) => sig(mean.reduce((s, v, c) => s + v * w1[c * 2 + j], b1[j])));
    h.push(1); // domain: photo
    const s = Array.from({ length: 8 }, (_, c) =>
      sig(h.reduce((acc, v, j) => acc + v * w2[j * 8 + c], b2[c])),
    );
    const expected = xs.map((v, i) => v * s[i % 8]);
    expect(maxRelErr(y, expected)).toBeLessThan(1e-5);
    blk.store.dispose();
  });

  it("createAttn returns null for 'none' and rejects unknown names", () => {
    expect(createAttn('none', 8)).toBeNull();
    expect(createAttn(null, 8)).toBeNull();
    expect(() => createAttn('cbam' as never, 8)).toThrow(
      `model.block: unknown block "cbam" (known: ${listBlocks().join(', ')})`,
    );
    expect(() => createAttn('se', 8, { reduction: 4 })).toThrow('model.reduction: unknown key "reduction"');
    expect(() => new SEModule({ channels: 10.5 })).toThrow(
      'Expected channels to be a positive integer, but got 10.5.',
    );
    const first = listBlocks()[0]!;
    expect(() =>
      registerBlock(first, { description: '', options: z.object({}), create: () => null }),
    ).toThrow(`block "${first}" is already registered`);
    expect(new Set(listBlocks()).size).toBe(listBlocks().length);
  });

  it('dase is domain-aware only in domainAwareStages (plain SE with the same activation elsewhere)', () => {
    const at = (stage: number): SEModule =>
      createAttn('dase', 32, { stage, domainAwareStages: [1, 2, 3] }) as SEModule;
    const blocks = [1, 2, 3, 4].map(at);
    expect(blocks.map((b) => b.domainAware)).toEqual([true, true, true, false]);
    expect(new Set(blocks.map((b) => b.attnActivation))).toEqual(new Set(['sigmoid']));
    blocks.forEach((b) => b.store.dispose());
  });
});

describe('backbone registry', () => {
  it('lists the variants and fails on unknown names', () => {
    const all = listBackbones();
    expect(all).toEqual([...new Set(all)].sort());
    // a glob is the names matching it, read off the registry (no pinned list)
    const glob = (re: RegExp) => all.filter((n) => re.test(n));
    expect(listBackbones('resnet*0')).toEqual(glob(/^resnet.*0$/));
    expect(listBackbones('se_*')).toEqual(glob(/^se_.*$/));
    expect(listBackbones('resnet*0').length).toBeGreaterThan(0);
    const store = new ParamStore();
    expect(() => createBackbone({ name: 'vgg', store, rng: new Rng(0) })).toThrow(
      `unknown backbone "vgg" (known: ${all.join(', ')})`,
    );
    expect(() => registerBackbone('resnet18', getBackboneSpec('resnet18'))).toThrow(
      'backbone "resnet18" is already registered',
    );
    store.dispose();
  });

  it('domainAwareStages and width are configurable', () => {
    const model = new SbirNet(
      {
        backbone: 'resnet-tiny',
        block: 'dase',
        width: 16,
        inputSize: 32,
        embeddingDim: 4,
        numClasses: 2,
        domainAwareStages: [4],
      },
      new Rng(0),
    );
    expect(model.store.params.get('backbone.conv1.weight')?.shape).toEqual([3, 3, 3, 16]);
    expect(model.store.params.get('backbone.layer1.0.se_module.fc2.weight')?.shape).toEqual([1, 16]);
    expect(model.store.params.get('backbone.layer4.0.se_module.fc2.weight')?.shape).toEqual([9, 128]);
    model.dispose();
    expect(
      () =>
        new SbirNet(
          {
            backbone: 'resnet-tiny',
            block: 'dase',
            width: 8,
            inputSize: 32,
            embeddingDim: 4,
            numClasses: 2,
            domainAwareStages: [5],
          },
          new Rng(0),
        ),
    ).toThrow('model.domainAwareStages: stage 5 out of range 1..4');
  });

  it('loads a local weights file (named tensors) and rejects mismatches', () => {
    const cfg = {
      backbone: 'resnet-tiny',
      block: 'se' as const,
      width: 8,
      inputSize: 16,
      embeddingDim: 4,
      numClasses: 2,
    };
    const a = new SbirNet(cfg, new Rng(1));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-weights-'));
    const file = path.join(dir, 'w.json');
    const tensors = new Map(
      [...a.store.params, ...a.store.buffers].map(([n, v]) => [
        n,
        { dtype: 'float32' as const, shape: v.shape.slice(), data: v.dataSync() as Float32Array },
      ]),
    );
    writeTensorFile(file, tensors);
    const b = new SbirNet({ ...cfg, weightsFile: file }, new Rng(2));
    const out = (m: SbirNet): number[] =>
      tf.tidy(() =>
        toArray(m.forward(img(2, 16, 3), { training: false, domain: tf.tensor1d([0, 1]) }).embedding),
      );
    expect(out(b)).toEqual(out(a));
    const bad = new Map([
      ['backbone.conv1.weight', { dtype: 'float32' as const, shape: [1], data: new Float32Array(1) }],
    ]);
    writeTensorFile(file, bad);
    expect(() => b.loadWeights(file)).toThrow(
      /tensor "backbone.conv1.weight" has shape \[1\], model expects \[3, 3, 3, 8\]/,
    );
    a.dispose();
    b.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('native kernels match plain tfjs ops', () => {
  function bnVars(c: number): BatchNormVars {
    return {
      gamma: tf.variable(tf.tensor1d(smallValues(c, 11).map((v) => 1 + v / 2))),
      beta: tf.variable(tf.tensor1d(smallValues(c, 12))),
      runningMean: tf.variable(tf.zeros([c]), false),
      runningVar: tf.variable(tf.ones([c]), false),
    };
  }

  it('FusedBatchNormV3 (+ReLU) forward, gradients and running statistics', () => {
    const results = [false, true].map((forcePlain) => {
      const bn = bnVars(5);
      const x = img(3, 4, 5, 13);
      const dy = img(3, 4, 5, 14);
      const r = tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads(
          (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
            tf.sum(
              tf.mul(
                batchNorm(
                  xi as tf.Tensor4D,
                  { ...bn, gamma: g as tf.Variable, beta: b as tf.Variable },
                  { training: true, relu: true, forcePlain },
                ),
                dy,
              ),
            ) as tf.Scalar,
        )([x, bn.gamma, bn.beta]);
        return [value, ...grads].map(toArray);
      });
      const stats = [toArray(bn.runningMean), toArray(bn.runningVar)];
      [x, dy, bn.gamma, bn.beta, bn.runningMean, bn.runningVar].forEach((t) => t.dispose());
      return [...r, ...stats];
    });
    results[0].forEach((fused, i) => expect(maxRelErr(fused, results[1][i])).toBeLessThan(1e-4));
  });

  it('matMul2d and dense gradients for every transpose combination', () => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const a = tf.tensor2d(smallValues(12, 1), ta ? [4, 3] : [3, 4]);
      const b = tf.tensor2d(smallValues(20, 2), tb ? [5, 4] : [4, 5]);
      const f = (mmFn: typeof matMul2d) =>
        tf.tidy(() =>
          tf
            .grads(
              (x: tf.Tensor, y: tf.Tensor) =>
                tf.sum(tf.square(mmFn(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb))) as tf.Scalar,
            )([a, b])
            .map(toArray),
        );
      const fast = f(matMul2d);
      const ref = f((x, y, p, q) => tf.matMul(x, y, p, q));
      fast.forEach((g, i) => expect(maxRelErr(g, ref[i])).toBeLessThan(1e-5));
      a.dispose();
      b.dispose();
    }
    const x = tf.tensor2d(smallValues(6, 3), [2, 3]);
    const w = tf.tensor2d(smallValues(12, 4), [3, 4]);
    const b = tf.tensor1d(smallValues(4, 5));
    const g1 = tf.tidy(() =>
      tf
        .grads(
          (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
            tf.sum(tf.square(dense(p as tf.Tensor2D, q as tf.Tensor2D, r as tf.Tensor1D))) as tf.Scalar,
        )([x, w, b])
        .map(toArray),
    );
    const g2 = tf.tidy(() =>
      tf
        .grads(
          (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
            tf.sum(tf.square(tf.add(tf.matMul(p, q), r))) as tf.Scalar,
        )([x, w, b])
        .map(toArray),
    );
    g1.forEach((g, i) => expect(maxRelErr(g, g2[i])).toBeLessThan(1e-5));
    [x, w, b].forEach((t) => t.dispose());
  });

  it.each([
    ['se', 'relu'],
    ['se', 'sigmoid'],
    ['dase', 'sigmoid'],
    ['dase', 'relu'],
  ] as const)('fused squeeze-excite (%s, %s): output and gradients of input and parameters', (type, act) => {
    const blk = createAttn(type, 12, { seReduction: 4, rng: new Rng(5), attnActivation: act }) as SEModule;
    const params = [...blk.store.params.values()];
    const x = img(3, 4, 12, 41);
    const dy = img(3, 4, 12, 42);
    const domain = tf.tensor1d([0, 1, 1]);
    const run = (forcePlain: boolean): number[][] =>
      tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((xi: tf.Tensor, ...ps: tf.Tensor[]) => {
          void ps;
          return tf.sum(tf.mul(blk.apply(xi as tf.Tensor4D, domain, { forcePlain }), dy)) as tf.Scalar;
        })([x, ...params]);
        const pg = tf.variableGrads(
          () => tf.sum(tf.mul(blk.apply(x, domain, { forcePlain }), dy)) as tf.Scalar,
          params as tf.Variable[],
        ).grads;
        return [toArray(value), toArray(grads[0]), ...params.map((p) => toArray(pg[p.name]))];
      });
    const fused = run(false);
    const plain = run(true);
    fused.forEach((v, i) => expect(maxRelErr(v, plain[i])).toBeLessThan(1e-5));
    [x, dy, domain].forEach((t) => t.dispose());
    blk.store.dispose();
  });

  it('spatialMean gradient', () => {
    const x = img(2, 3, 4, 21);
    const gy = tf.tensor2d(smallValues(8, 22), [2, 4]);
    const a = tf.tidy(() =>
      toArray(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(spatialMean(v as tf.Tensor4D), gy)) as tf.Scalar)(x)),
    );
    const b = tf.tidy(() =>
      toArray(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, [1, 2]), gy)) as tf.Scalar)(x)),
    );
    expect(maxRelErr(a, b)).toBeLessThan(1e-6);
    x.dispose();
    gy.dispose();
  });

  it('fused optimiser kernels (ResourceApplyAdam / ResourceApplyMomentum) = plain-op updates', () => {
    for (const name of ['adam', 'sgd'] as const) {
      const run = (fused: boolean): number[] => {
        const p = tf.variable(tf.tensor2d(smallValues(6, 31), [2, 3]));
        const opt = new Optimizer(
          { name, lr: 0.05, weightDecay: 0.1, totalSteps: 10 },
          [{ vars: new Map([['p', p]]), weightDecay: 0.1 }],
          { fused },
        );
        for (let i = 0; i < 3; i++) {
          const g = tf.tensor2d(smallValues(6, 40 + i), [2, 3]);
          opt.apply(new Map([['p', g]]), 0.05);
          g.dispose();
        }
        const out = [
          ...toArray(p),
          ...[...opt.slotShapes().keys()].flatMap((k) => {
            const t = opt.readSlot(k);
            const a = toArray(t);
            t.dispose();
            return a;
          }),
        ];
        opt.dispose();
        p.dispose();
        return out;
      };
      expect(maxRelErr(run(true), run(false))).toBeLessThan(1e-5);
    }
  });
});
