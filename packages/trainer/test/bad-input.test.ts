/**
 * Bad inputs give one line naming the file/option/field and the exit-code convention of @sbir/data's
 * cli-exit.ts (2 = usage/config/input, 1 = runtime), never a stack trace (issue 12).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadExperiment } from '../src/grid';
import { ConfigError } from '../src/messages';
import { runCli, tmpDir, writeTinyExperiment } from './fixtures';

jest.setTimeout(120_000);

const GOOD = `name: demo
base:
  dataset: { name: emoji, dir: "{dataRoot}/emoji-64", prepare: { dataset: emoji, size: 64 } }
  model: { backbone: resnet-tiny, block: se, inputSize: 64, embeddingDim: 64 }
  loss: mems
  train: { epochs: 3, batchSize: 64, lr: 0.001 }
losses:
  mems: { margin: 4 }
grid:
  seed: [0, 1]
`;

let dir: string;
beforeAll(() => (dir = tmpDir('bad-input')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The ConfigError message of loading `text` (one line), from a file named bad.yaml. */
function loadError(text: string): string {
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, text);
  try {
    loadExperiment(file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('non-finite numbers are rejected at the schema, with the yaml path', () => {
  test.each([
    ['lr: .inf', 'lr: 0.001', 'lr: .inf', 'base.train.lr: number must be finite (got .inf)'],
    ['lr: -.inf', 'lr: 0.001', 'lr: -.inf', 'base.train.lr: number must be finite (got -.inf)'],
    ['lr: .nan', 'lr: 0.001', 'lr: .nan', 'base.train.lr: expected a finite number, got .nan'],
    ['a loss option', 'margin: 4', 'margin: .nan', 'losses.mems.margin: expected a finite number, got .nan'],
    ['a grid value', 'seed: [0, 1]', 'lr: [0.001, .inf]', 'grid.lr[1]: number must be finite (got .inf)'],
    [
      'weightDecay',
      'lr: 0.001',
      'lr: 0.001, weightDecay: .inf',
      'base.train.weightDecay: number must be finite',
    ],
  ])('%s', (_what, from, to, expected) => {
    const text = GOOD.replace(from, to);
    expect(text).not.toBe(GOOD);
    expect(loadError(text)).toContain(`bad.yaml: ${expected}`);
  });
});

test('an entity-expansion ("billion laughs") yaml stops at the alias limit with one line', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  const message = loadError(`${GOOD}${levels.join('\n')}\n`);
  expect(message).toMatch(/bad\.yaml: .*alias.*\(at most 100 alias expansions\)$/i);
});

test('--experiment pointing at a directory is a one-line config error', () => {
  expect(() => loadExperiment(dir)).toThrow(ConfigError);
  expect(() => loadExperiment(dir)).toThrow(/: not a file \(--experiment takes a name or a yaml file\)$/);
});

describe('CLI: one line on stderr, exit 2 for usage/config/input errors', () => {
  let experiment: string;
  beforeAll(() => {
    experiment = writeTinyExperiment(dir, { name: 'bad', grid: '  seed: [0]' });
  });

  const oneLineError = (stderr: string, pattern: RegExp): void => {
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^error: /);
    expect(stderr).toMatch(pattern);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  };

  test('--runs-dir pointing at a file', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    const r = await runCli(['ablation', '--experiment', experiment, '--runs-dir', file]);
    expect(r.code).toBe(2);
    oneLineError(r.stderr, /--runs-dir .*a-file: not a directory/);
  });

  test('--experiment pointing at a directory, --tracking-uri notaurl, an unknown option', async () => {
    const runs = path.join(dir, 'runs');
    const a = await runCli(['ablation', '--experiment', dir, '--runs-dir', runs, '--dry-run']);
    expect(a.code).toBe(2);
    oneLineError(a.stderr, /: not a file \(--experiment takes a name or a yaml file\)/);
    const b = await runCli([
      'sync',
      '--experiment',
      experiment,
      '--runs-dir',
      runs,
      '--tracking-uri',
      'notaurl',
    ]);
    expect(b.code).toBe(2);
    oneLineError(b.stderr, /--tracking-uri notaurl: expected an http\(s\) URL/);
    const c = await runCli(['ablation', '--experiment', experiment, '--bogus']);
    expect(c.code).toBe(2);
    oneLineError(c.stderr, /bogus/);
  });

  test('a binary file as --experiment: a short escaped excerpt, never its raw bytes', async () => {
    const file = path.join(dir, 'binary.yaml');
    const bytes = Buffer.alloc(4000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37) % 256;
    Buffer.from('\x7fELF\x1b[31m\x00', 'latin1').copy(bytes);
    fs.writeFileSync(file, bytes);
    const r = await runCli(['ablation', '--experiment', file, '--dry-run']);
    expect(r.code).toBe(2);
    oneLineError(r.stderr, /binary\.yaml: /);
    expect(r.stderr.length).toBeLessThan(400);
    // eslint-disable-next-line no-control-regex
    expect(r.stderr.trimEnd()).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  test('an unquoted {…} override value: the error says how to quote it', async () => {
    const r = await runCli([
      'ablation',
      '--experiment',
      experiment,
      '--dry-run',
      'model.pretrained={weightsRoot}/x',
    ]);
    expect(r.code).toBe(2);
    oneLineError(
      r.stderr,
      /override model\.pretrained=\{weightsRoot\}\/x: expected ":" at character 13; if the value is one string, quote it: model\.pretrained='\{weightsRoot\}\/x' \(in a shell: "model\.pretrained='\{weightsRoot\}\/x'"\)\n?$/,
    );
  });

  test('model.pretrained at a regular file stops before anything is written, like a missing one', async () => {
    const weights = path.join(dir, 'weights.pth');
    fs.writeFileSync(weights, 'not an import folder');
    const runs = path.join(dir, 'runs-pretrained');
    const r = await runCli([
      'ablation',
      '--experiment',
      experiment,
      '--runs-dir',
      runs,
      `model.pretrained=${weights}`,
    ]);
    expect(r.code).toBe(2);
    oneLineError(r.stderr, /model\.pretrained: .*weights\.pth is not a folder .*model:import/);
    expect(fs.existsSync(runs)).toBe(false);
  });

  test('dataset.prepare: {size: "big"} names the field', async () => {
    const file = path.join(dir, 'big.yaml');
    fs.writeFileSync(
      file,
      fs
        .readFileSync(experiment, 'utf8')
        .replace('name: bad', 'name: big')
        .replace('size: 32, maxCategories: 4', 'size: "big"')
        .replace(/dir: .*/, `dir: ${path.join(dir, 'data', 'never')}`),
    );
    const r = await runCli(['ablation', '--experiment', file, '--runs-dir', path.join(dir, 'runs')]);
    expect(r.code).toBe(2);
    oneLineError(
      r.stderr,
      /big\.yaml: base\.dataset\.prepare\.size: expected a positive integer, got "big"\n$/,
    );
  });
});
