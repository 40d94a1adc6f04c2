/**
 * Issue 23's acceptance recipe: a block with an option of its own is one entry plus one registration,
 * nothing else edited. The test registers a toy block, sets its option from a yaml and from an override,
 * trains a step and finds the option in config.json; and the composed schema's defaults are the
 * registries' (each default defined once, in its entry).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { prepareDataset } from '@sbir/data';
import {
  BackboneOptionsSchema,
  ParamStore,
  getBlock,
  getLoss,
  getModelKind,
  initBackend,
  listBlockOptions,
  listBlocks,
  listLosses,
  listModelKinds,
  registerBlock,
  type AttentionModule,
} from '@sbir/model';
import { z } from 'zod';
import { runCell } from '../src/cell';
import { loadExperiment } from '../src/grid';
import { CellStore } from '../src/run-store';
import { cellConfigSchema, knownKeysAt, lossSchema, modelSchema } from '../src/schema';
import { readJson, tmpDir } from './fixtures';

/** The toy block's file: a learnable per-channel gain starting at `toyGain` (y = x * g). */
const ToyGainOptions = z.object({ toyGain: z.number().positive().default(0.5) }).strict();
class ToyGain implements AttentionModule {
  private readonly gain: tf.Variable;
  constructor(
    readonly channels: number,
    store: ParamStore,
    name: string,
    readonly start: number,
  ) {
    this.gain = store.addParam(`${name}.gain`, tf.fill([channels], start));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.mul(x, this.gain);
  }
  getConfig() {
    return { className: 'ToyGain', channels: this.channels, toyGain: this.start };
  }
}

beforeAll(async () => {
  await initBackend('tensorflow', { quiet: true });
  // composed (and kept) before the block exists: registering it must reach the schema all the same
  expect(knownKeysAt(['model'])).not.toContain('toyGain');
  // the one registration line
  registerBlock('toy-gain', {
    description: 'a learnable per-channel gain (test block)',
    options: ToyGainOptions,
    create: (channels, ctx, o) =>
      new ToyGain(channels, ctx.store ?? new ParamStore(), ctx.name ?? 'attn', o.toyGain),
  });
  expect(knownKeysAt(['model'])).toContain('toyGain');
});

const yaml = (dataDir: string, model: string) => `name: toy
base:
  dataset:
    name: emoji
    dir: ${dataDir}
    prepare: { dataset: emoji, size: 32, maxCategories: 4 }
  model: { backbone: resnet-tiny, width: 8, inputSize: 32, embeddingDim: 16, ${model} }
  loss: softmax
  train: { steps: 1, batchSize: 8, lr: 0.001, logEverySteps: 1, limitRows: 16 }
  eval: { everyEpochs: 0, flipTest: false, retrievalQueries: 1, retrievalTopK: 2, embeddingsSample: 8, statsSample: 16 }
`;

test('a registered block with an option of its own: yaml, override, one step, config.json', async () => {
  const dir = tmpDir('toy-block');
  const dataDir = path.join(dir, 'emoji');
  const file = path.join(dir, 'toy.yaml');
  fs.writeFileSync(file, yaml(dataDir, 'block: toy-gain, toyGain: 1.5'));
  const fromYaml = loadExperiment(file).cells[0]!;
  expect(fromYaml.model.toyGain).toBe(1.5);
  const overridden = loadExperiment(file, { overrides: ['model.toyGain=2.5'] }).cells[0]!;
  expect(overridden.model.toyGain).toBe(2.5);
  expect(overridden.cellId).not.toBe(fromYaml.cellId);

  // unset: the entry's default is written out; another block's cells do not get the option at all
  fs.writeFileSync(file, yaml(dataDir, 'block: toy-gain'));
  expect(loadExperiment(file).cells[0]!.model.toyGain).toBe(0.5);
  fs.writeFileSync(file, yaml(dataDir, 'block: se'));
  expect('toyGain' in loadExperiment(file).cells[0]!.model).toBe(false);
  expect(() => loadExperiment(file, { overrides: ['model.toyGain=2'] })).toThrow(
    'override model.toyGain=2: applies only to model.block toy-gain (block is se)',
  );
  fs.writeFileSync(file, yaml(dataDir, 'block: toy-gain, toyGain: -1'));
  expect(() => loadExperiment(file)).toThrow(`${file}: base.model.toyGain: number must be greater than 0`);

  await prepareDataset({ dataset: 'emoji', size: 32, maxCategories: 4, out: dataDir });
  const cellDir = path.join(dir, 'runs', overridden.cellId);
  new CellStore(cellDir).writeConfig(overridden);
  const outcome = await runCell({ cellDir, mode: 'run' });
  expect(outcome).toMatchObject({ state: 'finished', step: 1, error: null });
  const written = readJson<{ model: Record<string, unknown>; resolved: { model: Record<string, unknown> } }>(
    path.join(cellDir, 'config.json'),
  );
  expect(written.model).toMatchObject({ block: 'toy-gain', toyGain: 2.5 });
  expect(written.resolved.model).toMatchObject({ block: 'toy-gain', toyGain: 2.5 });
  // how the step ran, next to what was asked: the toy block traces, so the graph ran
  expect(written.resolved).toMatchObject({ stepMode: 'graph' });
  expect(readJson<{ stepMode: unknown }>(path.join(cellDir, 'status.json')).stepMode).toEqual({
    mode: 'graph',
  });
}, 120_000);

/** The default a zod field gives an absent value (undefined: none). */
const defaultOf = (field: z.ZodTypeAny): unknown => field.safeParse(undefined).data;

test("the composed schema's defaults are the registries' (every default defined once, in its entry)", () => {
  const model = knownKeysAt(['model'])!;
  for (const block of listBlocks()) {
    const options = getBlock(block).options.shape as Record<string, z.ZodTypeAny>;
    for (const name of Object.keys(options)) expect(model).toContain(name);
    const minimal = { backbone: 'resnet-tiny', block, inputSize: 32, embeddingDim: 8 };
    const parsed = modelSchema().parse(minimal) as Record<string, unknown>;
    for (const [name, field] of Object.entries(options)) expect(parsed[name]).toEqual(defaultOf(field));
    // options every cell records (se, dase: the ids of earlier cells) carry their defaults whatever the block
    for (const o of listBlockOptions().filter((o) => o.recordedForEveryBlock))
      expect(parsed[o.name]).toEqual(defaultOf(o.field));
    for (const [name, field] of Object.entries(BackboneOptionsSchema.shape))
      expect(parsed[name]).toEqual(defaultOf(field));
  }
  for (const name of listLosses()) {
    const parsed = lossSchema().parse({ name }) as Record<string, unknown>;
    expect(parsed).toEqual({ ...getLoss(name).options.parse({}), name });
  }
  for (const kind of listModelKinds()) {
    const entry = getModelKind(kind);
    const minimal = { kind, backbone: 'resnet-tiny', block: 'none', inputSize: 32, embeddingDim: 8 };
    const parsed = modelSchema().parse(minimal) as Record<string, unknown>;
    if (entry.optionsKey) expect(parsed[entry.optionsKey]).toEqual(entry.options!.parse({}));
  }
  // the cell schema holds these same parts (composed when called, not at load)
  expect(knownKeysAt([], undefined, cellConfigSchema())).toEqual(
    expect.arrayContaining(['dataset', 'model', 'loss', 'train', 'eval', 'seed']),
  );
});
