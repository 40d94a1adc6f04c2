/**
 * The model-kind registry (kinds/registry.ts): every registered kind builds, trains a step and records
 * its kind and options; the default kind is SbirNet unchanged; option errors name the key; a kind
 * registered at runtime with an option of its own needs no other file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { prepareInput, resolveInputPipeline } from '../src/augment';
import {
  getModelKind,
  listModelKinds,
  registerModelKind,
  resolveModelKindOptions,
} from '../src/kinds/registry';
import { ModelKindEntry } from '../src/kinds/types';
import { createLoss } from '../src/losses';
import { ModelConfig, SbirNet } from '../src/model';
import { ParamStore } from '../src/params';
import { Rng } from '../src/rng';
import { TrainBatch, LearnerConfig, createLearner } from '../src/learner';
import { smallValues, useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

const SIZE = 32;
const K = 3;
const model: ModelConfig = {
  backbone: 'resnet-tiny',
  block: 'dase',
  width: 8,
  inputSize: SIZE,
  embeddingDim: 8,
  numClasses: K,
};
const classVectors = { dim: 5, data: new Rng(1).normalArray(K * 5).map((v) => v / Math.sqrt(5)) };

const config = (m: Partial<ModelConfig> = {}): LearnerConfig => ({
  model: { ...model, ...m },
  loss: { name: 'mems' },
  optimizer: { name: 'adam', lr: 1e-3, totalSteps: 10 },
  seed: 3,
  classVectors,
});

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

describe.each(listModelKinds())('kind %s', (name) => {
  const entry = getModelKind(name);

  it('has a description, its options schema holds every default, and it trains a step', () => {
    expect(entry.name).toBe(name);
    expect(entry.description.length).toBeGreaterThan(10);
    const defaults = entry.options ? entry.options.parse({}) : {};
    const tr = createLearner(config({ kind: name }));
    const step = tr.trainStep(batch(6, 2));
    expect(Number.isFinite(step.loss)).toBe(true);
    const resolved = tr.model.getConfig();
    expect(resolved.kind).toBe(name);
    if (entry.optionsKey) expect(resolved[entry.optionsKey]).toEqual(defaults);
    expect(tr.embed(batch(4, 3)).embedding.length).toBe(4 * model.embeddingDim);
    tr.dispose();
  });

  it('an unknown option is an error naming model.<key>.<option>', () => {
    const key = entry.optionsKey;
    if (!key) {
      expect(resolveModelKindOptions({ ...model, kind: name })).toEqual({});
      return;
    }
    expect(() => createLearner(config({ kind: name, [key]: { bogus: 1 } }))).toThrow(
      new RegExp(`^model\\.${key}\\.bogus: unknown key "bogus" \\(known: `),
    );
  });
});

describe('registry', () => {
  it('the default kind is SbirNet unchanged: parameters, first loss and settings identical', () => {
    // eager: the loss is compared bit for bit with the same ops run directly; graph mode's rounding
    // is graph-step.test.ts's subject
    const cfg = { ...config(), stepMode: 'eager' as const };
    const tr = createLearner(cfg);
    // The trainer's draws, in its order: model init, then the loss.
    const rng = new Rng(cfg.seed);
    const net = new SbirNet(cfg.model, rng.fork());
    const loss = createLoss(cfg.loss, {
      embeddingDim: model.embeddingDim,
      numClasses: K,
      totalSteps: 10,
      rng: rng.fork(),
      store: new ParamStore(),
    });
    const names = [...net.store.params.keys()];
    expect([...tr.model.store.params.keys()]).toEqual(names);
    for (const n of names) {
      const [ours, direct] = [tr.model.store, net.store].map((st) =>
        Array.from(st.params.get(n)!.dataSync()),
      );
      expect([n, ours]).toEqual([n, direct]);
    }
    const b = batch(6, 5);
    const direct = tf.tidy(() => {
      const x = prepareInput(b, SIZE, resolveInputPipeline({ name: 'authors' }));
      const domain = tf.tensor1d(Float32Array.from(b.domains));
      const out = net.forward(x, { training: true, domain });
      return loss.compute(out.embedding, tf.tensor1d(b.labels, 'int32'), { step: 0 }).dataSync()[0];
    });
    expect(tr.trainStep(b)).toEqual({ loss: direct, lr: 1e-3 });
    expect(tr.model.getConfig()).toEqual({ kind: 'sbir', ...net.getConfig() });
    tr.dispose();
    net.dispose();
    loss.store.dispose();
  });

  it('unknown kinds and options of another kind are errors naming the field', () => {
    expect(() => createLearner(config({ kind: 'gan' }))).toThrow(
      `model.kind: unknown kind "gan" (known: ${listModelKinds().join(', ')})`,
    );
    expect(() => createLearner(config({ ssgn: { fusion: false } }))).toThrow(
      'model.ssgn: options of kind "ssgn", but model.kind is "sbir"',
    );
  });

  it('a kind registered at runtime with an option of its own: one entry, nothing else', () => {
    const toy: ModelKindEntry = {
      name: 'toy-scaled',
      description: 'the sbir network with its embedding scaled (a registry test)',
      optionsKey: 'toyScaled',
      options: z.object({ scale: z.number().positive().default(2) }).strict(),
      create: (cfg, env) => {
        const inner = getModelKind('sbir').create(cfg, { ...env, options: {} });
        const scale = env.options.scale as number;
        return {
          store: inner.store,
          trainForward: (x, ctx) => ({ embedding: tf.mul(inner.trainForward(x, ctx).embedding, scale) }),
          forward: (x, ctx) => ({ embedding: tf.mul(inner.forward(x, ctx).embedding, scale) }),
          getConfig: () => ({ ...inner.getConfig(), kind: 'toy-scaled', toyScaled: { scale } }),
          dispose: () => inner.dispose(),
        } as ReturnType<ModelKindEntry['create']>;
      },
    };
    registerModelKind(toy);
    expect(() => registerModelKind(toy)).toThrow('model kind "toy-scaled" is already registered');
    expect(listModelKinds()).toContain('toy-scaled');
    const tr = createLearner(config({ kind: 'toy-scaled', toyScaled: { scale: 3 } } as Partial<ModelConfig>));
    expect(Number.isFinite(tr.trainStep(batch(4, 1)).loss)).toBe(true);
    expect(tr.model.getConfig()).toMatchObject({ kind: 'toy-scaled', toyScaled: { scale: 3 } });
    tr.dispose();
    expect(() =>
      createLearner(config({ kind: 'toy-scaled', toyScaled: { scale: 0 } } as Partial<ModelConfig>)),
    ).toThrow(/^model\.toyScaled\.scale: /);
  });
});
