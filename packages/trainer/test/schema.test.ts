import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipelineDefaults } from '@sbir/model';
import { loadExperiment, listExperimentFiles } from '../src/grid';
import { ConfigError } from '../src/messages';
import { knownKeysAt } from '../src/schema';
import { REPO_ROOT, tmpDir } from './fixtures';

/** The keys `model` takes, from the composed schema (registries' kinds and blocks included). */
const MODEL_KEYS = knownKeysAt(['model'])!.join(', ');

const GOOD = `name: demo
base:
  dataset: { name: emoji, dir: "{dataRoot}/emoji-64", prepare: { dataset: emoji, size: 64 } }
  model: { backbone: resnet-tiny, block: se, inputSize: 64, embeddingDim: 64 }
  loss: mems
  train: { epochs: 3, batchSize: 64, lr: 0.001 }
losses:
  mems: { margin: 4 }
grid:
  block: [se, dase]
  loss: [softmax, mems]
  seed: [0, 1, 2]
`;

/** Loads GOOD with one text substitution and returns the error message (one line). */
function errorOf(from: string | RegExp, to: string, text = GOOD): string {
  const dir = tmpDir('schema');
  const file = path.join(dir, 'experiments', 'demo.yaml');
  fs.mkdirSync(path.dirname(file));
  const changed = text.replace(from, to);
  expect(changed).not.toBe(text);
  fs.writeFileSync(file, changed);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    loadExperiment('demo');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('expected a ConfigError');
}

describe('experiment schema errors name the file and the path', () => {
  test.each([
    [
      'unknown loss in an axis',
      'loss: [softmax, mems]',
      'loss: [softmax, mem]',
      'experiments/demo.yaml: grid.loss[1]: unknown loss "mem" (known: softmax, euclidean-softmax, mems, contrastive, triplet, center, cosface, arcface, regression)',
    ],
    [
      'unknown block in an axis',
      'block: [se, dase]',
      'block: [se, dase2]',
      'experiments/demo.yaml: grid.block[1]: unknown block "dase2" (known: none, se, dase)',
    ],
    [
      'unknown key in base',
      'embeddingDim: 64 }',
      'embeddingDim: 64, blok: 1 }',
      'experiments/demo.yaml: base.model.blok: unknown key "blok" (known: kind, ssgn, backbone, block, width',
    ],
    [
      'unknown top-level key',
      'losses:',
      'lossez: {}\nlosses:',
      'experiments/demo.yaml: lossez: unknown key "lossez" (known: name, description, base, losses, grid, executor, sensitivity, claims)',
    ],
    [
      'unknown loss option',
      'margin: 4 }',
      'margin: 4, foo: 1 }',
      'experiments/demo.yaml: losses.mems.foo: unknown key "foo" (known: margin, scale, annealSteps, name)',
    ],
    [
      'model range check on a loss option',
      'margin: 4 }',
      'margin: 0.5 }',
      'experiments/demo.yaml: losses.mems.margin: MEMS margin must be >= 1',
    ],
    [
      'bad type',
      'lr: 0.001',
      'lr: fast',
      'experiments/demo.yaml: base.train.lr: expected number, got string "fast"',
    ],
    [
      'missing field',
      'backbone: resnet-tiny, ',
      '',
      'experiments/demo.yaml: base.model.backbone: missing (required',
    ],
    [
      'unknown backbone',
      'resnet-tiny',
      'resnet-huge',
      'experiments/demo.yaml: base.model.backbone: unknown backbone "resnet-huge" (known: resnet-tiny, resnet18, resnet34, resnet50',
    ],
    [
      'epochs and steps',
      'epochs: 3, ',
      'epochs: 3, steps: 10, ',
      'experiments/demo.yaml: base.train: give exactly one of train.epochs and train.steps',
    ],
    [
      'unknown scalar axis',
      '  seed: [0, 1, 2]',
      '  train.lrr: [1]',
      'experiments/demo.yaml: grid.train.lrr: unknown axis "train.lrr"',
    ],
    [
      'empty axis',
      'seed: [0, 1, 2]',
      'seed: []',
      'experiments/demo.yaml: grid.seed: an axis needs at least one value',
    ],
    ['bad name', 'name: demo', 'name: Demo Grid', 'experiments/demo.yaml: name: name must be lower-case'],
    [
      'model range check on an augmentation parameter',
      'lr: 0.001 }',
      'lr: 0.001, augment: { name: authors, eraseProb: 2 } }',
      'experiments/demo.yaml: base.train.augment.eraseProb: expected a number in [0, 1], got 2',
    ],
    [
      'parameter of another pipeline',
      'lr: 0.001 }',
      'lr: 0.001, augment: { name: crop-flip, rotateDegrees: 10 } }',
      'experiments/demo.yaml: base.train.augment.rotateDegrees: unknown key "rotateDegrees" (known: name, cropScale, cropRatio, flipProb, normalize)',
    ],
    [
      'unknown pipeline',
      'lr: 0.001 }',
      'lr: 0.001, augment: rotate }',
      'experiments/demo.yaml: base.train.augment.name: unknown augment "rotate" (known: authors, crop-flip, none)',
    ],
    [
      'pipeline parameters without a name',
      'lr: 0.001 }',
      'lr: 0.001, augment: { eraseProb: 0.5 } }',
      'experiments/demo.yaml: base.train.augment.name: missing (one of: authors, crop-flip, none)',
    ],
    [
      'unknown retrieval distance',
      'lr: 0.001 }',
      'lr: 0.001 }\n  eval: { distance: cosine }',
      'experiments/demo.yaml: base.eval.distance: ',
    ],
    [
      'unknown loss in losses',
      'losses:\n  mems:',
      'losses:\n  memz:',
      'experiments/demo.yaml: losses.memz: unknown loss "memz"',
    ],
  ])('%s', (_what, from, to, expected) => {
    expect(errorOf(from, to)).toContain(expected);
  });

  test('a bad key inside a named override names the override', () => {
    const text = GOOD.replace(
      '  seed: [0, 1, 2]\n',
      '  size:\n    small: { model: { inputSize: 32 } }\n    big: { model: { inputSise: 96 } }\n',
    );
    expect(errorOf('inputSise: 96', 'inputSise: 97', text)).toBe(
      `experiments/demo.yaml: grid.size.big.model.inputSise: unknown key "inputSise" (known: ${MODEL_KEYS})`,
    );
  });

  test('yaml syntax errors give line and column', () => {
    expect(errorOf('grid:\n', 'grid:\n  bad: [\n')).toMatch(/^experiments\/demo\.yaml:\d+:\d+: /);
  });

  test('a missing experiment lists the known ones', () => {
    expect(() => loadExperiment('nope')).toThrow(
      /experiments\/nope\.yaml: no such experiment file \(known: .*demo/,
    );
  });
});

/** The cells of GOOD with one text substitution. */
function cellsOf(from: string | RegExp, to: string): ReturnType<typeof loadExperiment>['cells'] {
  const dir = tmpDir('schema');
  const file = path.join(dir, 'demo.yaml');
  const changed = GOOD.replace(from, to);
  expect(changed).not.toBe(GOOD);
  fs.writeFileSync(file, changed);
  try {
    return loadExperiment(file).cells;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('train.augment and eval.distance: written out resolved in config.json', () => {
  // photoChannels is dataset.photoChannels in the yaml, not a train.augment parameter
  const withoutChannels = (name: 'authors' | 'crop-flip'): object =>
    Object.fromEntries(Object.entries(pipelineDefaults(name)).filter(([k]) => k !== 'photoChannels'));
  const authors = withoutChannels('authors');
  const cropFlip = withoutChannels('crop-flip');

  test.each<[string, string, string, object]>([
    ['omitted: the authors pipeline', 'lr: 0.001 }', 'lr: 0.001, balanceDomains: true }', authors],
    ['a name', 'lr: 0.001 }', 'lr: 0.001, augment: crop-flip }', cropFlip],
    ['true (the earlier boolean): crop-flip', 'lr: 0.001 }', 'lr: 0.001, augment: true }', cropFlip],
    ['false: none', 'lr: 0.001 }', 'lr: 0.001, augment: false }', { name: 'none', normalize: 'imagenet' }],
    [
      'a name with parameters',
      'lr: 0.001 }',
      'lr: 0.001, augment: { name: authors, eraseProb: 0.5 } }',
      { ...authors, eraseProb: 0.5 },
    ],
  ])('train.augment %s', (_what, from, to, expected) => {
    for (const cell of cellsOf(from, to)) {
      expect(cell.train.augment).toEqual(expected);
      expect(cell.dataset.photoChannels).toBe('rgb');
    }
  });

  test('eval.distance defaults per loss (cosface, arcface: angular) unless given', () => {
    const byLoss = (to: string): Record<string, string | undefined> =>
      Object.fromEntries(cellsOf('loss: [softmax, mems]', to).map((c) => [c.loss.name, c.eval.distance]));
    expect(byLoss('loss: [softmax, mems, cosface, arcface, triplet]')).toEqual({
      softmax: 'euclidean',
      mems: 'euclidean',
      cosface: 'angular',
      arcface: 'angular',
      triplet: 'euclidean',
    });
    const given = cellsOf('lr: 0.001 }', 'lr: 0.001 }\n  eval: { distance: angular }');
    expect(new Set(given.map((c) => c.eval.distance))).toEqual(new Set(['angular']));
  });
});

describe('shipped experiments', () => {
  test.each(listExperimentFiles(REPO_ROOT))('experiments/%s.yaml loads and expands', (name) => {
    const exp = loadExperiment(path.join(REPO_ROOT, 'experiments', `${name}.yaml`), { dataRoot: '/data' });
    expect(exp.cells.length).toBeGreaterThan(0);
    expect(exp.name).toBe(name);
  });

  test('demo is the 12-cell SE/DASE x softmax/MEMS x 3 seeds grid on emoji-64', () => {
    const exp = loadExperiment(path.join(REPO_ROOT, 'experiments', 'demo.yaml'));
    expect(exp.cells).toHaveLength(12);
    expect(exp.axes).toEqual({ block: ['se', 'dase'], loss: ['softmax', 'mems'], seed: [0, 1, 2] });
    for (const c of exp.cells) {
      expect(c.dataset.dir).toBe('data/emoji-64');
      expect(c.model.inputSize).toBe(64);
      expect(c.model.backbone).toBe('resnet-tiny');
      expect(c.dataset.prepare).toBeDefined();
    }
  });
});
