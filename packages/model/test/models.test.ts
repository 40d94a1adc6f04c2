/**
 * Registry-driven model tests (timm's tests/test_models.py): every registered backbone with every
 * registered block builds, trains one step with gradients on every parameter, and round-trips a
 * checkpoint; SE and DASE cells differ only by the domain input.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { listBackbones } from '../src/backbones';
import { SEModule, createAttn, listBlocks, registerBlock } from '../src/blocks';
import { ModelConfig, SbirNet } from '../src/model';
import { Rng } from '../src/rng';
import { createLearner, TrainBatch } from '../src/learner';
import { smallValues, useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const SIZE = 32;

/** Small enough for every backbone: SE-ResNeXt needs width >= 16 to keep one channel per group. */
const small = (backbone: string, block: string): ModelConfig => ({
  backbone,
  block,
  width: 16,
  inputSize: SIZE,
  embeddingDim: 8,
  numClasses: 3,
});

function batch(n: number, seed: number): TrainBatch {
  return {
    images: Uint8Array.from(smallValues(n * SIZE * SIZE * 3, seed), (v) => Math.floor((v + 1) * 127)),
    n,
    height: SIZE,
    width: SIZE,
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    domains: Uint8Array.from({ length: n }, (_, i) => i % 2),
  };
}

const combos = listBackbones().flatMap((b) => listBlocks().map((k) => [b, k] as const));

describe.each(combos)('%s with block %s', (backbone, block) => {
  it('builds, gets a finite gradient on every parameter, trains a step, round-trips a checkpoint', async () => {
    const cfg = {
      model: small(backbone, block),
      loss: { name: 'mems' as const },
      optimizer: { name: 'adam' as const, lr: 1e-3, totalSteps: 10 },
      seed: 0,
    };
    const tr = createLearner(cfg);
    const b = batch(4, 7);
    const params = [...tr.model.store.params];
    const grads = tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from(b.images, (v) => v / 255 - 0.5),
        [4, SIZE, SIZE, 3],
      );
      const domain = tf.tensor1d([0, 1, 0, 1]);
      const { grads: g } = tf.variableGrads(
        () => tf.sum(tf.square(tr.model.forward(x, { training: true, domain }).embedding)) as tf.Scalar,
        params.map(([, v]) => v),
      );
      return params.map(([, v]) => Array.from(g[v.name]?.dataSync() ?? []));
    });
    params.forEach(([name], i) => {
      const g = grads[i]!;
      expect([name, g.length > 0 && g.every(Number.isFinite) && g.some((v) => v !== 0)]).toEqual([
        name,
        true,
      ]);
    });
    const { loss } = tr.trainStep(b);
    expect(Number.isFinite(loss)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-models-'));
    await tr.saveCheckpoint(path.join(dir, 'last'));
    const restored = createLearner({ ...cfg, seed: 5 });
    await restored.loadCheckpoint(path.join(dir, 'last'));
    const probe = batch(2, 9);
    // Parameters, BatchNorm statistics (eval mode reads them) and the trained step all come back.
    expect(restored.embed(probe).embedding).toEqual(tr.embed(probe).embedding);
    tr.dispose();
    restored.dispose();
    fs.rmSync(dir, { recursive: true });
  }, 120_000);
});

describe.each(listBackbones())('%s: se vs dase', (backbone) => {
  it('differ only by the domain column of fc2 in the domain-aware stages and the domain input in the config', () => {
    const se = new SbirNet(small(backbone, 'se'), new Rng(0));
    const dase = new SbirNet(small(backbone, 'dase'), new Rng(0));
    const shapes = (m: SbirNet): Map<string, number[]> =>
      new Map([...m.store.params, ...m.store.buffers].map(([n, v]) => [n, v.shape]));
    const a = shapes(se);
    const b = shapes(dase);
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differing = [...a].filter(([n, s]) => s.join() !== b.get(n)!.join());
    expect(differing.length).toBeGreaterThan(0);
    for (const [name, s] of differing) {
      expect(name).toMatch(/^backbone\.layer[123]\.\d+\.se_module\.fc2\.weight$/);
      expect(b.get(name)).toEqual([s[0]! + 1, s[1]]);
    }
    // Every unit of stages 1-3 has the domain column, none of stage 4.
    const fc2 = [...a.keys()].filter((n) => n.endsWith('se_module.fc2.weight'));
    expect(differing.map(([n]) => n)).toEqual(fc2.filter((n) => !n.startsWith('backbone.layer4.')));
    const { domainAwareStages: d1, block: k1, ...restSe } = se.getConfig();
    const { domainAwareStages: d2, block: k2, ...restDase } = dase.getConfig();
    expect(restDase).toEqual(restSe);
    expect([k1, d1, k2, d2]).toEqual(['se', [], 'dase', [1, 2, 3]]);
    expect(restSe.attnActivation).toBe('sigmoid');
    se.dispose();
    dase.dispose();
  });
});

describe('resolved config', () => {
  it('records every setting that shapes the network, defaults filled in', () => {
    const m = new SbirNet({ ...small('se_resnext101_32x4d', 'dase'), width: 16 }, new Rng(0));
    expect(m.getConfig()).toEqual({
      backbone: 'se_resnext101_32x4d',
      block: 'dase',
      width: 16,
      layers: [3, 4, 23, 3],
      unit: 'bottleneck',
      groups: 32,
      baseWidth: 4,
      stageStrides: [1, 2, 2, 2],
      stem: { kernel: 7, stride: 2, pad: 3, pool: { kernel: 3, stride: 2, pad: 0, ceilMode: true } },
      downsample: { kernel: 1, pad: 0 },
      blockPosition: 'after-last-bn-before-add',
      padding: 'symmetric (PyTorch)',
      seReduction: 16,
      attnActivation: 'sigmoid',
      domainAwareStages: [1, 2, 3],
      bnMomentum: 0.1,
      bnEpsilon: 1e-5,
      pooling: 'global-average',
      layout: 'cadene',
      outChannels: 512,
      inputSize: SIZE,
      embeddingDim: 8,
      hashBits: null,
      hashDetach: false,
      numClasses: 3,
      weightsFile: null,
      pretrained: null,
      pretrainedInit: null,
      pretrainedLoad: null,
    });
    m.dispose();
    const relu = new SbirNet({ ...small('resnet-tiny', 'se'), attnActivation: 'relu' }, new Rng(0));
    expect(relu.getConfig()).toMatchObject({
      attnActivation: 'relu',
      domainAwareStages: [],
      layout: 'torchvision',
    });
    relu.dispose();
  });
});

describe('block registry', () => {
  it('a block registered outside the package plugs into every backbone (one entry, no backbone change)', () => {
    // A minimal gate block, as a new file would define it: y = x * sigmoid(g) per channel.
    registerBlock('test-gate', {
      description: 'a gate for this test',
      options: z.object({}).strict(),
      create: (channels, opts) => {
        const se = createAttn('se', channels, opts) as SEModule;
        return { channels, apply: (x, d, o) => se.apply(x, d, o), getConfig: () => ({ className: 'Gate' }) };
      },
    });
    const m = new SbirNet(small('se_resnext50_32x4d', 'test-gate'), new Rng(0));
    expect(m.getConfig().block).toBe('test-gate');
    expect(m.store.params.has('backbone.layer4.2.se_module.fc1.weight')).toBe(true);
    m.dispose();
  });
});
